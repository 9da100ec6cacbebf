/**
 * A DMARC policy record (RFC 7489 §6.3), read from the text of one TXT
 * record: what the policy says, or why the text is no usable record. Pure.
 *
 * §6.3: `v=DMARC1` must be the first tag; unknown tags are ignored. A record
 * whose `p` is missing or not a policy, or whose `sp` is not one, is used as
 * `p=none` when it has a valid `rua`, and is no record otherwise (§6.6.3
 * step 6). An invalid `adkim`, `aspf` or `pct` takes its default (§6.3:
 * "syntax errors in the remainder of the record SHOULD be discarded in
 * favor of default values").
 */

export type DmarcPolicy = 'none' | 'quarantine' | 'reject';
export type AlignmentMode = 'r' | 's';

export interface DmarcRecord {
  /** The requested policy for the domain. */
  readonly p: DmarcPolicy;
  /** For subdomains, when the record was found at the organizational domain (default: p). */
  readonly sp: DmarcPolicy;
  readonly adkim: AlignmentMode;
  readonly aspf: AlignmentMode;
  /** Percentage of failing mail the policy applies to, 0 to 100 (default 100). */
  readonly pct: number;
  /** Aggregate report addresses, as written (`mailto:…`). */
  readonly rua: readonly string[];
  /** The tags the record had problems with (each took its default), for logs. */
  readonly ignored: readonly string[];
}

export type ParsedDmarc = { readonly ok: true; readonly record: DmarcRecord } | { readonly ok: false; readonly reason: string };

const POLICIES: readonly string[] = ['none', 'quarantine', 'reject'];

function isPolicy(v: string | undefined): v is DmarcPolicy {
  return v !== undefined && POLICIES.includes(v);
}

/** Is `text` a DMARC record at all (what §6.6.3 step 3 keeps of the TXT records)? */
export function isDmarcText(text: string): boolean {
  return /^v\s*=\s*DMARC1\s*(;|$)/i.test(text.trim());
}

export function parseDmarcRecord(text: string): ParsedDmarc {
  const parts = text
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const tags = new Map<string, string>();
  for (const [i, part] of parts.entries()) {
    const eq = part.indexOf('=');
    if (eq <= 0) {
      if (i === 0) return { ok: false, reason: 'the record does not start with v=DMARC1' };
      continue;
    }
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (i === 0 && (key !== 'v' || value !== 'DMARC1')) return { ok: false, reason: 'the record does not start with v=DMARC1' };
    // The first occurrence of a tag counts.
    if (!tags.has(key)) tags.set(key, value);
  }
  if (parts.length === 0) return { ok: false, reason: 'the record is empty' };
  const ignored: string[] = [];
  const rua = (tags.get('rua') ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter((u) => /^mailto:[^\s@]+@[^\s@]+/i.test(u));
  const pValue = tags.get('p')?.toLowerCase();
  const spValue = tags.get('sp')?.toLowerCase();
  let p: DmarcPolicy;
  let sp: DmarcPolicy;
  if (isPolicy(pValue) && (spValue === undefined || isPolicy(spValue))) {
    p = pValue;
    sp = spValue ?? pValue;
  } else if (rua.length > 0) {
    // §6.6.3 step 6: a record without a valid policy but with a valid rua is p=none.
    p = 'none';
    sp = 'none';
    ignored.push(isPolicy(pValue) ? 'sp' : 'p');
  } else if (!isPolicy(pValue)) return { ok: false, reason: pValue === undefined ? 'the record has no p= tag' : `p=${pValue} is not a policy` };
  else return { ok: false, reason: `sp=${spValue ?? ''} is not a policy` };
  const mode = (key: 'adkim' | 'aspf'): AlignmentMode => {
    const v = tags.get(key)?.toLowerCase();
    if (v === undefined || v === 'r' || v === 's') return v ?? 'r';
    ignored.push(key);
    return 'r';
  };
  const pctText = tags.get('pct');
  let pct = 100;
  if (pctText !== undefined) {
    if (/^\d{1,3}$/.test(pctText) && Number(pctText) <= 100) pct = Number(pctText);
    else ignored.push('pct');
  }
  return { ok: true, record: { p, sp, adkim: mode('adkim'), aspf: mode('aspf'), pct, rua, ignored } };
}
