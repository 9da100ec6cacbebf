/**
 * Answers kept by their TTL, clamped to [60 s, 1 h]: a list's 10 s TTL would
 * send every session to the resolver, and a day-long one would keep a
 * delisted address refused. NXDOMAIN and NODATA are cached too (a DNS list's
 * usual answer is "not listed"); errors never are, so a resolver that comes
 * back is used at once. lru-cache bounds the entries; expiry is ours, on the
 * injected clock, so tests move time instead of waiting.
 */
import { LRUCache } from 'lru-cache';
import type { Clock } from '../support/clock.js';
import type { DnsOutcome, RrType } from './types.js';

export const MIN_TTL_SECONDS = 60;
export const MAX_TTL_SECONDS = 3600;
/** When the transport cannot tell (node:dns has TTLs for A and AAAA only). */
export const UNKNOWN_TTL_SECONDS = 300;
/** Negative answers: node:dns does not give the SOA's negative TTL (RFC 2308), so the floor. */
export const NEGATIVE_TTL_SECONDS = MIN_TTL_SECONDS;
export const DEFAULT_CACHE_ENTRIES = 100_000;

export type Cacheable = Exclude<DnsOutcome, { kind: 'error' }>;

interface Entry {
  readonly outcome: Cacheable;
  readonly expiresAt: number;
}

export function cacheTtlSeconds(outcome: Cacheable): number {
  const ttl = outcome.kind === 'answer' ? (outcome.ttlSeconds ?? UNKNOWN_TTL_SECONDS) : NEGATIVE_TTL_SECONDS;
  return Math.min(MAX_TTL_SECONDS, Math.max(MIN_TTL_SECONDS, ttl));
}

export class DnsCache {
  private readonly entries: LRUCache<string, Entry>;

  constructor(
    private readonly clock: Clock,
    maxEntries = DEFAULT_CACHE_ENTRIES,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`DnsCache: maxEntries must be a positive integer, not ${maxEntries}`);
    this.entries = new LRUCache<string, Entry>({ max: maxEntries });
  }

  get size(): number {
    return this.entries.size;
  }

  get(type: RrType, name: string): Cacheable | undefined {
    const key = cacheKey(type, name);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (this.clock.monotonic() >= entry.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.outcome;
  }

  set(type: RrType, name: string, outcome: Cacheable): void {
    this.entries.set(cacheKey(type, name), { outcome, expiresAt: this.clock.monotonic() + cacheTtlSeconds(outcome) * 1000 });
  }

  clear(): void {
    this.entries.clear();
  }
}

/** DNS names are case-insensitive, and a trailing dot names the same node. */
export function cacheKey(type: RrType, name: string): string {
  return `${type} ${name.toLowerCase().replace(/\.$/, '')}`;
}
