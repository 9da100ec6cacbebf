/**
 * The DMARC result of a message, from what was already checked (RFC 7489
 * §6.6.2, §4.2): pass when an SPF pass or a DKIM pass is for a domain that
 * aligns with the From domain in the record's mode, fail otherwise; and the
 * policy that applies to a failure (`sp` when the record is the
 * organizational domain's, `p` otherwise). Pure.
 */
import { firstAligned } from './alignment.js';
import type { DmarcLookup } from './lookup.js';
import type { DmarcPolicy } from './record.js';

export interface Authenticated {
  /** The MAIL FROM domain when SPF said pass; null otherwise. */
  readonly spfPass: string | null;
  /** The d= of each DKIM signature that verified. */
  readonly dkimPass: readonly string[];
}

export type DmarcVerdict =
  | { readonly result: 'pass'; readonly policy: DmarcPolicy; readonly alignedBy: 'dkim' | 'spf'; readonly domain: string }
  | { readonly result: 'fail'; readonly policy: DmarcPolicy }
  | { readonly result: 'none' | 'temperror'; readonly reason: string };

export function evaluateDmarc(fromDomain: string, lookup: DmarcLookup, auth: Authenticated): DmarcVerdict {
  if (lookup.kind !== 'record') return { result: lookup.kind, reason: lookup.reason };
  const { record } = lookup;
  const policy = lookup.forOrganization ? record.sp : record.p;
  const dkim = firstAligned(fromDomain, auth.dkimPass, record.adkim);
  if (dkim !== null) return { result: 'pass', policy, alignedBy: 'dkim', domain: dkim };
  const spf = auth.spfPass === null ? null : firstAligned(fromDomain, [auth.spfPass], record.aspf);
  if (spf !== null) return { result: 'pass', policy, alignedBy: 'spf', domain: spf };
  return { result: 'fail', policy };
}
