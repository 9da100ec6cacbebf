/**
 * The one interface every greylist store implements (SQLite embedded, Redis
 * shared, in-memory for tests). `check` is the whole read-decide-write of
 * src/greylist/machine.ts, done atomically inside the store, so several
 * filter processes sharing a Redis never lose an update.
 */
import type { GreylistPolicy, Verdict } from '../greylist/machine.js';
import type { Triplet } from '../greylist/triplet.js';

export interface TripletEntry {
  readonly key: string;
  readonly network: string;
  readonly sender: string;
  readonly recipient: string;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly passed: boolean;
  readonly expiresAt: number;
}

export interface ClientEntry {
  readonly client: string;
  readonly count: number;
  readonly lastSeen: number;
  readonly expiresAt: number;
}

export interface ListOptions {
  /** Upper bound on entries returned (a page may hold fewer, even when more follow). */
  readonly limit: number;
  /** From a previous page; absent or null for the first page. */
  readonly cursor?: string | null;
}

export interface ListPage<T> {
  readonly items: readonly T[];
  /** Pass back to get the next page; null when there is none. */
  readonly cursor: string | null;
}

export interface StoreStats {
  /** Live triplets (not expired at `now`). */
  readonly triplets: number;
  /** Live triplets that passed greylisting. */
  readonly passedTriplets: number;
  /** Live client auto-whitelist records (whitelisted or still counting). */
  readonly clients: number;
}

/** How a caller bounds a check beyond the store's own timeouts. */
export interface CheckOptions {
  /**
   * Subscribes to the caller's abort (the step's deadline, the session gone);
   * returns an unsubscribe. A store that waits before it can ask (Redis while
   * its connection is being made) stops waiting then.
   */
  readonly onAbort?: (listener: (reason: unknown) => void) => () => void;
}

export interface GreylistStore {
  /** The store's URL with any password hidden, for logs and messages. */
  readonly description: string;
  /** Decide on one triplet at wall time `now` and record it. Rejects on store failure. */
  check(triplet: Triplet, policy: GreylistPolicy, now: number, options?: CheckOptions): Promise<Verdict>;
  /** Delete up to `limit` records expired at `now`; resolves to how many were deleted. */
  purgeExpired(now: number, limit: number): Promise<number>;
  /** Admin: stored triplets (expired ones too, until purged), in no promised order. */
  listTriplets(options: ListOptions): Promise<ListPage<TripletEntry>>;
  /** Admin: stored client auto-whitelist records. */
  listClients(options: ListOptions): Promise<ListPage<ClientEntry>>;
  /** Admin: forget one triplet by its key; true when it existed. */
  deleteTriplet(key: string): Promise<boolean>;
  /** Admin: forget one client's auto-whitelist record; true when it existed. */
  deleteClient(client: string): Promise<boolean>;
  stats(now: number): Promise<StoreStats>;
  /** Release the file or connection. Later calls reject. Idempotent. */
  close(): Promise<void>;
}

/** A store failure, with the store named in the message. */
export class StoreError extends Error {
  constructor(
    readonly store: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`greylist store ${store}: ${message}`, options);
    this.name = 'StoreError';
  }
}
