/**
 * The organizational domain (RFC 7489 §3.2): the public suffix of a name
 * plus one label, from the Public Suffix List as tldts has it (ICANN and
 * private sections, as mailauth reads it). A name that is itself a public
 * suffix, or is not a domain, is its own. Pure.
 */
import { getDomain } from 'tldts';

/** Lower case, without a trailing dot: how DMARC compares domains. */
export function normalDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, '');
}

export function organizationalDomain(domain: string): string {
  const name = normalDomain(domain);
  return getDomain(name, { allowIcannDomains: true, allowPrivateDomains: true }) ?? name;
}
