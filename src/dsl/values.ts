/**
 * What the written values mean: durations, counts, greylist stores and SMTP
 * replies (policy server addresses: model/address.ts). Pure functions returning either the value
 * or a problem for people (message plus optional hint); the checker locates
 * the problem and the compiler uses the value.
 *
 * VALUE_PARSERS puts them behind the value types of steps/spec.ts: one parser
 * per type, run once per written value by dsl/convert.ts, giving the value and
 * its problems, coded and located.
 */
import { parseKeyPath, parseSelector, parseSigningDomain } from '../model/dkim-names.js';
import { parseResolverAddress } from '../dns/resolver-address.js';
import { parseDnsListEntry, type DnsListEntry } from '../dns/sites.js';
import { parsePolicyAddress } from '../model/address.js';
import { SCORE_SCALE } from '../model/score.js';
import { parseLimitKey, parseRate } from '../model/limits.js';
import type { SourceSpan } from '../model/span.js';
import type { ValueSpec, ValueType, ValueTypes } from '../steps/spec.js';
import { parseCounterStoreUrl, parseStoreUrl } from '../store/url.js';
import { bad, good, type Parsed, type Problem } from '../support/result.js';
import { formatDuration, UNIT_MS } from '../support/units.js';
import { shaped, type ValueNode } from './ast.js';
import { CODES, type Code } from './codes.js';

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

const COUNTER_STORE_HINT = 'write "memory:", "sqlite:/absolute/path.db" or "redis://host:port/db"';

/** A counter store URL (store/url.ts), as the filter will open it. Returned as written. */
export function parseCounterStore(text: string): Parsed<string> {
  if (/[\0\r\n]/.test(text)) return bad(`"${text}" contains a control character`);
  const parsed = parseCounterStoreUrl(text);
  if (!parsed.ok) return bad(parsed.error, COUNTER_STORE_HINT);
  if (parsed.value.kind === 'sqlite' && parsed.value.path.endsWith('/')) return bad(`"${text}" names a directory, not a database file`, COUNTER_STORE_HINT);
  return good(text);
}

/** A DNS list, postscreen's entry and named codes (dns/sites.ts); the problem names the part at fault. */
export function parseDnsList(text: string): Parsed<DnsListEntry> {
  const r = parseDnsListEntry(text);
  if (r.ok) return good(r.value);
  const at = r.problem.offset > 0 ? ` (at character ${r.problem.offset + 1})` : '';
  return bad(`${r.problem.message}${at}`, r.problem.hint);
}

/** What a DNS list is shown and tested by: a word (`zen`, `dnswl`), compared without case. */
export function parseDnsName(text: string): Parsed<string> {
  if (!/^[a-z][a-z0-9_-]{0,62}$/i.test(text)) return bad(`"${text}" is not a DNS list name`, 'a name is a letter, then up to 62 letters, digits, - and _: "zen"');
  return good(text.toLowerCase());
}

/** A score's points, `+2`, `-1.5`, `0.125`: thousandths (model/score.ts SCORE_SCALE). */
export function parsePoints(text: string): Parsed<number> {
  if (!/^[+-]?[0-9]+(\.[0-9]+)?$/.test(text)) return bad(`"${text}" is not a number of points`, 'write points as a decimal with a sign: +2, -1.5, +0.25');
  const decimals = text.split('.')[1] ?? '';
  if (decimals.length > 3) return bad(`"${text}" has more than 3 decimals`, 'a score counts in thousandths: +0.125 is the finest');
  if ((text.replace(/^[+-]/, '').split('.')[0] ?? '').length > 6) return bad(`"${text}" is too large`, 'scores compare with thresholds of a few points');
  return good(Math.round(Number(text) * SCORE_SCALE));
}

/** What a score's breakdown calls the points: a word, as in `no-rdns +2`. */
export function parseScoreLabel(text: string): Parsed<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(text)) return bad(`"${text}" is not a score label`, 'a label is a word of letters, digits, -, _ and . (up to 63): "no-rdns"; it shows in log lines');
  return good(text);
}

/** rspamd's address: `http://HOST:PORT` (a path allowed); https is not spoken to rspamd's workers. */
export function parseHttpUrl(text: string): Parsed<string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad(`"${text}" is not a URL`, 'write rspamd\'s normal worker as "http://127.0.0.1:11333"');
  }
  if (url.protocol !== 'http:') return bad(`"${text}" is not an http:// URL`, 'rspamd\'s workers speak plain HTTP: "http://127.0.0.1:11333"');
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return bad(`"${text}" has a user, a query or a fragment`, 'write only "http://HOST:PORT"');
  return good(`${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`);
}

/** An rspamd settings id (settings.conf names them): a word. */
export function parseSettingsId(text: string): Parsed<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(text)) return bad(`"${text}" is not a settings id`, 'a settings id is a letter or digit, then up to 63 letters, digits, -, _ and .: "inbound"');
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

/** A problem with a written value, with its code and where it is (a choice's reply, not its word). */
export interface CodedProblem {
  readonly code: Code;
  readonly span: SourceSpan;
  readonly message: string;
  readonly hint?: string;
}

/** A written value read by its type: the value, null when a problem is an error; and every problem, warnings too. */
export interface ReadValue<T> {
  readonly value: T | null;
  readonly problems: readonly CodedProblem[];
}

function coded(code: Code, span: SourceSpan, p: Problem): CodedProblem {
  return p.hint === undefined ? { code, span, message: p.message } : { code, span, message: p.message, hint: p.hint };
}

function read<T>(parsed: Parsed<T>, code: Code, span: SourceSpan): ReadValue<T> {
  return parsed.ok ? { value: parsed.value, problems: [] } : { value: null, problems: [coded(code, span, parsed.problem)] };
}

/** A reply's problems, located at its string; the reply is the value unless one of them is an error (W006 is not). */
function readReply(text: string, span: SourceSpan): ReadValue<string> {
  const problems = replyProblems(text).map((p) => coded(p.code, span, p));
  return { value: problems.some((p) => CODES[p.code].severity === 'error') ? null : text, problems };
}

/** The problem of a number outside its spec's range (E021, E023), said with the spec's `what` and `why`. */
function outOfRange(spec: ValueSpec, text: string, value: number, span: SourceSpan): CodedProblem | null {
  const { min, max } = spec;
  if ((min === undefined || value >= min) && (max === undefined || value <= max)) return null;
  if (spec.type === 'duration') {
    const range =
      min === undefined || min <= 1
        ? max === undefined
          ? 'more than 0'
          : `more than 0 and at most ${formatDuration(max)}`
        : max === undefined
          ? `at least ${formatDuration(min)}`
          : `from ${formatDuration(min)} to ${formatDuration(max)}`;
    return coded('E021', span, spec.why === undefined ? { message: `${spec.what} must be ${range}, not ${text}` } : { message: `${spec.what} must be ${range}, not ${text}`, hint: spec.why });
  }
  const range = min === undefined ? `at most ${max ?? ''}` : max === undefined ? `at least ${min}` : `from ${min} to ${max}`;
  return coded('E023', span, spec.why === undefined ? { message: `${spec.what} must be ${range}, not ${text}` } : { message: `${spec.what} must be ${range}, not ${text}`, hint: spec.why });
}

/** A duration or a count, parsed, then held to its spec's range. */
function readNumber(node: ValueNode | null, spec: ValueSpec, parse: (text: string) => Parsed<number>, code: Code): ReadValue<number> {
  const n = shaped(node, 'number');
  const parsed = read(parse(n.text), code, n.span);
  if (parsed.value === null) return parsed;
  const range = outOfRange(spec, n.text, parsed.value, n.span);
  return range === null ? parsed : { value: null, problems: [range] };
}

/**
 * One parser per value type. The node has the shape the type's SHAPE_OF
 * gives (to-ast held every value to it), null for a flag, which has none.
 */
export const VALUE_PARSERS: { readonly [T in ValueType]: (node: ValueNode | null, spec: ValueSpec<T>) => ReadValue<ValueTypes[T]> } = {
  duration: (node, spec) => readNumber(node, spec, parseDuration, 'E020'),
  count: (node, spec) => readNumber(node, spec, parseCount, 'E022'),
  reply: (node) => {
    const s = shaped(node, 'string');
    return readReply(s.value, s.span);
  },
  'policy-address': (node) => {
    const a = shaped(node, 'address');
    return read(parsePolicyAddress(a.value), 'E024', a.span);
  },
  'store-url': (node) => {
    const s = shaped(node, 'string');
    return read(parseStore(s.value), 'E025', s.span);
  },
  flag: (node) => {
    if (node !== null) throw new Error(`bug: a flag with a value of shape ${node.shape}`);
    return { value: true, problems: [] };
  },
  'dns-list': (node) => {
    const s = shaped(node, 'string');
    return read(parseDnsList(s.value), 'E070', s.span);
  },
  'dns-name': (node) => {
    const s = shaped(node, 'string');
    return read(parseDnsName(s.value), 'E071', s.span);
  },
  'resolver-address': (node) => {
    const s = shaped(node, 'string');
    return read(parseResolverAddress(s.value), 'E072', s.span);
  },
  points: (node) => {
    const p = shaped(node, 'points');
    const milli = read(parsePoints(p.number.text), 'E075', p.number.span);
    const label = read(parseScoreLabel(p.label.value), 'E076', p.label.span);
    const problems = [...milli.problems, ...label.problems];
    if (milli.value === null || label.value === null) return { value: null, problems };
    return { value: { milli: milli.value, label: label.value }, problems };
  },
  'http-url': (node) => {
    const s = shaped(node, 'string');
    return read(parseHttpUrl(s.value), 'E095', s.span);
  },
  'settings-id': (node) => {
    const s = shaped(node, 'string');
    return read(parseSettingsId(s.value), 'E096', s.span);
  },
  rate: (node) => {
    const s = shaped(node, 'string');
    return read(parseRate(s.value), 'E085', s.span);
  },
  'limit-key': (node) => {
    const s = shaped(node, 'string');
    return read(parseLimitKey(s.value), 'E086', s.span);
  },
  'counter-store-url': (node) => {
    const s = shaped(node, 'string');
    return read(parseCounterStore(s.value), 'E087', s.span);
  },
  'signing-domain': (node) => {
    const s = shaped(node, 'string');
    return read(parseSigningDomain(s.value), 'E107', s.span);
  },
  'dkim-selector': (node) => {
    const s = shaped(node, 'string');
    return read(parseSelector(s.value), 'E108', s.span);
  },
  'key-file': (node) => {
    const s = shaped(node, 'string');
    return read(parseKeyPath(s.value), 'E109', s.span);
  },
  choice: (node, spec) => {
    const c = shaped(node, 'choice');
    // The grammar takes the choice words of every option; a word this option lacks is a catalogue mistake.
    const choice = spec.choices?.find((x) => x.word === c.word);
    if (choice === undefined || (c.reply !== null && !choice.reply)) throw new Error(`bug: ${spec.what} has no choice ${c.word}${c.reply === null ? '' : ' with a reply'}`);
    if (c.reply === null) return { value: { word: c.word, reply: null }, problems: [] };
    const reply = readReply(c.reply.value, c.reply.span);
    return { value: reply.value === null ? null : { word: c.word, reply: reply.value }, problems: reply.problems };
  },
};

/** `VALUE_PARSERS[spec.type]` for a spec of any type (an index by a union cannot be called directly). */
export function readValue<T extends ValueType>(node: ValueNode | null, spec: ValueSpec<T>): ReadValue<ValueTypes[T]> {
  const parser = VALUE_PARSERS[spec.type] as (node: ValueNode | null, spec: ValueSpec<T>) => ReadValue<ValueTypes[T]>;
  return parser(node, spec);
}
