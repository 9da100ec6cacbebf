/**
 * What a `limit` step's values mean, shared by the rules pipeline (which
 * checks them) and the runner (which builds the keys): the rate written
 * `"30/1h"` (or `"10"`, sessions at once), and the key written
 * `"src(24,64)+sender-domain"`. Pure.
 */
import { bad, good, type Parsed } from '../support/result.js';
import { formatDuration, UNIT_MS } from '../support/units.js';
import type { RulePhase } from './phases.js';

/** `"30/1h"`: count per period; `"10"`: periodMs null (a number at once, for `count sessions`). */
export interface RateValue {
  readonly count: number;
  readonly periodMs: number | null;
}

const RATE_HINT = 'write a count per period, e.g. "30/1h", "100/1d", "5/10m" (or a count alone for sessions at once: "10")';

export function parseRate(text: string): Parsed<RateValue> {
  const m = /^([0-9]{1,9})(?:\/([0-9]{0,9})([a-z]+))?$/.exec(text.trim());
  if (m === null) return bad(`"${text}" is not a rate`, RATE_HINT);
  const count = Number(m[1]);
  if (count < 1) return bad(`"${text}": the count must be at least 1`, RATE_HINT);
  if (m[3] === undefined) return good({ count, periodMs: null });
  const unit = UNIT_MS[m[3]];
  if (unit === undefined) return bad(`"${text}" has an unknown unit "${m[3]}"`, RATE_HINT);
  const n = m[2] === '' || m[2] === undefined ? 1 : Number(m[2]);
  if (n < 1) return bad(`"${text}": the period must be more than 0`, RATE_HINT);
  const periodMs = n * unit;
  if (periodMs < 1000 || periodMs > 366 * 86_400_000) return bad(`"${text}": the period must be from 1s to 366d`, RATE_HINT);
  return good({ count, periodMs });
}

export const formatRate = (r: RateValue): string => (r.periodMs === null ? String(r.count) : `${r.count}/${formatDuration(r.periodMs)}`);

/** One part of a key: what the counter is kept per. */
export type LimitKeyPart =
  | { readonly kind: 'src'; readonly ipv4Prefix: number; readonly ipv6Prefix: number }
  | { readonly kind: 'rdns' | 'helo' | 'sender' | 'sender-domain' | 'auth-user' | 'recipient' | 'recipient-domain' };

/** The parts, in the order written; empty: one global key. */
export type LimitKey = readonly LimitKeyPart[];

type NamedPart = Exclude<LimitKeyPart, { kind: 'src' }>['kind'];
const NAMED: readonly NamedPart[] = ['rdns', 'helo', 'sender', 'sender-domain', 'auth-user', 'recipient', 'recipient-domain'];

/** The first phase at which smtpd has told the filter a part's value. */
export const KEY_PART_KNOWN_FROM: { readonly [K in LimitKeyPart['kind']]: RulePhase } = {
  src: 'connect',
  rdns: 'connect',
  helo: 'helo',
  sender: 'mail-from',
  'sender-domain': 'mail-from',
  'auth-user': 'mail-from',
  recipient: 'rcpt-to',
  'recipient-domain': 'rcpt-to',
};

const KEY_HINT = 'write "global", or parts joined by +: src, src(N), src(N,M), rdns, helo, sender, sender-domain, auth-user, recipient, recipient-domain';

export function parseLimitKey(text: string): Parsed<LimitKey> {
  const t = text.trim();
  if (t === 'global') return good([]);
  const parts: LimitKeyPart[] = [];
  const seen = new Set<string>();
  for (const raw of t.split('+')) {
    const word = raw.trim();
    const src = /^src(?:\(\s*([0-9]{1,3})\s*(?:,\s*([0-9]{1,3})\s*)?\))?$/.exec(word);
    let part: LimitKeyPart;
    if (src !== null) {
      const v4 = src[1] === undefined ? 32 : Number(src[1]);
      const v6 = src[2] === undefined ? (src[1] === undefined ? 64 : 64) : Number(src[2]);
      if (v4 < 1 || v4 > 32) return bad(`"${text}": the IPv4 prefix must be from 1 to 32, not ${v4}`, KEY_HINT);
      if (v6 < 1 || v6 > 128) return bad(`"${text}": the IPv6 prefix must be from 1 to 128, not ${v6}`, KEY_HINT);
      part = { kind: 'src', ipv4Prefix: v4, ipv6Prefix: v6 };
    } else if ((NAMED as readonly string[]).includes(word)) {
      part = { kind: word as NamedPart };
    } else {
      return bad(word === '' ? `"${text}" has an empty part` : `"${text}": unknown key part "${word}"`, KEY_HINT);
    }
    if (seen.has(part.kind)) return bad(`"${text}" names ${part.kind} twice`, KEY_HINT);
    seen.add(part.kind);
    parts.push(part);
  }
  return good(parts);
}

export function formatLimitKey(key: LimitKey): string {
  if (key.length === 0) return 'global';
  return key.map((p) => (p.kind === 'src' ? `src(${p.ipv4Prefix},${p.ipv6Prefix})` : p.kind)).join('+');
}
