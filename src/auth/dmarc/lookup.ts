/**
 * Finding the DMARC record of a From domain (RFC 7489 §6.6.3): the TXT
 * records at `_dmarc.FROM`; when none of them is a DMARC record, those at
 * `_dmarc.ORG` for its organizational domain. More than one DMARC record at
 * a name is none (step 3 discards them all). A DNS error other than "no such
 * name" or "no TXT" is a temporary error (§6.6.3 step 2, and §8.3's advice
 * to treat it as such). Through a resolver given to it, as SPF's is.
 */
import type { SpfResolver } from '../spf.js';
import { normalDomain, organizationalDomain } from './org-domain.js';
import { isDmarcText, parseDmarcRecord, type DmarcRecord } from './record.js';

export type DmarcLookup =
  /** `at`: the domain whose `_dmarc` name held it; `forOrganization`: found at the organizational domain, so `sp` applies. */
  | { readonly kind: 'record'; readonly record: DmarcRecord; readonly at: string; readonly forOrganization: boolean }
  | { readonly kind: 'none'; readonly reason: string }
  | { readonly kind: 'temperror'; readonly reason: string };

type AtName = { readonly kind: 'texts'; readonly texts: readonly string[] } | { readonly kind: 'temperror'; readonly reason: string };

const VOID = new Set(['ENOTFOUND', 'ENODATA']);

async function dmarcTexts(domain: string, resolver: SpfResolver): Promise<AtName> {
  try {
    const rows = (await resolver(`_dmarc.${domain}`, 'TXT')) as readonly (readonly string[])[];
    return { kind: 'texts', texts: rows.map((r) => r.join('')).filter(isDmarcText) };
  } catch (e) {
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : '';
    if (VOID.has(code)) return { kind: 'texts', texts: [] };
    return { kind: 'temperror', reason: `DNS error (${code || 'unknown'}) for _dmarc.${domain}` };
  }
}

/**
 * One name's answer: a record, none, a temporary error, or `empty` (no DMARC
 * record there: only then is the organizational domain asked, §6.6.3 step 3).
 */
async function atName(domain: string, resolver: SpfResolver, forOrganization: boolean): Promise<DmarcLookup | { readonly kind: 'empty'; readonly reason: string }> {
  const found = await dmarcTexts(domain, resolver);
  if (found.kind === 'temperror') return found;
  if (found.texts.length > 1) return { kind: 'none', reason: `${found.texts.length} DMARC records at _dmarc.${domain}` };
  const [text] = found.texts;
  if (text === undefined) return { kind: 'empty', reason: `no DMARC record at _dmarc.${domain}` };
  const parsed = parseDmarcRecord(text);
  if (!parsed.ok) return { kind: 'none', reason: `_dmarc.${domain}: ${parsed.reason}` };
  return { kind: 'record', record: parsed.record, at: domain, forOrganization };
}

export async function lookupDmarc(fromDomain: string, resolver: SpfResolver): Promise<DmarcLookup> {
  const from = normalDomain(fromDomain);
  const own = await atName(from, resolver, false);
  if (own.kind !== 'empty') return own;
  const org = organizationalDomain(from);
  const found = org === from ? own : await atName(org, resolver, true);
  return found.kind === 'empty' ? { kind: 'none', reason: found.reason } : found;
}
