/**
 * Identifier alignment (RFC 7489 §3.1): does a domain that authenticated
 * (SPF's MAIL FROM domain, a DKIM signature's d=) stand for the From
 * domain? Strict (`s`): the same name. Relaxed (`r`): the same
 * organizational domain. Pure.
 *
 * mailauth 4.13.3 treats strict as relaxed (its getAlignment is given an
 * object for `strict`, always truthy, and falls through to the relaxed test
 * when the strict one fails): `adkim=s` with d=mail.example.com aligns with
 * From: example.com there. Not here: the tests hold both readings.
 */
import type { AlignmentMode } from './record.js';
import { normalDomain, organizationalDomain } from './org-domain.js';

export function aligned(fromDomain: string, authDomain: string, mode: AlignmentMode): boolean {
  const from = normalDomain(fromDomain);
  const auth = normalDomain(authDomain);
  if (from === '' || auth === '') return false;
  if (mode === 's') return from === auth;
  return organizationalDomain(from) === organizationalDomain(auth);
}

/** The first of `authDomains` that aligns, or null. */
export function firstAligned(fromDomain: string, authDomains: readonly string[], mode: AlignmentMode): string | null {
  return authDomains.find((d) => aligned(fromDomain, d, mode)) ?? null;
}
