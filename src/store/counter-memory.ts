/**
 * The counter store of one host: in process memory, bounded. lru-cache
 * holds at most `maxEntries` keys of each sort; a flood over many keys
 * evicts the least recently used ones, which forgets their counts (the
 * limit lets such a key start afresh) but never grows the filter's memory.
 * The counts survive reloads (the service keeps the store), not restarts.
 */
import { LRUCache } from 'lru-cache';
import { admit, live, release, type Admission, type ConcurrencySpec, type Member } from '../limits/concurrency.js';
import { consume, type CountMode, type GcraOutcome, type GcraState, type RateSpec } from '../limits/gcra.js';
import { CounterStoreError, type CounterEntry, type CounterStore } from './counter-types.js';
import type { ListOptions, ListPage } from './types.js';

export const DEFAULT_MEMORY_ENTRIES = 100_000;

interface RateRecord {
  readonly state: GcraState;
  readonly expiresAt: number;
}

export class MemoryCounterStore implements CounterStore {
  readonly description: string;
  private readonly rates: LRUCache<string, RateRecord>;
  private readonly sessions: LRUCache<string, Member[]>;
  private closed = false;

  constructor(maxEntries = DEFAULT_MEMORY_ENTRIES, description = 'memory:') {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`MemoryCounterStore: maxEntries must be a whole number ≥ 1, got ${maxEntries}`);
    this.description = description;
    this.rates = new LRUCache({ max: maxEntries });
    this.sessions = new LRUCache({ max: maxEntries });
  }

  /** Keys held, of both sorts (tests: the bound). */
  get size(): number {
    return this.rates.size + this.sessions.size;
  }

  private assertOpen(): void {
    if (this.closed) throw new CounterStoreError(this.description, 'store is closed');
  }

  async consume(key: string, spec: RateSpec, cost: number, mode: CountMode, now: number): Promise<GcraOutcome> {
    this.assertOpen();
    const stored = this.rates.get(key);
    const step = consume(spec, stored !== undefined && stored.expiresAt > now ? stored.state : null, now, cost, mode);
    if (step.write) this.rates.set(key, { state: step.write, expiresAt: step.expiresAt });
    return step.outcome;
  }

  async acquire(key: string, member: string, spec: ConcurrencySpec, now: number): Promise<Admission> {
    this.assertOpen();
    const r = admit(spec, this.sessions.get(key) ?? [], member, now);
    this.keepSessions(key, r.members);
    return r.admission;
  }

  async release(key: string, member: string, now: number): Promise<void> {
    this.assertOpen();
    const members = this.sessions.peek(key);
    if (members !== undefined) this.keepSessions(key, release(members, member, now));
  }

  private keepSessions(key: string, members: Member[]): void {
    if (members.length === 0) this.sessions.delete(key);
    else this.sessions.set(key, members);
  }

  async listCounters(options: ListOptions): Promise<ListPage<CounterEntry>> {
    this.assertOpen();
    const all: CounterEntry[] = [];
    for (const [key, r] of this.rates.entries()) all.push({ kind: 'rate', key, tatMs: r.state.tatMs, expiresAt: r.expiresAt });
    for (const [key, m] of this.sessions.entries()) {
      all.push({ kind: 'concurrency', key, count: m.length, expiresAt: Math.max(...m.map((x) => x.expiresAt)) });
    }
    all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.kind < b.kind ? -1 : 1));
    const start = options.cursor === undefined || options.cursor === null ? 0 : Number(options.cursor);
    const items = all.slice(start, start + Math.max(1, options.limit));
    const next = start + items.length;
    return { items, cursor: next < all.length ? String(next) : null };
  }

  async resetCounter(key: string): Promise<boolean> {
    this.assertOpen();
    const a = this.rates.delete(key);
    const b = this.sessions.delete(key);
    return a || b;
  }

  async purgeExpired(now: number, limit: number): Promise<number> {
    this.assertOpen();
    let deleted = 0;
    for (const [key, r] of this.rates.entries()) {
      if (deleted >= limit) return deleted;
      if (r.expiresAt <= now) {
        this.rates.delete(key);
        deleted++;
      }
    }
    for (const [key, m] of this.sessions.entries()) {
      if (deleted >= limit) return deleted;
      if (live(m, now).length === 0) {
        this.sessions.delete(key);
        deleted++;
      }
    }
    return deleted;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
