/**
 * An in-process store: the reference model for the store contract tests and
 * a test double for the runtime's tests. Not offered as a rules URL: its state
 * would vanish on every restart.
 */
import { decide, type ClientRecord, type GreylistPolicy, type TripletRecord, type Verdict } from '../greylist/machine.js';
import type { Triplet } from '../greylist/triplet.js';
import {
  StoreError,
  type ClientEntry,
  type GreylistStore,
  type ListOptions,
  type ListPage,
  type StoreStats,
  type TripletEntry,
} from './types.js';

/** Keyset paging over a sorted key list. */
function page<T>(keys: string[], options: ListOptions, get: (k: string) => T): ListPage<T> {
  const sorted = keys.sort();
  const after = options.cursor ?? null;
  const start = after === null ? 0 : sorted.findIndex((k) => k > after);
  if (start < 0) return { items: [], cursor: null };
  const chunk = sorted.slice(start, start + Math.max(1, options.limit));
  const more = start + chunk.length < sorted.length;
  return { items: chunk.map(get), cursor: more ? (chunk[chunk.length - 1] ?? null) : null };
}

export class MemoryGreylistStore implements GreylistStore {
  readonly description: string;
  private readonly triplets = new Map<string, TripletEntry>();
  private readonly clients = new Map<string, ClientEntry>();
  private closed = false;

  constructor(description = 'memory:') {
    this.description = description;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError(this.description, 'store is closed');
  }

  async check(triplet: Triplet, policy: GreylistPolicy, now: number): Promise<Verdict> {
    this.assertOpen();
    const t = this.triplets.get(triplet.key);
    const c = this.clients.get(triplet.client);
    const storedTriplet: TripletRecord | null = t ?? null;
    const storedClient: ClientRecord | null = c ?? null;
    const d = decide(policy, now, { triplet: storedTriplet, client: storedClient });
    if (d.triplet) {
      this.triplets.set(triplet.key, {
        key: triplet.key,
        network: triplet.network,
        sender: triplet.sender,
        recipient: triplet.recipient,
        ...d.triplet,
      });
    }
    if (d.client) this.clients.set(triplet.client, { client: triplet.client, ...d.client });
    return d.verdict;
  }

  async purgeExpired(now: number, limit: number): Promise<number> {
    this.assertOpen();
    let deleted = 0;
    for (const map of [this.triplets, this.clients] as const) {
      for (const [key, entry] of map) {
        if (deleted >= limit) return deleted;
        if (entry.expiresAt < now) {
          map.delete(key);
          deleted++;
        }
      }
    }
    return deleted;
  }

  async listTriplets(options: ListOptions): Promise<ListPage<TripletEntry>> {
    this.assertOpen();
    return page([...this.triplets.keys()], options, (k) => this.triplets.get(k) as TripletEntry);
  }

  async listClients(options: ListOptions): Promise<ListPage<ClientEntry>> {
    this.assertOpen();
    return page([...this.clients.keys()], options, (k) => this.clients.get(k) as ClientEntry);
  }

  async deleteTriplet(key: string): Promise<boolean> {
    this.assertOpen();
    return this.triplets.delete(key);
  }

  async deleteClient(client: string): Promise<boolean> {
    this.assertOpen();
    return this.clients.delete(client);
  }

  async stats(now: number): Promise<StoreStats> {
    this.assertOpen();
    let triplets = 0;
    let passedTriplets = 0;
    for (const t of this.triplets.values()) {
      if (t.expiresAt < now) continue;
      triplets++;
      if (t.passed) passedTriplets++;
    }
    let clients = 0;
    for (const c of this.clients.values()) if (c.expiresAt >= now) clients++;
    return { triplets, passedTriplets, clients };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
