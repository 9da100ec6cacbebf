/**
 * Postscreen's DNS list entries, verbatim (postconf(5), postscreen_dnsbl_sites):
 *
 *   zone[=filter][*weight]     zen.spamhaus.org=127.0.0.[2..11]*3, list.dnswl.org=127.0.[0..255].[1..3]*-2
 *   name=filter                a named return code: sbl=127.0.0.2, xbl=127.0.0.[4..7]
 *
 * A filter is four dot-separated octets, each a number or `[…]` holding
 * `;`-separated numbers and `lo..hi` ranges. Without a filter any answer that
 * is no error counts; without a weight it is 1. Postscreen's weights are whole
 * numbers; ours may have decimals, as scores do. Pure: the rules compiler
 * reads these.
 */

/** Each octet's allowed values, as inclusive ranges. */
export type OctetSet = readonly (readonly [number, number])[];

export interface AddressFilter {
  readonly octets: readonly [OctetSet, OctetSet, OctetSet, OctetSet];
  /** As written, for logs and `check`. */
  readonly text: string;
}

export interface Site {
  /** Lower-cased, without a trailing dot. May hold a secret key: shown only through a display name. */
  readonly zone: string;
  readonly filter: AddressFilter | null;
  readonly weight: number;
}

export interface NamedCode {
  readonly name: string;
  readonly filter: AddressFilter;
}

/** What is wrong, and where: `offset` counts from the start of the entry. */
export interface SiteProblem {
  readonly message: string;
  readonly hint?: string;
  readonly offset: number;
}

export type SiteResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: SiteProblem };

const ZONE_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const CODE_NAME = /^[a-z][a-z0-9_-]*$/;
const WEIGHT = /^[+-]?(?:\d+(?:\.\d+)?|\.\d+)$/;
export const MAX_WEIGHT = 1000;

/** Is `text` a site (its part before `=` or `*` has a dot) rather than a named code? */
export function looksLikeSite(text: string): boolean {
  return /^[^=*]*\./.test(text);
}

export function parseSite(text: string): SiteResult<Site> {
  const star = text.lastIndexOf('*');
  const weightText = star < 0 ? null : text.slice(star + 1);
  const head = star < 0 ? text : text.slice(0, star);
  let weight = 1;
  if (weightText !== null) {
    if (!WEIGHT.test(weightText)) return fail(`"${weightText}" is not a weight`, star + 1, 'a weight is a number, negative for an allow list: *3, *-2, *0.5');
    weight = Number(weightText);
    if (Math.abs(weight) > MAX_WEIGHT) return fail(`weight ${weightText} is out of range`, star + 1, `a weight is between -${MAX_WEIGHT} and ${MAX_WEIGHT}`);
  }
  const eq = head.indexOf('=');
  const zoneText = eq < 0 ? head : head.slice(0, eq);
  const zone = checkZone(zoneText);
  if (!zone.ok) return zone;
  if (eq < 0) return { ok: true, value: { zone: zone.value, filter: null, weight } };
  const filter = parseFilter(head.slice(eq + 1), eq + 1);
  if (!filter.ok) return filter;
  return { ok: true, value: { zone: zone.value, filter: filter.value, weight } };
}

export function parseNamedCode(text: string): SiteResult<NamedCode> {
  const eq = text.indexOf('=');
  if (eq < 0) return fail(`"${text}" is no return code`, 0, 'name a code with its filter: sbl=127.0.0.2');
  const name = text.slice(0, eq).toLowerCase();
  if (!CODE_NAME.test(name)) return fail(`"${text.slice(0, eq)}" is not a code name`, 0, 'a code name is a letter, then letters, digits, - and _');
  if (text.includes('*')) return fail('a named code takes no weight', text.indexOf('*'), 'the weight belongs to the list: zen.spamhaus.org=127.0.0.[2..11]*3');
  const filter = parseFilter(text.slice(eq + 1), eq + 1);
  return filter.ok ? { ok: true, value: { name, filter: filter.value } } : filter;
}

function checkZone(text: string): SiteResult<string> {
  const zone = text.toLowerCase().replace(/\.$/, '');
  const labels = zone.split('.');
  if (labels.length < 2 || zone.length > 253 || !labels.every((l) => ZONE_LABEL.test(l)))
    return fail(`"${text}" is not a DNS list's zone`, 0, 'a zone is a domain name: zen.spamhaus.org');
  return { ok: true, value: zone };
}

/** `d.d.d.d`, each d a number 0–255 or `[n;lo..hi;…]`. */
export function parseFilter(text: string, at = 0): SiteResult<AddressFilter> {
  const parts = splitOctets(text);
  if (parts.length !== 4) return fail(`"${text}" is not an address filter`, at, 'a filter has four octets: 127.0.0.2 or 127.0.0.[2..11]');
  const octets: OctetSet[] = [];
  let offset = at;
  for (const part of parts) {
    const set = parseOctet(part, offset);
    if (!set.ok) return set;
    octets.push(set.value);
    offset += part.length + 1;
  }
  return { ok: true, value: { octets: octets as unknown as AddressFilter['octets'], text } };
}

/** Split on the dots outside brackets (`127.0.0.[2..11]` has dots inside them). */
function splitOctets(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === '.' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function parseOctet(part: string, at: number): SiteResult<OctetSet> {
  const bracketed = /^\[(.*)\]$/.exec(part);
  const items = bracketed ? (bracketed[1] ?? '').split(';') : [part];
  const ranges: [number, number][] = [];
  for (const item of items) {
    const m = /^(\d{1,3})(?:\.\.(\d{1,3}))?$/.exec(item);
    const lo = Number(m?.[1]);
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!m || lo > 255 || hi > 255) return fail(`"${part}" is not an octet pattern`, at, 'an octet is 0 … 255, or [2..11] or [2;4..7] with a range or a list in brackets');
    if (lo > hi) return fail(`range ${item} is empty`, at, `write the low end first: ${hi}..${lo}`);
    if (!bracketed && m[2] !== undefined) return fail(`a range needs brackets: [${item}]`, at);
    ranges.push([lo, hi]);
  }
  return { ok: true, value: ranges };
}

/** Does an IPv4 answer (`127.0.0.4`) pass the filter? */
export function filterMatches(filter: AddressFilter, address: string): boolean {
  const octets = address.split('.').map(Number);
  if (octets.length !== 4) return false;
  return filter.octets.every((set, i) => set.some(([lo, hi]) => (octets[i] ?? -1) >= lo && (octets[i] ?? -1) <= hi));
}

function fail(message: string, offset: number, hint?: string): { ok: false; problem: SiteProblem } {
  return { ok: false, problem: hint === undefined ? { message, offset } : { message, hint, offset } };
}

/** A DNS list as a `dnsbl` step takes it: postscreen's entry, then its named return codes. */
export interface DnsListEntry {
  readonly site: Site;
  readonly codes: readonly NamedCode[];
}

/**
 * `zen.spamhaus.org=127.0.0.[2..11]*3 sbl=127.0.0.2 xbl=127.0.0.[4..7]`:
 * one site, then codes, separated by white space or commas (as postscreen
 * separates its entries). Offsets of problems count from the start of `text`.
 */
export function parseDnsListEntry(text: string): SiteResult<DnsListEntry> {
  const words = [...text.matchAll(/[^\s,]+/g)];
  const first = words[0];
  if (first === undefined) return fail('no DNS list is named', 0, 'write the list as postscreen does: "zen.spamhaus.org=127.0.0.[2..11]*3"');
  const at = (r: { readonly problem: SiteProblem }, offset: number) => fail(r.problem.message, offset + r.problem.offset, r.problem.hint);
  const site = parseSite(first[0]);
  if (!site.ok) return at(site, first.index);
  const codes: NamedCode[] = [];
  for (const w of words.slice(1)) {
    if (looksLikeSite(w[0])) return fail(`"${w[0]}" is a second list`, w.index, 'one list per step: write another dnsbl step');
    const code = parseNamedCode(w[0]);
    if (!code.ok) return at(code, w.index);
    if (codes.some((c) => c.name === code.value.name)) return fail(`code ${code.value.name} is named twice`, w.index);
    codes.push(code.value);
  }
  return { ok: true, value: { site: site.value, codes } };
}

/** The entry as the rules write it, for logs of the rules and the reload diff (holds the zone: not for session logs). */
export function formatDnsListEntry(entry: DnsListEntry): string {
  const { zone, filter, weight } = entry.site;
  const site = `${zone}${filter === null ? '' : `=${filter.text}`}${weight === 1 ? '' : `*${weight}`}`;
  return [site, ...entry.codes.map((c) => `${c.name}=${c.filter.text}`)].join(' ');
}
