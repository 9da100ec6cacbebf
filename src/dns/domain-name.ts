/**
 * The name a domain list (RHSBL, RFC 5782 §2.3) is asked for: a HELO name, an
 * rDNS name or a sender's domain, checked and made a DNS name first. Address
 * literals, bare IPs, smtpd's `<unknown>` and malformed names are not looked up
 * (a list says nothing about them, and a query for garbage leaks it to the
 * list's operator); names are lower-cased and IDNA-encoded.
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

export type DomainQuery = { readonly ok: true; readonly name: string } | { readonly ok: false; readonly skipped: DomainSkip };

/** Why a name is not looked up (for the decision log: `"skipped":"address-literal"`). */
export type DomainSkip = 'empty' | 'unknown' | 'address-literal' | 'bare-ip' | 'malformed' | 'too-long';

/** A DNS name is at most 253 characters written without the final dot (RFC 1035 §2.3.4). */
export const MAX_NAME_LENGTH = 253;
const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

export function domainQuery(raw: string): DomainQuery {
  const text = raw.trim();
  if (text === '') return skip('empty');
  if (text === '<unknown>' || text.toLowerCase() === 'unknown') return skip('unknown');
  if (text.startsWith('[')) return skip('address-literal');
  if (isIP(text) !== 0) return skip('bare-ip');
  const ascii = domainToASCII(text.replace(/\.$/, '').toLowerCase());
  if (ascii === '') return skip('malformed');
  const labels = ascii.split('.');
  // A one-label name (`localhost`, `mail`) is no domain a list can hold.
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return skip('malformed');
  // All-numeric labels are an IP in disguise (`1.2.3.4.`, `010.1.2.3`) or no name at all.
  if (labels.every((l) => /^[0-9]+$/.test(l))) return skip('bare-ip');
  if (ascii.length > MAX_NAME_LENGTH) return skip('too-long');
  return { ok: true, name: ascii };
}

/** The domain of a mail address (`user@Example.COM` → `Example.COM`); empty for the null sender. */
export function domainOfAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1);
}

/** `name` under `zone`, or null when the whole would be longer than a DNS name may be. */
export function underZone(name: string, zone: string): string | null {
  const full = `${name}.${zone}`;
  return full.length > MAX_NAME_LENGTH ? null : full;
}

function skip(skipped: DomainSkip): DomainQuery {
  return { ok: false, skipped };
}
