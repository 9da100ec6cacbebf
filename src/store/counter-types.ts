/**
 * The interface every counter store implements (memory, SQLite, Redis),
 * beside the greylist store's (types.ts). Each call is one atomic
 * check-and-write inside the store, running limits/' pure cores (GCRA,
 * concurrency), so filters sharing a Redis never lose a count.
 *
 * `now` is the filter's clock; the Redis store ignores it and reads the
 * server's clock (TIME), so MX hosts with skewed clocks agree.
 */
import type { Admission, ConcurrencySpec } from '../limits/concurrency.js';
import type { CountMode, GcraOutcome, RateSpec } from '../limits/gcra.js';
import type { CheckOptions, ListOptions, ListPage } from './types.js';

export type CounterEntry =
  | {
      readonly kind: 'rate';
      readonly key: string;
      /** When the bucket is full again (the theoretical arrival time, whole ms). */
      readonly tatMs: number;
      readonly expiresAt: number;
    }
  | {
      readonly kind: 'concurrency';
      readonly key: string;
      /** Sessions open (live members). */
      readonly count: number;
      readonly expiresAt: number;
    };

export interface CounterStore {
  /** The store's URL with any password hidden. */
  readonly description: string;
  /** GCRA on `key`: check one event of `cost` and consume it if allowed (or, strict, when refused). Rejects on store failure. */
  consume(key: string, spec: RateSpec, cost: number, mode: CountMode, now: number, options?: CheckOptions): Promise<GcraOutcome>;
  /** Admit session `member` into `key` if fewer than `spec.max` are open. */
  acquire(key: string, member: string, spec: ConcurrencySpec, now: number, options?: CheckOptions): Promise<Admission>;
  /** Session `member` of `key` ended (a second release changes nothing). */
  release(key: string, member: string, now: number): Promise<void>;
  /** Admin: the stored counters, in no promised order. */
  listCounters(options: ListOptions): Promise<ListPage<CounterEntry>>;
  /** Admin: forget `key` (its rate and its sessions); true when something was stored. */
  resetCounter(key: string): Promise<boolean>;
  /** Delete up to `limit` expired records; how many were deleted. */
  purgeExpired(now: number, limit: number): Promise<number>;
  close(): Promise<void>;
}

/** A counter store failure, with the store named in the message. */
export class CounterStoreError extends Error {
  constructor(
    readonly store: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`counter store ${store}: ${message}`, options);
    this.name = 'CounterStoreError';
  }
}
