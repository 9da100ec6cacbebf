/**
 * What a DNS lookup can come back with, as values: records with their TTL, a
 * name or type that does not exist (both cacheable), or an error of a kind.
 * Generic on purpose: the DNS lists (issue 12) and the SPF/DKIM/DMARC steps
 * (issue 14, through mailauth's resolver hook) share one client.
 */

/** The record types the filter asks for. */
export type RrType = 'A' | 'AAAA' | 'TXT' | 'MX' | 'PTR';

export const RR_TYPES: readonly RrType[] = ['A', 'AAAA', 'TXT', 'MX', 'PTR'];

export interface MxRecord {
  readonly exchange: string;
  readonly priority: number;
}

/** The records of each type, shaped as node:dns (and so mailauth) gives them. */
export interface RecordsOf {
  A: readonly string[];
  AAAA: readonly string[];
  /** Each record is its character-strings, unjoined (RFC 7208 §3.3 joins them). */
  TXT: readonly (readonly string[])[];
  MX: readonly MxRecord[];
  PTR: readonly string[];
}

/**
 * Why a lookup failed. None of these is an answer, and none is cached:
 * - `timeout`: our deadline passed, or the resolver gave up (ETIMEOUT);
 * - `servfail`, `refused`: the server's RCODE;
 * - `unreachable`: no server answered the socket (ECONNREFUSED);
 * - `malformed`: an answer we cannot read (FORMERR, BADRESP, a bad name);
 * - `other`: anything else the resolver reports.
 */
export type DnsErrorKind = 'timeout' | 'servfail' | 'refused' | 'unreachable' | 'malformed' | 'other';

export const DNS_ERROR_KINDS: readonly DnsErrorKind[] = ['timeout', 'servfail', 'refused', 'unreachable', 'malformed', 'other'];

export type DnsOutcome<T extends RrType = RrType> =
  /** `ttlSeconds` is undefined when the transport cannot tell (node:dns gives TTLs for A and AAAA only). */
  | { readonly kind: 'answer'; readonly records: RecordsOf[T]; readonly ttlSeconds: number | undefined }
  /** NXDOMAIN: the name does not exist. For a DNS list, "not listed". */
  | { readonly kind: 'nxdomain' }
  /** The name exists, without records of this type. */
  | { readonly kind: 'nodata' }
  | { readonly kind: 'error'; readonly error: DnsErrorKind; readonly code: string };

/** Where an outcome came from: the cache, a query of our own, or one another caller had in flight. */
export type DnsSource = 'cache' | 'network' | 'shared';

/** What a caller of the client gets: the outcome, where it came from, and how long the caller waited. */
export type DnsLookup<T extends RrType = RrType> = DnsOutcome<T> & { readonly source: DnsSource; readonly waitedMs: number };

/** The edge: one query to a resolver. Never rejects (errors are outcomes). */
export interface DnsTransport {
  query<T extends RrType>(name: string, type: T): Promise<DnsOutcome<T>>;
}
