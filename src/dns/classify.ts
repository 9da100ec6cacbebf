/**
 * A DNS list's answer, read as one of three results: listed (with the
 * addresses and named codes that matched), clear, or an error of a kind.
 * Errors are never listings (RFC 5782 §2.1, and hard experience: treating
 * Spamhaus's 127.255.255.254 "public resolver" answer as a listing has bounced
 * all incoming mail at several sites):
 *
 * - an answer outside 127.0.0.0/8;
 * - anything in 127.255.255.0/24 (Spamhaus: .252 mistyped list, .254 public or
 *   open resolver, .255 over the free-use limit);
 * - 127.0.0.255 (list.dnswl.org: over quota), from every list;
 * - 127.0.1.255 from a domain list (Spamhaus DBL: an IP address was asked);
 * - timeout, SERVFAIL, REFUSED and the other failures of the lookup.
 */
import { filterMatches, type AddressFilter, type NamedCode } from './sites.js';
import type { DnsErrorKind, DnsOutcome } from './types.js';

/** What a list holds: client addresses (DNSBL/DNSWL) or domains (RHSBL). */
export type ListKind = 'address' | 'domain';

/** A lookup's failure, or an answer that is the list refusing to answer. */
export type ListErrorKind = DnsErrorKind | 'not-loopback' | 'list-refused';

export type ListVerdict =
  | { readonly status: 'listed'; readonly addresses: readonly string[]; readonly codes: readonly string[] }
  | { readonly status: 'clear' }
  | { readonly status: 'error'; readonly error: ListErrorKind; readonly detail: string };

export interface ListReading {
  readonly kind: ListKind;
  /** Only answers that pass count; null: any answer that is no error. */
  readonly filter: AddressFilter | null;
  readonly codes: readonly NamedCode[];
}

export function classify(outcome: DnsOutcome<'A'>, list: ListReading): ListVerdict {
  switch (outcome.kind) {
    case 'nxdomain':
    case 'nodata':
      return CLEAR;
    case 'error':
      return { status: 'error', error: outcome.error, detail: outcome.code };
    case 'answer':
      return classifyAddresses(outcome.records, list);
  }
}

const CLEAR: ListVerdict = { status: 'clear' };

export function classifyAddresses(records: readonly string[], list: ListReading): ListVerdict {
  let firstError: ListVerdict | null = null;
  const listed: string[] = [];
  for (const address of records) {
    const refusal = errorAnswer(address, list.kind);
    if (refusal !== null) {
      firstError ??= refusal;
      continue;
    }
    if (list.filter === null || filterMatches(list.filter, address)) listed.push(address);
  }
  if (listed.length > 0) {
    const codes = list.codes.filter((c) => listed.some((a) => filterMatches(c.filter, a))).map((c) => c.name);
    return { status: 'listed', addresses: listed, codes };
  }
  return firstError ?? CLEAR;
}

/** The error an answer stands for, or null for an answer that may be a listing. */
export function errorAnswer(address: string, kind: ListKind): ListVerdict | null {
  const o = address.split('.').map(Number);
  if (o.length !== 4 || o.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return { status: 'error', error: 'malformed', detail: address };
  if (o[0] !== 127) return { status: 'error', error: 'not-loopback', detail: address };
  if (o[1] === 255 && o[2] === 255) return { status: 'error', error: 'list-refused', detail: address };
  if (o[1] === 0 && o[2] === 0 && o[3] === 255) return { status: 'error', error: 'list-refused', detail: address };
  if (kind === 'domain' && o[1] === 0 && o[2] === 1 && o[3] === 255) return { status: 'error', error: 'list-refused', detail: address };
  return null;
}

/** What probably went wrong, for the one warning a list's change of health logs. */
export function likelyCause(error: ListErrorKind, detail: string): string {
  switch (error) {
    case 'list-refused':
      switch (detail) {
        case '127.255.255.252':
          return 'the list says its name is mistyped';
        case '127.255.255.254':
          return 'the list refuses queries from a public or open resolver: use a local resolver (unbound)';
        case '127.255.255.255':
          return "over the list's free-use query limit";
        case '127.0.0.255':
          return "over the list's query quota (dnswl.org)";
        case '127.0.1.255':
          return 'an IP address was asked of a domain list';
        default:
          return `the list refuses to answer (${detail})`;
      }
    case 'not-loopback':
      return 'answers outside 127.0.0.0/8: a resolver that rewrites NXDOMAIN, or a zone that is no DNS list';
    case 'timeout':
      return 'the resolver does not answer in time';
    case 'unreachable':
      return 'no resolver listens at the address';
    case 'refused':
      return 'the resolver refuses the query (is this host allowed to use it?)';
    case 'servfail':
      return "the list's servers fail, or the resolver cannot reach them";
    case 'malformed':
      return 'answers that cannot be read';
    case 'other':
      return `the lookup failed (${detail})`;
  }
}
