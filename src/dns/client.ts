/**
 * The DNS client every step shares: a cache in front of a transport, one
 * query in flight per name and type however many sessions ask, and a deadline
 * per caller. A caller past its deadline gets a timeout; the answer, when it
 * comes, still fills the cache for the next one (Haraka's habit: a late answer
 * is ignored, not lost). Events for metrics go to an observer.
 */
import type { Clock } from '../support/clock.js';
import { DnsCache, cacheKey, type Cacheable } from './cache.js';
import type { DnsLookup, DnsOutcome, DnsSource, DnsTransport, RrType } from './types.js';

/** One query in flight, shared by its callers; `abandoned` counts those whose deadline passed. */
interface Flight {
  abandoned: number;
  done: Promise<DnsOutcome>;
}

export const DEFAULT_DEADLINE_MS = 3000;

/** What a lookup did, for counters and latency (names may hold a list's secret key: never log them). */
export interface DnsLookupEvent {
  readonly type: RrType;
  readonly name: string;
  readonly outcome: DnsOutcome['kind'];
  readonly source: DnsSource;
  readonly waitedMs: number;
  /** The caller's deadline passed before the answer. */
  readonly timedOut: boolean;
}

export interface DnsObserver {
  lookup?(event: DnsLookupEvent): void;
  /** A query answered after a caller's deadline; its answer went to the cache only. */
  lateAnswer?(type: RrType, name: string, afterMs: number): void;
}

export interface DnsClientOptions {
  readonly transport: DnsTransport;
  readonly clock: Clock;
  readonly deadlineMs?: number;
  readonly maxCacheEntries?: number;
  readonly observer?: DnsObserver;
}

export interface LookupOptions {
  /** This caller's deadline, from now; the client's default otherwise. */
  readonly deadlineMs?: number;
  /** Ask the resolver even when the cache holds an answer (a list's health probe: the cache would hide a fix for up to its TTL). */
  readonly fresh?: boolean;
}

export interface DnsCounters {
  lookups: number;
  cacheHits: number;
  shared: number;
  queries: number;
  timeouts: number;
  lateAnswers: number;
  errors: number;
}

export class DnsClient {
  readonly counters: DnsCounters = { lookups: 0, cacheHits: 0, shared: 0, queries: 0, timeouts: 0, lateAnswers: 0, errors: 0 };
  private readonly cache: DnsCache;
  private readonly inFlight = new Map<string, Flight>();
  private readonly deadlineMs: number;

  constructor(private readonly options: DnsClientOptions) {
    this.cache = new DnsCache(options.clock, options.maxCacheEntries);
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    if (!(this.deadlineMs > 0)) throw new RangeError(`DnsClient: deadlineMs must be positive, not ${this.deadlineMs}`);
  }

  /** Queries being waited for (shared ones count once). */
  get pending(): number {
    return this.inFlight.size;
  }

  get cached(): number {
    return this.cache.size;
  }

  async lookup<T extends RrType>(name: string, type: T, options: LookupOptions = {}): Promise<DnsLookup<T>> {
    const { clock } = this.options;
    const started = clock.monotonic();
    this.counters.lookups++;
    const hit = options.fresh === true ? undefined : this.cache.get(type, name);
    if (hit !== undefined) {
      this.counters.cacheHits++;
      return this.done(name, type, { ...(hit as DnsOutcome<T>), source: 'cache', waitedMs: 0 }, false);
    }
    const key = cacheKey(type, name);
    let flight = this.inFlight.get(key);
    const source: DnsSource = flight === undefined ? 'network' : 'shared';
    if (flight === undefined) {
      flight = this.query(key, name, type);
      this.inFlight.set(key, flight);
    } else this.counters.shared++;
    const deadlineMs = options.deadlineMs ?? this.deadlineMs;
    const outcome = await raceDeadline(flight.done, clock, deadlineMs);
    const waitedMs = clock.monotonic() - started;
    if (outcome === 'deadline') {
      flight.abandoned++;
      this.counters.timeouts++;
      return this.done(name, type, { kind: 'error', error: 'timeout', code: 'EDEADLINE', source, waitedMs }, true);
    }
    return this.done(name, type, { ...(outcome as DnsOutcome<T>), source, waitedMs }, false);
  }

  /** mailauth's `resolver(name, rrtype)`: records, or a thrown error with node:dns's code. */
  mailauthResolver(options: LookupOptions = {}): (name: string, rrtype: string) => Promise<unknown> {
    return async (name, rrtype) => {
      if (!isRrType(rrtype)) throw Object.assign(new Error(`query type ${rrtype} not supported`), { code: 'ENOTIMP' });
      const r = await this.lookup(name, rrtype, options);
      switch (r.kind) {
        case 'answer':
          return r.records;
        case 'nxdomain':
          throw Object.assign(new Error(`queryDnsName ENOTFOUND ${name}`), { code: 'ENOTFOUND', hostname: name });
        case 'nodata':
          throw Object.assign(new Error(`queryDnsName ENODATA ${name}`), { code: 'ENODATA', hostname: name });
        case 'error':
          throw Object.assign(new Error(`query ${r.code} ${name}`), { code: nodeCodeOf(r), hostname: name });
      }
    };
  }

  clearCache(): void {
    this.cache.clear();
  }

  private query(key: string, name: string, type: RrType): Flight {
    this.counters.queries++;
    const started = this.options.clock.monotonic();
    const flight: Flight = { abandoned: 0, done: Promise.resolve({ kind: 'nodata' }) };
    flight.done = this.options.transport
      .query(name, type)
      // A transport must not reject; one that does is a bug, answered as an error, not a crash.
      .catch((e: unknown): DnsOutcome => ({ kind: 'error', error: 'other', code: e instanceof Error ? e.message : String(e) }))
      .then((outcome) => {
        this.inFlight.delete(key);
        if (outcome.kind !== 'error') this.cache.set(type, name, outcome as Cacheable);
        if (flight.abandoned > 0) {
          this.counters.lateAnswers++;
          this.options.observer?.lateAnswer?.(type, name, this.options.clock.monotonic() - started);
        }
        return outcome;
      });
    return flight;
  }

  private done<T extends RrType>(name: string, type: T, lookup: DnsLookup<T>, timedOut: boolean): DnsLookup<T> {
    if (lookup.kind === 'error') this.counters.errors++;
    this.options.observer?.lookup?.({ type, name, outcome: lookup.kind, source: lookup.source, waitedMs: lookup.waitedMs, timedOut });
    return lookup;
  }
}

function raceDeadline<T>(work: Promise<T>, clock: Clock, ms: number): Promise<T | 'deadline'> {
  return new Promise((resolve) => {
    const timer = clock.setTimer(ms, () => resolve('deadline'));
    void work.then((v) => {
      timer.cancel();
      resolve(v);
    });
  });
}

function isRrType(t: string): t is RrType {
  return t === 'A' || t === 'AAAA' || t === 'TXT' || t === 'MX' || t === 'PTR';
}

/** The code mailauth switches on (ETIMEOUT → temperror and so on). */
function nodeCodeOf(r: { readonly error: string; readonly code: string }): string {
  if (r.code.startsWith('E') && r.code !== 'EDEADLINE') return r.code;
  return r.error === 'timeout' ? 'ETIMEOUT' : 'ESERVFAIL';
}

