/**
 * The shared store: Redis (or Valkey), for several MX hosts that each run
 * their own filter process. One Lua script per decision keeps it atomic.
 *
 * Failure behaviour is the point of the options below: when Redis is down or
 * hung, a check must fail within about a second (the runtime then applies the
 * step's `on-error`), never queue up behind a dead connection, and the
 * connection must come back by itself when Redis does. While a connection is
 * being made (at start, after a clean close) and nothing has failed yet, a
 * check waits for it instead, in a small bounded list (connection-gate.ts).
 * And a reply is never buffered past `maxReplyBytes` (resp-meter.ts): a
 * hostile or broken server cannot make the filter hold gigabytes.
 */
import { createHash } from 'node:crypto';
import { AUTO_WHITELIST_COUNT_INTERVAL_MS, type GreylistPolicy, type Verdict } from '../greylist/machine.js';
import type { Triplet } from '../greylist/triplet.js';
import { RedisConnection, type RedisStoreOptions, type RedisStoreUrl } from './redis-connection.js';
import { GREYLIST_LUA } from './redis-script.js';
import {
  StoreError,
  type CheckOptions,
  type ClientEntry,
  type GreylistStore,
  type ListOptions,
  type ListPage,
  type StoreStats,
  type TripletEntry,
} from './types.js';

export { DEFAULT_MAX_REPLY_BYTES, type RedisStoreOptions, type RedisStoreUrl } from './redis-connection.js';

const LUA_SHA = createHash('sha1').update(GREYLIST_LUA).digest('hex');

/** Escape glob metacharacters for SCAN MATCH. */
const globEscape = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');

const int = (v: string | null | undefined): number => (v === null || v === undefined ? NaN : Number(v));

function asStrings(reply: unknown): string[] | null {
  if (!Array.isArray(reply)) return null;
  const out: string[] = [];
  for (const item of reply) {
    if (typeof item === 'string') out.push(item);
    else if (typeof item === 'number') out.push(String(item));
    else return null;
  }
  return out;
}

/** Turn the script's reply into a Verdict; null when it is not one. */
export function parseScriptReply(reply: unknown): Verdict | null {
  const r = asStrings(reply);
  if (!r) return null;
  const [tag, a, b, c] = r;
  switch (tag) {
    case 'awl': {
      const clientCount = int(a);
      return Number.isFinite(clientCount) ? { action: 'pass', reason: 'auto-whitelist', clientCount } : null;
    }
    case 'greylist': {
      const retryInMs = int(b);
      const firstSeen = int(c);
      if ((a !== 'new' && a !== 'early-retry') || !Number.isFinite(retryInMs) || !Number.isFinite(firstSeen)) return null;
      return { action: 'greylist', reason: a, retryInMs, firstSeen };
    }
    case 'delayed': {
      const delayedMs = int(a);
      if (!Number.isFinite(delayedMs)) return null;
      return { action: 'pass', reason: 'delayed', delayedMs, clientCount: b === undefined || b === '' ? null : int(b) };
    }
    case 'known':
      return { action: 'pass', reason: 'known' };
    default:
      return null;
  }
}

export class RedisGreylistStore extends RedisConnection implements GreylistStore {
  constructor(url: RedisStoreUrl, description: string, options: RedisStoreOptions = {}) {
    super(url, description, options, 'greylist store');
  }

  protected error(message: string, cause?: unknown): StoreError {
    return new StoreError(this.description, message, cause === undefined ? undefined : { cause });
  }

  private tripletKey(key: string): string {
    return `${this.prefix}t:${key}`;
  }

  private clientKey(client: string): string {
    return `${this.prefix}c:${client}`;
  }

  async check(triplet: Triplet, policy: GreylistPolicy, now: number, options: CheckOptions = {}): Promise<Verdict> {
    this.assertOpen();
    const keys = [this.tripletKey(triplet.key), this.clientKey(triplet.client)];
    const args = [
      now,
      policy.delayMs,
      policy.retryWindowMs,
      policy.maxAgeMs,
      policy.autoWhitelistAfter,
      AUTO_WHITELIST_COUNT_INTERVAL_MS,
    ].map((n) => String(Math.trunc(n)));
    args.push(triplet.network, triplet.sender, triplet.recipient);
    let reply: unknown;
    try {
      const wait = this.usable(options.onAbort);
      if (wait !== null) await wait;
      try {
        reply = await this.redis.evalsha(LUA_SHA, 2, ...keys, ...args);
      } catch (e) {
        // After a Redis restart (or on first use) the script cache is empty.
        if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
        reply = await this.redis.eval(GREYLIST_LUA, 2, ...keys, ...args);
      }
    } catch (e) {
      throw this.fail('check', e);
    }
    const verdict = parseScriptReply(reply);
    if (!verdict) throw new StoreError(this.description, `check failed: unexpected script reply ${JSON.stringify(reply)}`);
    return verdict;
  }

  /** Redis expires keys itself (PEXPIRE on every write), so there is nothing to purge. */
  async purgeExpired(): Promise<number> {
    this.assertOpen();
    return 0;
  }

  private async scanPage(kind: 't' | 'c', options: ListOptions): Promise<{ keys: string[]; cursor: string | null }> {
    const [next, keys] = await this.redis.scan(
      options.cursor ?? '0',
      'MATCH',
      `${globEscape(this.prefix)}${kind}:*`,
      'COUNT',
      Math.max(1, options.limit),
    );
    return { keys, cursor: next === '0' ? null : next };
  }

  private async hashes(keys: readonly string[]): Promise<Array<Record<string, string> | null>> {
    if (keys.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const k of keys) pipeline.hgetall(k);
    const results = (await pipeline.exec()) ?? [];
    return results.map(([e, v]) => {
      if (e) throw e;
      const h = v as Record<string, string>;
      return Object.keys(h).length === 0 ? null : h;
    });
  }

  async listTriplets(options: ListOptions): Promise<ListPage<TripletEntry>> {
    this.assertOpen();
    try {
      await this.usable();
      const { keys, cursor } = await this.scanPage('t', options);
      const hashes = await this.hashes(keys);
      const items: TripletEntry[] = [];
      keys.forEach((k, i) => {
        const h = hashes[i];
        if (!h) return; // expired between SCAN and HGETALL
        items.push({
          key: k.slice(this.prefix.length + 2),
          network: h.net ?? '',
          sender: h.s ?? '',
          recipient: h.r ?? '',
          firstSeen: int(h.f),
          lastSeen: int(h.l),
          passed: h.p === '1',
          expiresAt: int(h.e),
        });
      });
      return { items, cursor };
    } catch (e) {
      throw this.fail('list', e);
    }
  }

  async listClients(options: ListOptions): Promise<ListPage<ClientEntry>> {
    this.assertOpen();
    try {
      await this.usable();
      const { keys, cursor } = await this.scanPage('c', options);
      const hashes = await this.hashes(keys);
      const items: ClientEntry[] = [];
      keys.forEach((k, i) => {
        const h = hashes[i];
        if (!h) return;
        items.push({ client: k.slice(this.prefix.length + 2), count: int(h.n), lastSeen: int(h.l), expiresAt: int(h.e) });
      });
      return { items, cursor };
    } catch (e) {
      throw this.fail('list', e);
    }
  }

  async deleteTriplet(key: string): Promise<boolean> {
    this.assertOpen();
    try {
      await this.usable();
      return (await this.redis.del(this.tripletKey(key))) > 0;
    } catch (e) {
      throw this.fail('delete', e);
    }
  }

  async deleteClient(client: string): Promise<boolean> {
    this.assertOpen();
    try {
      await this.usable();
      return (await this.redis.del(this.clientKey(client))) > 0;
    } catch (e) {
      throw this.fail('delete', e);
    }
  }

  /** Walks every key with SCAN: an admin operation, not for the mail path. */
  async stats(now: number): Promise<StoreStats> {
    this.assertOpen();
    try {
      let triplets = 0;
      let passedTriplets = 0;
      let clients = 0;
      let cursor: string | null = '0';
      do {
        const page: ListPage<TripletEntry> = await this.listTriplets({ limit: 500, cursor });
        for (const t of page.items) {
          if (t.expiresAt < now) continue;
          triplets++;
          if (t.passed) passedTriplets++;
        }
        cursor = page.cursor;
      } while (cursor !== null);
      cursor = '0';
      do {
        const page: ListPage<ClientEntry> = await this.listClients({ limit: 500, cursor });
        for (const c of page.items) if (c.expiresAt >= now) clients++;
        cursor = page.cursor;
      } while (cursor !== null);
      return { triplets, passedTriplets, clients };
    } catch (e) {
      throw this.fail('stats', e);
    }
  }

}

export function openRedisStore(url: RedisStoreUrl, description: string, options: RedisStoreOptions = {}): RedisGreylistStore {
  return new RedisGreylistStore(url, description, options);
}