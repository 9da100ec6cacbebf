/**
 * Pure parser: one line from smtpd (without its `\n`) → InputLine or a
 * ParseProblem. Never throws. Fields are split with a maximum count, because
 * only the last field of a payload may contain `|` (protocol.md §3).
 */
import { FILTER_PHASES, REPORT_EVENTS, type FilterPhase } from '../model/phases.js';
import { err, ok, type Result } from '../support/result.js';
import type { ConnectParam, Endpoint, InputLine, ParseProblem, ReportEvent } from './types.js';

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

/**
 * `^[0-9a-fA-F]+$` on `line` from `start` to `end`, without slicing it out:
 * the one hex check (ids, tokens, message ids) the others call.
 */
function isHexAt(line: string, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    if (isDigit(c)) continue;
    const lower = c | 0x20; // only A-F and a-f land on a-f
    if (lower < 97 || lower > 102) return false;
  }
  return true;
}

/** `^[0-9a-fA-F]{16}$` on `line` from `start` to `end` (a session id or a token in place). */
function isHex16At(line: string, start: number, end: number): boolean {
  return end - start === 16 && isHexAt(line, start, end);
}

/** `^[0-9a-fA-F]{16}$` */
export function isHex16(s: string): boolean {
  return isHex16At(s, 0, s.length);
}

/** `^[0-9a-fA-F]+$` */
function isHex(s: string): boolean {
  return isHexAt(s, 0, s.length);
}

/** `^[0-9]+\.[0-9]+$` */
function isVersion(s: string): boolean {
  const dot = s.indexOf('.');
  if (dot < 1 || dot === s.length - 1) return false;
  for (let i = 0; i < s.length; i++) if (i !== dot && !isDigit(s.charCodeAt(i))) return false;
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
  const bar = nextBar(line, nextBar(line, nextBar(line, TYPE_BAR))); // the bar before EVENT
  if (bar < 0) return false;
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

/** Where the bar after `report` or `filter` is: both names have six letters. */
const TYPE_BAR = 6;

/** The bar after the one at `bar`, or -1 when there is none (or `bar` is -1 already). */
function nextBar(line: string, bar: number): number {
  return bar < 0 ? -1 : line.indexOf('|', bar + 1);
}

/**
 * What every report and request starts with, `TYPE|VERSION|TS|SUBSYSTEM|NAME|SESSION`,
 * scanned in place: the checked envelope and session id, and where the name
 * and what follows the session id are. One object per line and no slices
 * but the values kept: parseReport and parseFilter run for every line smtpd sends.
 */
interface Head {
  readonly version: string;
  readonly timestamp: number;
  readonly subsystem: string;
  readonly sessionId: string;
  /** The event or phase name runs from `nameStart` to the bar at `nameEnd`. */
  readonly nameStart: number;
  readonly nameEnd: number;
  /** The bar after the session id, or -1 when the line ends with it. */
  readonly afterSession: number;
}

/**
 * The head of a `report|` line (`fields` 6: the session id may end the line)
 * or a `filter|` line (7: a token must follow it), or why not. The checks come
 * in the order the problems were always reported in: field count, version,
 * timestamp, subsystem, session id.
 */
function headAt(line: string, type: 'report' | 'filter', fields: 6 | 7): Head | string {
  // bN is the line's N-th bar; the first, TYPE_BAR, ends the type.
  const b2 = nextBar(line, TYPE_BAR);
  const b3 = nextBar(line, b2);
  const b4 = nextBar(line, b3);
  const b5 = nextBar(line, b4);
  const b6 = nextBar(line, b5);
  if (b5 < 0 || (fields === 7 && b6 < 0)) return `${type} line with fewer than ${fields} fields`;
  const version = versionAt(line, TYPE_BAR + 1, b2);
  if (version !== '0.6' && version !== '0.7' && !isVersion(version)) return `bad protocol version "${version.slice(0, 20)}"`;
  const timestamp = timestampAt(line, b2 + 1, b3);
  if (Number.isNaN(timestamp)) return `bad timestamp "${line.slice(b2 + 1, Math.min(b3, b2 + 31))}"`;
  if (b4 === b3 + 1) return 'empty subsystem';
  const idEnd = b6 < 0 ? line.length : b6;
  if (!isHex16At(line, b5 + 1, idEnd)) return 'session id is not 16 hex digits';
  return {
    version,
    timestamp,
    subsystem: subsystemAt(line, b3 + 1, b4),
    sessionId: line.slice(b5 + 1, idEnd),
    nameStart: b4 + 1,
    nameEnd: b5,
    afterSession: b6,
  };
}

function parseReport(line: string): Result<InputLine, ParseProblem> {
  // report|VERSION|TS|SUBSYSTEM|EVENT|SESSION[|PARAMS]
  const head = headAt(line, 'report', 6);
  if (typeof head === 'string') return problem(head, line);
  const params = head.afterSession < 0 ? undefined : line.slice(head.afterSession + 1);
  const name = nameAt(line, head.nameStart, head.nameEnd, EVENTS_BY_FREQUENCY) ?? line.slice(head.nameStart, head.nameEnd);
  const event = parseReportEvent(name, head.version, params);
  if (event === null) return ok({ kind: 'unknown', type: 'report', name, request: null, line: shortenForLog(line) });
  if (typeof event === 'string') return problem(`${name}: ${event}`, line);
  const { version, timestamp, subsystem, sessionId } = head;
  return ok({ kind: 'report', version, timestamp, subsystem, sessionId, event });
}

/** Exactly `n` fields of `params`, or why not. */
function need(params: string | undefined, n: number): string[] | string {
  if (params === undefined) return 'missing parameters';
  const fields = splitFields(params, n);
  return fields.length === n ? fields : `expected ${n} parameters`;
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
      const srcText = p.slice(c2 + 1, c3);
      return {
        type: 'link-connect',
        rdns: rdnsOf(p.slice(0, c1)),
        fcrdns: p.slice(c1 + 1, c2),
        src: parseEndpoint(srcText),
        dest: parseEndpoint(p.slice(c3 + 1)),
        srcText,
      };
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
  // filter|VERSION|TS|SUBSYSTEM|PHASE|SESSION|TOKEN|PARAM
  const head = headAt(line, 'filter', 7);
  if (typeof head === 'string') return problem(head, line);
  const b7 = nextBar(line, head.afterSession);
  const tokenEnd = b7 < 0 ? line.length : b7;
  if (!isHex16At(line, head.afterSession + 1, tokenEnd)) return problem('token is not 16 hex digits', line);
  const { version, timestamp, subsystem, sessionId } = head;
  const token = line.slice(head.afterSession + 1, tokenEnd);
  const phase = nameAt(line, head.nameStart, head.nameEnd, PHASES_BY_FREQUENCY);
  if (phase === null) {
    return ok({
      kind: 'unknown',
      type: 'filter',
      name: line.slice(head.nameStart, head.nameEnd),
      request: { sessionId, token, version },
      line: shortenForLog(line),
    });
  }
  // smtpd always sends the separator before an empty parameter; tolerate its absence.
  const param = b7 < 0 ? '' : line.slice(b7 + 1);
  return ok({ kind: 'filter', version, timestamp, subsystem, phase, sessionId, token, param });
}

/**
 * An rdns field as a value: smtpd writes `<unknown>` when the client has no
 * PTR name (link-connect and the connect request alike); an empty field is
 * taken the same way. The one place that literal is known.
 */
function rdnsOf(text: string): string | null {
  return text === '<unknown>' || text === '' ? null : text;
}

/** smtpd's local socket: link-connect's `unix:/path`, the connect request's `local`. */
const LOCAL_SOCKET: Endpoint = Object.freeze({ address: '', port: null, local: true });

/**
 * `rdns|src` of a connect request, parsed as link-connect is: `<unknown>` →
 * null rdns, `local` → the local socket, `[v6]` without its brackets.
 */
export function parseConnectParam(param: string): ConnectParam {
  const bar = param.lastIndexOf('|');
  const srcText = param.slice(bar + 1);
  return {
    rdns: rdnsOf(bar < 0 ? '' : param.slice(0, bar)),
    src: srcText === 'local' ? LOCAL_SOCKET : parseEndpoint(srcText),
    srcText,
  };
}

/** `a.b.c.d:port`, `[v6]:port` or `unix:/path`. Anything else is kept whole as the address. */
export function parseEndpoint(text: string): Endpoint {
  if (text.startsWith('unix:')) return LOCAL_SOCKET;
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
