/**
 * Pure parser: one line from smtpd (without its `\n`) → InputLine or a
 * ParseProblem. Never throws. Fields are split with a maximum count, because
 * only the last field of a payload may contain `|` (protocol.md §3).
 */
import { FILTER_PHASES, REPORT_EVENTS, type FilterPhase } from '../model/phases.js';
import { err, ok, type Result } from '../support/result.js';
import type { ConnectParam, InputLine, ParseProblem, ReportEvent } from './types.js';

const DECIMAL = /^[0-9]+$/;

/** How much of an offending line goes into a problem (and so into the log). */
const SHOWN_CHARS = 160;

/** The line, shortened for a log: hostile input can be megabytes long. */
export function shortenForLog(line: string): string {
  return line.length <= SHOWN_CHARS ? line : `${line.slice(0, SHOWN_CHARS)}…(${line.length} chars)`;
}

/**
 * Split on `|` into at most `max` fields; the last one keeps any further `|`.
 * `splitFields("a|b|c|d", 3)` → `["a", "b", "c|d"]`.
 */
export function splitFields(line: string, max: number): string[] {
  const out: string[] = [];
  let start = 0;
  while (out.length < max - 1) {
    const bar = line.indexOf('|', start);
    if (bar < 0) break;
    out.push(line.slice(start, bar));
    start = bar + 1;
  }
  out.push(line.slice(start));
  return out;
}

/** Compare `major.minor` versions numerically ("0.10" > "0.7"). Malformed versions sort lowest. */
export function compareVersions(a: string, b: string): number {
  const [amaj = -1, amin = -1] = a.split('.').map((x) => (DECIMAL.test(x) ? Number(x) : -1));
  const [bmaj = -1, bmin = -1] = b.split('.').map((x) => (DECIMAL.test(x) ? Number(x) : -1));
  return amaj - bmaj || amin - bmin;
}

/** `version >= 0.6` (tx-mail/tx-rcpt order) without parsing the versions smtpd actually sends. */
function atLeast06(version: string): boolean {
  return version === '0.6' || version === '0.7' || compareVersions(version, '0.6') >= 0;
}

/** `version >= 0.7` (link-auth order). */
function atLeast07(version: string): boolean {
  return version === '0.7' || (version !== '0.6' && compareVersions(version, '0.7') >= 0);
}

// Field checks by character code: every line goes through them, and a loop
// over a few characters is much cheaper than a regular expression call.

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** `^[0-9a-fA-F]{16}$` */
export function isHex16(s: string): boolean {
  if (s.length !== 16) return false;
  for (let i = 0; i < 16; i++) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) continue;
    const lower = c | 0x20; // only A-F and a-f land on a-f
    if (lower < 97 || lower > 102) return false;
  }
  return true;
}

/** `^[0-9]+\.[0-9]+$` */
function isVersion(s: string): boolean {
  const dot = s.indexOf('.');
  if (dot < 1 || dot === s.length - 1) return false;
  for (let i = 0; i < s.length; i++) if (i !== dot && !isDigit(s.charCodeAt(i))) return false;
  return true;
}

/** `^[0-9a-fA-F]{16}$` on `line` from `start` to `end`, without slicing it out. */
function isHex16At(line: string, start: number, end: number): boolean {
  if (end - start !== 16) return false;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    if (isDigit(c)) continue;
    const lower = c | 0x20;
    if (lower < 97 || lower > 102) return false;
  }
  return true;
}

/**
 * The timestamp from `start` to `end` (`^[0-9]+(\.[0-9]+)?$`, seconds with
 * microseconds), or NaN. Computed from the digits, without a slice: the
 * integer of all digits divided once by the power of ten gives the same
 * double as Number() of the text (one correctly rounded division).
 */
function timestampAt(line: string, start: number, end: number): number {
  let digits = 0;
  let scale = 1;
  let dot = -1;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    if (isDigit(c)) {
      digits = digits * 10 + (c - 48);
      if (dot >= 0) scale *= 10;
    } else if (c === 46 && dot < 0 && i > start && i < end - 1) {
      dot = i;
    } else {
      return Number.NaN;
    }
  }
  if (end === start) return Number.NaN;
  // Beyond 2^53 the integer is not exact: let Number() round the text itself.
  return digits <= Number.MAX_SAFE_INTEGER ? digits / scale : Number(line.slice(start, end));
}

/**
 * The name from `start` to `end` as one of `names` (the constant itself, so
 * later comparisons are cheap), or null. No slice: a length check, then an
 * in-place comparison. `names` lists the common ones first.
 */
function nameAt<T extends string>(line: string, start: number, end: number, names: readonly T[]): T | null {
  const length = end - start;
  for (const name of names) if (name.length === length && line.startsWith(name, start)) return name;
  return null;
}

// Most frequent first: nameAt stops at the first match.
const PHASES_BY_FREQUENCY: readonly FilterPhase[] = [
  'data-line',
  'rcpt-to',
  'connect',
  'ehlo',
  'helo',
  'mail-from',
  'data',
  'commit',
  ...FILTER_PHASES.filter((p) => !['data-line', 'rcpt-to', 'connect', 'ehlo', 'helo', 'mail-from', 'data', 'commit'].includes(p)),
];
const EVENTS_BY_FREQUENCY: readonly string[] = [
  'protocol-server',
  'tx-rcpt',
  'link-connect',
  'link-disconnect',
  'link-identify',
  'tx-begin',
  'tx-mail',
  'tx-reset',
  ...REPORT_EVENTS.filter((e) => !['protocol-server', 'tx-rcpt', 'link-connect', 'link-disconnect', 'link-identify', 'tx-begin', 'tx-mail', 'tx-reset'].includes(e)),
];

/** The version from `start` to `end`: the usual ones as constants. */
function versionAt(line: string, start: number, end: number): string {
  if (end - start === 3 && line.startsWith('0.', start)) {
    const minor = line.charCodeAt(start + 2);
    if (minor === 54) return '0.6';
    if (minor === 55) return '0.7';
  }
  return line.slice(start, end);
}

function subsystemAt(line: string, start: number, end: number): string {
  return nameAt(line, start, end, SUBSYSTEMS) ?? line.slice(start, end);
}
const SUBSYSTEMS = ['smtp-in', 'smtp-out'] as const;

function problem(reason: string, line: string): Result<never, ParseProblem> {
  return err({ reason, line: shortenForLog(line) });
}

export function parseInputLine(line: string): Result<InputLine, ParseProblem> {
  try {
    // The common types first, by prefix: no slice, no string switch.
    if (line.startsWith('report|')) return parseReport(line);
    if (line.startsWith('filter|')) return parseFilter(line);
    if (line.startsWith('config|')) return parseConfig(line);
    const bar = line.indexOf('|');
    if (bar <= 0) return problem('not a protocol line (no `|`-separated type)', line);
    const type = line.slice(0, bar);
    return ok({ kind: 'unknown', type, name: null, request: null, line: shortenForLog(line) });
  } catch (e) {
    // Only a bug in this file can get here; the caller still gets a value.
    return problem(`parser bug: ${e instanceof Error ? e.message : String(e)}`, line);
  }
}

/**
 * Whether `line` is a `report|` line of `event`, looked up without parsing or
 * validating anything else: lets the host drop reports it has no use for
 * (most `protocol-server` lines) at the cost of a few `indexOf`s.
 */
export function isReportOf(line: string, event: string): boolean {
  if (!line.startsWith('report|')) return false;
  let bar = 6;
  for (let i = 0; i < 3; i++) {
    bar = line.indexOf('|', bar + 1);
    if (bar < 0) return false;
  }
  const end = bar + 1 + event.length;
  return line.startsWith(event, bar + 1) && (line.length === end || line.charCodeAt(end) === 124);
}

function parseConfig(line: string): Result<InputLine, ParseProblem> {
  if (line.endsWith('\r')) return problem('line ends with CR (lines must end with LF only)', line);
  const [, key = '', value] = splitFields(line, 3);
  if (key === 'ready' && value === undefined) return ok({ kind: 'config-ready' });
  if (key === '') return problem('config line without a key', line);
  return ok({ kind: 'config', key, value: value ?? '' });
}

/**
 * The fields every report and request starts with, read in place from the
 * bars at b1..b4 (`TYPE|VERSION|TS|SUBSYSTEM|`): the envelope, or why not.
 */
function envelopeAt(line: string, b1: number, b2: number, b3: number, b4: number): Envelope3 | string {
  const version = versionAt(line, b1 + 1, b2);
  if (version !== '0.6' && version !== '0.7' && !isVersion(version)) return `bad protocol version "${version.slice(0, 20)}"`;
  const timestamp = timestampAt(line, b2 + 1, b3);
  if (Number.isNaN(timestamp)) return `bad timestamp "${line.slice(b2 + 1, Math.min(b3, b2 + 31))}"`;
  if (b4 === b3 + 1) return 'empty subsystem';
  return { version, timestamp, subsystem: subsystemAt(line, b3 + 1, b4) };
}

interface Envelope3 {
  readonly version: string;
  readonly timestamp: number;
  readonly subsystem: string;
}

function parseReport(line: string): Result<InputLine, ParseProblem> {
  // report|VERSION|TS|SUBSYSTEM|EVENT|SESSION[|PARAMS], scanned in place
  const b1 = 6;
  const b2 = line.indexOf('|', b1 + 1);
  const b3 = b2 < 0 ? -1 : line.indexOf('|', b2 + 1);
  const b4 = b3 < 0 ? -1 : line.indexOf('|', b3 + 1);
  const b5 = b4 < 0 ? -1 : line.indexOf('|', b4 + 1);
  if (b5 < 0) return problem('report line with fewer than 6 fields', line);
  const b6 = line.indexOf('|', b5 + 1);
  const env = envelopeAt(line, b1, b2, b3, b4);
  if (typeof env === 'string') return problem(env, line);
  const idEnd = b6 < 0 ? line.length : b6;
  if (!isHex16At(line, b5 + 1, idEnd)) return problem('session id is not 16 hex digits', line);
  const sessionId = line.slice(b5 + 1, idEnd);
  const params = b6 < 0 ? undefined : line.slice(b6 + 1);
  const name = nameAt(line, b4 + 1, b5, EVENTS_BY_FREQUENCY) ?? line.slice(b4 + 1, b5);
  const event = parseReportEvent(name, env.version, params);
  if (event === null) return ok({ kind: 'unknown', type: 'report', name, request: null, line: shortenForLog(line) });
  if (typeof event === 'string') return problem(`${name}: ${event}`, line);
  return ok({ kind: 'report', version: env.version, timestamp: env.timestamp, subsystem: env.subsystem, sessionId, event });
}

/** Exactly `n` fields of `params`, or why not. */
function need(params: string | undefined, n: number): string[] | string {
  if (params === undefined) return 'missing parameters';
  const fields = splitFields(params, n);
  return fields.length === n ? fields : `expected ${n} parameters`;
}

/** `^[0-9a-fA-F]+$` */
function isHex(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) continue;
    const lower = c | 0x20;
    if (lower < 97 || lower > 102) return false;
  }
  return true;
}

/** null: an event we do not know (forward compatibility); string: a malformed known event. */
function parseReportEvent(name: string, version: string, params: string | undefined): ReportEvent | string | null {
  const p = params ?? '';
  switch (name) {
    case 'link-connect': {
      // rdns|fcrdns|src|dest: the last three never contain `|`, so split from the right
      // and keep whatever is left as the PTR name.
      const c3 = p.lastIndexOf('|');
      const c2 = c3 <= 0 ? -1 : p.lastIndexOf('|', c3 - 1);
      const c1 = c2 <= 0 ? -1 : p.lastIndexOf('|', c2 - 1);
      if (params === undefined || c1 < 0) return 'expected rdns|fcrdns|src|dest';
      return { type: 'link-connect', rdns: p.slice(0, c1), fcrdns: p.slice(c1 + 1, c2), src: p.slice(c2 + 1, c3), dest: p.slice(c3 + 1) };
    }
    case 'link-greeting':
      return params === undefined ? 'missing hostname' : { type: 'link-greeting', hostname: p };
    case 'link-identify': {
      const f = need(params, 2);
      if (typeof f === 'string') return f;
      return { type: 'link-identify', method: f[0] ?? '', identity: f[1] ?? '' };
    }
    case 'link-tls':
      return params === undefined ? 'missing tls string' : { type: 'link-tls', tls: p };
    case 'link-auth': {
      if (params === undefined || !p.includes('|')) return 'expected two parameters';
      if (atLeast07(version)) {
        // 0.7+: result|username, the client-chosen name last.
        const [result = '', username = ''] = splitFields(p, 2);
        return { type: 'link-auth', result, username };
      }
      // ≤0.6: username|result, and the username may contain `|`: the result is the LAST field.
      const bar = p.lastIndexOf('|');
      return { type: 'link-auth', username: p.slice(0, bar), result: p.slice(bar + 1) };
    }
    case 'link-disconnect':
      return { type: 'link-disconnect' };
    case 'timeout':
      return { type: 'timeout' };
    case 'tx-reset':
      if (params === undefined || p === '') return { type: 'tx-reset', messageId: null };
      return isHex(p) ? { type: 'tx-reset', messageId: p } : 'bad message id';
    case 'tx-begin':
    case 'tx-rollback':
      if (!isHex(p)) return 'bad message id';
      return name === 'tx-begin' ? { type: 'tx-begin', messageId: p } : { type: 'tx-rollback', messageId: p };
    case 'tx-mail':
    case 'tx-rcpt': {
      const a = p.indexOf('|');
      const b = a < 0 ? -1 : p.indexOf('|', a + 1);
      if (params === undefined) return 'missing parameters';
      if (b < 0) return 'expected 3 parameters';
      const messageId = p.slice(0, a);
      if (!isHex(messageId)) return 'bad message id';
      let result: string;
      let address: string;
      if (atLeast06(version)) {
        result = p.slice(a + 1, b);
        address = p.slice(b + 1);
      } else {
        // 0.4/0.5: msgid|address|result; the address may contain `|`, the result is last.
        const rest = p.slice(messageId.length + 1);
        const bar = rest.lastIndexOf('|');
        address = rest.slice(0, bar);
        result = rest.slice(bar + 1);
      }
      return name === 'tx-mail'
        ? { type: 'tx-mail', messageId, result, address }
        : { type: 'tx-rcpt', messageId, result, address };
    }
    case 'tx-envelope': {
      const f = need(params, 2);
      if (typeof f === 'string') return f;
      const [messageId = '', envelopeId = ''] = f;
      if (!isHex(messageId) || !isHex(envelopeId)) return 'bad message or envelope id';
      return { type: 'tx-envelope', messageId, envelopeId };
    }
    case 'tx-data': {
      const f = need(params, 2);
      if (typeof f === 'string') return f;
      const [messageId = '', result = ''] = f;
      if (!isHex(messageId)) return 'bad message id';
      return { type: 'tx-data', messageId, result };
    }
    case 'tx-commit': {
      const f = need(params, 2);
      if (typeof f === 'string') return f;
      const [messageId = '', size = ''] = f;
      if (!isHex(messageId)) return 'bad message id';
      if (!DECIMAL.test(size)) return 'bad size';
      return { type: 'tx-commit', messageId, size: Number(size) };
    }
    case 'protocol-client':
      return params === undefined ? 'missing command' : { type: 'protocol-client', command: p };
    case 'protocol-server':
      return params === undefined ? 'missing response' : { type: 'protocol-server', response: p };
    case 'filter-report': {
      const f = need(params, 3);
      if (typeof f === 'string') return f;
      return { type: 'filter-report', filterKind: f[0] ?? '', name: f[1] ?? '', message: f[2] ?? '' };
    }
    case 'filter-response': {
      if (params === undefined || !p.includes('|')) return 'expected phase|response[|param]';
      const [phase = '', response = '', param] = splitFields(p, 3);
      return { type: 'filter-response', phase, response, param: param ?? null };
    }
    default:
      return null;
  }
}

function parseFilter(line: string): Result<InputLine, ParseProblem> {
  // filter|VERSION|TS|SUBSYSTEM|PHASE|SESSION|TOKEN|PARAM, scanned in place
  const b1 = 6;
  const b2 = line.indexOf('|', b1 + 1);
  const b3 = b2 < 0 ? -1 : line.indexOf('|', b2 + 1);
  const b4 = b3 < 0 ? -1 : line.indexOf('|', b3 + 1);
  const b5 = b4 < 0 ? -1 : line.indexOf('|', b4 + 1);
  const b6 = b5 < 0 ? -1 : line.indexOf('|', b5 + 1);
  if (b6 < 0) return problem('filter line with fewer than 7 fields', line);
  const b7 = line.indexOf('|', b6 + 1);
  const env = envelopeAt(line, b1, b2, b3, b4);
  if (typeof env === 'string') return problem(env, line);
  const tokenEnd = b7 < 0 ? line.length : b7;
  if (!isHex16At(line, b5 + 1, b6)) return problem('session id is not 16 hex digits', line);
  if (!isHex16At(line, b6 + 1, tokenEnd)) return problem('token is not 16 hex digits', line);
  const sessionId = line.slice(b5 + 1, b6);
  const token = line.slice(b6 + 1, tokenEnd);
  const phase = nameAt(line, b4 + 1, b5, PHASES_BY_FREQUENCY);
  if (phase === null) {
    return ok({
      kind: 'unknown',
      type: 'filter',
      name: line.slice(b4 + 1, b5),
      request: { sessionId, token, version: env.version },
      line: shortenForLog(line),
    });
  }
  // smtpd always sends the separator before an empty parameter; tolerate its absence.
  const param = b7 < 0 ? '' : line.slice(b7 + 1);
  return ok({ kind: 'filter', version: env.version, timestamp: env.timestamp, subsystem: env.subsystem, phase, sessionId, token, param });
}

/** `rdns|src` of a connect request. `<unknown>` → null rdns. */
export function parseConnectParam(param: string): ConnectParam {
  const bar = param.lastIndexOf('|');
  const rdns = bar < 0 ? '' : param.slice(0, bar);
  return { rdns: rdns === '<unknown>' || rdns === '' ? null : rdns, src: param.slice(bar + 1) };
}

/** A link-connect address split into its parts. */
export interface Endpoint {
  /** IP address without brackets or port; "" for the local socket. */
  readonly address: string;
  readonly port: number | null;
  /** True for `unix:/path` (smtpd's local enqueue socket). */
  readonly local: boolean;
}

/** `a.b.c.d:port`, `[v6]:port` or `unix:/path`. Anything else is kept whole as the address. */
export function parseEndpoint(text: string): Endpoint {
  if (text.startsWith('unix:')) return { address: '', port: null, local: true };
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close > 0) {
      const port = text.slice(close + 1).startsWith(':') ? toPort(text.slice(close + 2)) : null;
      return { address: text.slice(1, close), port, local: false };
    }
    return { address: text, port: null, local: false };
  }
  const colon = text.lastIndexOf(':');
  // One colon: IPv4 with a port. Several without brackets: a bare IPv6 address.
  if (colon > 0 && text.indexOf(':') === colon) {
    return { address: text.slice(0, colon), port: toPort(text.slice(colon + 1)), local: false };
  }
  return { address: text, port: null, local: false };
}

function toPort(text: string): number | null {
  if (!DECIMAL.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}
