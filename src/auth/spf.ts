/**
 * One SPF check (RFC 7208 check_host()) through mailauth, on a resolver we
 * give it: the shared DnsClient with one deadline for the whole check, so a
 * check never outlasts its step however many lookups the records ask for.
 *
 * mailauth 4.13.3 keeps RFC 7208 §4.6.4's limits (10 lookups across includes
 * and redirects, 10 addresses per `mx`, 2 void lookups: the oracle tests hold
 * it to pyspf and Mail::SPF on real zones). What it gets wrong is corrected
 * here, at the resolver: an error other than a timeout or REFUSED (SERVFAIL,
 * an unreachable resolver) inside an `include` or a `redirect` is swallowed
 * and the evaluation goes on as if the term did not match; we mark every
 * such error as temperror (§5.2, §6.1), which mailauth then passes up.
 */
import { spf as mailauthSpf } from 'mailauth/lib/spf/index.js';
import { isSpfResult, type SpfResult } from '../model/auth.js';

/** mailauth's resolver hook: records, or a thrown error with node:dns's `code`. */
export type SpfResolver = (name: string, rrtype: string) => Promise<unknown>;

export interface SpfQuery {
  /** The client address, IPv4 or IPv6 (IPv4-mapped IPv6 is checked as IPv4). */
  readonly ip: string;
  /** The identity's domain part comes from here: `user@example.com`, or `postmaster@HELO`. */
  readonly sender: string;
  /** The HELO name, for the `%{h}` macro. */
  readonly helo: string;
}

export interface SpfVerdict {
  readonly result: SpfResult;
  /** The domain checked. */
  readonly domain: string;
  /** Why, in mailauth's words (the Received-SPF comment). */
  readonly reason: string;
  /** DNS-querying terms evaluated (the RFC's limit is 10), and void lookups (limit 2). */
  readonly lookups: number;
  readonly voidLookups: number;
}

/** What a DNS error becomes: void lookups stay void; anything else a temporary error (RFC 7208 §5.2). */
const VOID_CODES = new Set(['ENOTFOUND', 'ENODATA']);

function temporary(resolver: SpfResolver): SpfResolver {
  return async (name, rrtype) => {
    try {
      return await resolver(name, rrtype);
    } catch (e) {
      const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : '';
      if (VOID_CODES.has(code) || (typeof e === 'object' && e !== null && 'spfResult' in e)) throw e;
      throw Object.assign(e instanceof Error ? e : new Error(String(e)), { spfResult: { error: 'temperror', text: `DNS error (${code || 'unknown'}) when resolving ${name}` } });
    }
  };
}

/** The domain an identity is checked for: the part after the last `@`. */
export function spfDomain(sender: string): string {
  return sender.slice(sender.lastIndexOf('@') + 1).toLowerCase();
}

export async function checkSpf(query: SpfQuery, options: { readonly resolver: SpfResolver; readonly hostname: string }): Promise<SpfVerdict> {
  const r = await mailauthSpf({ ip: query.ip, sender: query.sender, helo: query.helo, mta: options.hostname, resolver: temporary(options.resolver) } as Parameters<typeof mailauthSpf>[0]);
  const word = r.status.result;
  const lookups = (r as { lookups?: { count?: number; void?: number } }).lookups;
  return {
    // A word of mailauth's we do not know is its bug, not the sender's: a temporary error.
    result: isSpfResult(word) ? word : 'temperror',
    domain: r.domain,
    reason: typeof r.status.comment === 'string' ? r.status.comment : '',
    lookups: lookups?.count ?? 0,
    voidLookups: lookups?.void ?? 0,
  };
}
