/**
 * What the written values mean: durations, counts, greylist stores and SMTP
 * replies (policy server addresses: model/address.ts). Pure functions returning either the value
 * or a problem for people (message plus optional hint); the checker locates
 * the problem and the compiler uses the value.
 */
import { parseStoreUrl } from '../store/url.js';
import { bad, good, type Parsed, type Problem } from '../support/result.js';
import { UNIT_MS } from '../support/units.js';

export type { Parsed, Problem };

const DURATION_HINT = 'durations are a whole number and a unit: 500ms, 3s, 5m, 2h, 35d';

/** `500ms`, `3s`, `5m`, `2h`, `35d` → milliseconds. */
export function parseDuration(text: string): Parsed<number> {
  const m = /^([0-9]+)([a-z]*)$/i.exec(text);
  if (m === null) {
    const frac = /^([0-9]+)\.([0-9]+)([a-z]*)$/i.exec(text);
    if (frac !== null) return bad(`"${text}" is not a valid duration: fractions are not supported`, 'use a smaller unit, e.g. 1500ms instead of 1.5s');
    return bad(`"${text}" is not a valid duration`, DURATION_HINT);
  }
  const digits = m[1] ?? '';
  const unit = m[2] ?? '';
  if (unit === '') return bad(`"${text}" has no unit`, DURATION_HINT);
  const factor = UNIT_MS[unit];
  if (factor === undefined) {
    return bad(`"${text}" has an unknown unit "${unit}"`, DURATION_HINT);
  }
  if (digits.length > 12) return bad(`"${text}" is too large`);
  return good(Number(digits) * factor);
}

/** A plain non-negative whole number. */
export function parseCount(text: string): Parsed<number> {
  if (!/^[0-9]+$/.test(text)) {
    const asDuration = /^[0-9]+[a-z]+$/i.test(text);
    return bad(`"${text}" is not a whole number`, asDuration ? 'this option takes a plain number, without a unit' : undefined);
  }
  if (text.length > 9) return bad(`"${text}" is too large`);
  return good(Number(text));
}

/** Moved to support/units.ts; re-exported while the checker and tools still import it from here (issue 11: until stage 13). */
export { formatDuration } from '../support/units.js';

/** Moved to model/address.ts, with its formatter: one parser for the checker, the compiler and the tests (issue 11: re-exported until stage 13). */
export { parsePolicyAddress } from '../model/address.js';

export const DEFAULT_GREYLIST_STORE = 'sqlite:/var/lib/filter-rules/greylist.db';

/** Defaults of the step options; grammar/REFERENCE.md shows the same numbers. */
export const GREYLIST_DEFAULTS = {
  delayMs: 300_000,
  maxAgeMs: 35 * 86_400_000,
  retryWindowMs: 2 * 86_400_000,
  autoWhitelistAfter: 5,
  ipv4Prefix: 24,
  ipv6Prefix: 64,
  header: false,
} as const;

export const POLICY_DEFAULT_TIMEOUT_MS = 2000;

/** Moved to the pause definition, steps/pause/define.ts; re-exported while the compiler and tests import it from here (issue 11: until stage 13). */
export { PREGREET_DEFAULT_REPLY } from '../steps/pause/define.js';

const STORE_HINT = 'write "sqlite:/absolute/path.db" or "redis://host:port/db"';

/**
 * A greylist store URL, checked with the runtime's own parser (store/url.ts is
 * pure for this reason), so `check` accepts exactly what the filter can open:
 * `sqlite:/abs/path`, `redis://[user:pass@]host[:port][/db][?prefix=P]`,
 * `valkey://...`, `redis+unix:///path.sock[?db=N]`. Returned as written.
 */
export function parseStore(text: string): Parsed<string> {
  if (/[\0\r\n]/.test(text)) return bad(`"${text}" contains a control character`);
  const parsed = parseStoreUrl(text);
  if (!parsed.ok) return bad(parsed.error, STORE_HINT);
  if (parsed.value.kind === 'sqlite' && parsed.value.path.endsWith('/')) {
    return bad(`"${text}" names a directory, not a database file`, STORE_HINT);
  }
  return good(text);
}

/** RFC 5321 caps a reply line at 512 octets including CRLF. */
export const MAX_REPLY_BYTES = 510;

export interface ReplyProblem extends Problem {
  readonly code: 'E030' | 'E031' | 'E032' | 'W006';
}

const CONTROL_NAMES: Readonly<Record<number, string>> = { 0: 'a NUL byte (\\0)', 10: 'a line feed (\\n)', 13: 'a carriage return (\\r)' };

/**
 * Problems with a reject/disconnect reply. smtpd accepts `[45]xx` + space +
 * text and turns anything else into `421 Internal server error` plus a
 * disconnect; a CR or LF in the filter's answer line would end it early and
 * make smtpd exit. A `|` is fine: the reply is the last field of filter-result
 * and smtpd takes the rest of the line verbatim.
 */
export function replyProblems(reply: string): ReplyProblem[] {
  const problems: ReplyProblem[] = [];
  for (let i = 0; i < reply.length; i++) {
    const c = reply.charCodeAt(i);
    if (c < 0x20 && c !== 9) {
      const what = CONTROL_NAMES[c] ?? `the control character U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
      problems.push({
        code: 'E031',
        message: `the reply contains ${what}; a reply must be one line`,
        hint: 'smtpd reads one answer per line: a line break inside a reply would corrupt the protocol',
      });
      return problems;
    }
    if (c === 0x7f) {
      problems.push({ code: 'E031', message: 'the reply contains the control character U+007F' });
      return problems;
    }
  }
  const m = /^([0-9]{3})([ -]?)(.*)$/s.exec(reply);
  if (m === null) {
    problems.push({ code: 'E030', message: `"${reply}" does not start with a three-digit reply code`, hint: 'write e.g. "550 5.7.1 message refused"' });
    return problems;
  }
  const code = m[1] ?? '';
  if (code[0] !== '4' && code[0] !== '5') {
    problems.push({
      code: 'E030',
      message: `reply code ${code} is not a failure code: only 4xx and 5xx are allowed`,
      hint: 'smtpd replaces any other code with "421 Internal server error" and disconnects; use accept to let mail through',
    });
    return problems;
  }
  if (m[2] === '-') {
    problems.push({ code: 'E030', message: 'multi-line replies ("' + code + '-...") are not supported by smtpd filters', hint: `write "${code} text"` });
    return problems;
  }
  if (m[2] !== ' ' || (m[3] ?? '').trim() === '') {
    problems.push({ code: 'E030', message: `the reply code ${code} must be followed by a space and some text`, hint: `write e.g. "${code} 5.7.1 message refused"` });
    return problems;
  }
  const bytes = Buffer.byteLength(reply, 'utf8');
  if (bytes > MAX_REPLY_BYTES) {
    problems.push({ code: 'E032', message: `the reply is ${bytes} bytes long; SMTP allows ${MAX_REPLY_BYTES}` });
  }
  if (/[^\x00-\x7f]/.test(reply)) {
    problems.push({ code: 'W006', message: 'the reply contains non-ASCII characters, which some SMTP clients mangle' });
  }
  return problems;
}
