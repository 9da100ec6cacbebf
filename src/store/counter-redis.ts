/**
 * The shared counter store: Redis (or Valkey), for several MX hosts. One
 * script per check-and-consume (counter-redis-script.ts), on the server's
 * clock; the connection's failure behaviour is the greylist store's
 * (redis-connection.ts): a check fails within about a second when Redis is
 * down, and the step's `on-error` decides.
 */
import { createHash } from 'node:crypto';
import type { Admission, ConcurrencySpec } from '../limits/concurrency.js';
import type { CountMode, GcraOutcome, RateSpec } from '../limits/gcra.js';
import { CounterStoreError, type CounterEntry, type CounterStore } from './counter-types.js';
import { ADMIT_LUA, RATE_LUA, RELEASE_LUA } from './counter-redis-script.js';
import { RedisConnection, type RedisStoreOptions, type RedisStoreUrl } from './redis-connection.js';
import type { CheckOptions, ListOptions, ListPage } from './types.js';

const sha = (s: string): string => createHash('sha1').update(s).digest('hex');
const SCRIPTS = { rate: RATE_LUA, admit: ADMIT_LUA, release: RELEASE_LUA } as const;
const SHAS = { rate: sha(RATE_LUA), admit: sha(ADMIT_LUA), release: sha(RELEASE_LUA) } as const;

const globEscape = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');

function numbers(reply: unknown, n: number): number[] | null {
  if (!Array.isArray(reply) || reply.length < n) return null;
  const out = reply.slice(0, n).map((v: unknown) => (typeof v === 'number' || typeof v === 'string' ? Number(v) : NaN));
  return out.every(Number.isFinite) ? out : null;
}

export class RedisCounterStore extends RedisConnection implements CounterStore {
  constructor(url: RedisStoreUrl, description: string, options: RedisStoreOptions = {}) {
    super(url, description, options, 'counter store');
  }

  protected error(message: string, cause?: unknown): CounterStoreError {
    return new CounterStoreError(this.description, message, cause === undefined ? undefined : { cause });
  }

  private rateKey(key: string): string {
    return `${this.prefix}r:${key}`;
  }

  private sessionsKey(key: string): string {
    return `${this.prefix}n:${key}`;
  }

  private async script(name: keyof typeof SCRIPTS, key: string, args: readonly string[], options: CheckOptions): Promise<unknown> {
    this.assertOpen();
    try {
      const wait = this.usable(options.onAbort);
      if (wait !== null) await wait;
      try {
        return await this.redis.evalsha(SHAS[name], 1, key, ...args);
      } catch (e) {
        // After a Redis restart (or on first use) the script cache is empty.
        if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
        return await this.redis.eval(SCRIPTS[name], 1, key, ...args);
      }
    } catch (e) {
      throw this.fail(name, e);
    }
  }

  async consume(key: string, spec: RateSpec, cost: number, mode: CountMode, _now: number, options: CheckOptions = {}): Promise<GcraOutcome> {
    const args = [spec.rate, spec.periodMs, spec.burst, Math.ceil(cost)].map((n) => String(Math.trunc(n)));
    const reply = await this.script('rate', this.rateKey(key), [...args, mode === 'strict' ? '1' : '0'], options);
    const r = numbers(reply, 2);
    if (r === null) throw this.error(`consume failed: unexpected script reply ${JSON.stringify(reply)}`);
    const [allowed, value] = r as [number, number];
    return allowed === 1 ? { allowed: true, remaining: value } : { allowed: false, retryAfterMs: value };
  }

  async acquire(key: string, member: string, spec: ConcurrencySpec, _now: number, options: CheckOptions = {}): Promise<Admission> {
    const reply = await this.script('admit', this.sessionsKey(key), [member, String(spec.max), String(Math.trunc(spec.orphanAfterMs))], options);
    const r = numbers(reply, 2);
    if (r === null) throw this.error(`acquire failed: unexpected script reply ${JSON.stringify(reply)}`);
    return { allowed: r[0] === 1, count: r[1] as number };
  }

  async release(key: string, member: string, _now?: number): Promise<void> {
    await this.script('release', this.sessionsKey(key), [member], {});
  }

  /** SCAN over both sorts of key: an admin operation. The cursor is Redis'. */
  async listCounters(options: ListOptions): Promise<ListPage<CounterEntry>> {
    this.assertOpen();
    try {
      await this.usable();
      const [next, keys] = await this.redis.scan(options.cursor ?? '0', 'MATCH', `${globEscape(this.prefix)}[rn]:*`, 'COUNT', Math.max(1, options.limit));
      const items: CounterEntry[] = [];
      for (const k of keys) {
        const sort = k.charAt(this.prefix.length);
        const key = k.slice(this.prefix.length + 2);
        const pttl = await this.redis.pttl(k);
        if (pttl < 0) continue; // gone (or without a TTL: not ours)
        const [sec, micro] = await this.redis.time();
        const now = Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
        if (sort === 'r') {
          const t = await this.redis.hget(k, 't');
          if (t !== null) items.push({ kind: 'rate', key, tatMs: Number(t), expiresAt: now + pttl });
        } else {
          const count = await this.redis.zcount(k, `(${now}`, '+inf');
          items.push({ kind: 'concurrency', key, count, expiresAt: now + pttl });
        }
      }
      return { items, cursor: next === '0' ? null : next };
    } catch (e) {
      throw this.fail('list', e);
    }
  }

  async resetCounter(key: string): Promise<boolean> {
    this.assertOpen();
    try {
      await this.usable();
      return (await this.redis.del(this.rateKey(key), this.sessionsKey(key))) > 0;
    } catch (e) {
      throw this.fail('reset', e);
    }
  }

  /** Redis expires the keys itself (a TTL on every write). */
  async purgeExpired(): Promise<number> {
    this.assertOpen();
    return 0;
  }
}
