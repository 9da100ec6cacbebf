/**
 * Protocol lines built from values, for the code that plays smtpd: the `test`
 * and `replay` tools and the test harnesses. The builders are the inverse of
 * parse.ts and write smtpd's own formats (protocol.md §2.1, §4, §5.2), so
 * `parseInputLine(reportLine(x))` gives x back, in 0.6 and in 0.7 order.
 * parseOutputLine is the inverse of format.ts: it reads back what the filter
 * wrote, so the tools never take a line apart by hand.
 *
 * The filter itself never calls these: it parses what smtpd sends and formats
 * what it answers. Pure, no validation beyond the structure: a builder writes
 * the fields it is given (smtpd's lines carry any text in their last field),
 * and only the last field of a line may contain `|` if it is to parse back
 * the same.
 */
import type { FilterDecision } from '../model/decision.js';
import { isFilterPhase, isReportEventName, type FilterPhase, type ReportEventName } from '../model/phases.js';
import { err, ok, type Result } from '../support/result.js';
import type { SmtpdConfig } from './handshake.js';
import { compareVersions, isHex16, shortenForLog, splitFields } from './parse.js';
import type { Endpoint, Envelope, FilterRequestLine, ParseProblem, ReportEvent, ReportLine } from './types.js';

/** A report line's values (a ReportLine, without its kind). */
export type ReportFields = Omit<ReportLine, 'kind'>;
/** A filter request's values (a FilterRequestLine, without its kind). */
export type RequestFields = Omit<FilterRequestLine, 'kind'>;
/** What smtpd says in the handshake: what HandshakeCollector collects, without the keys it does not know. */
export type SmtpdHello = Omit<SmtpdConfig, 'unknownKeys'>;

/** What Debian 12's smtpd 6.8.0p2 says, on a host named `localhost` (protocol.md §2.1). */
export const SMTPD_68: SmtpdHello = {
  smtpdVersion: '6.8.0p2',
  protocol: null,
  sessionTimeoutSeconds: 300,
  subsystems: ['smtp-in'],
  admd: 'localhost',
};

/** smtpd's `rdns` when there is no PTR name (link-connect and the connect request). */
const UNKNOWN_RDNS = '<unknown>';
/** smtpd's local enqueue socket (SMTPD_SOCKET), link-connect's `src` and `dest` for `sendmail`/`mail` (protocol.md §4). */
const LOCAL_SOCKET_TEXT = 'unix:/var/run/smtpd.sock';

/**
 * The `config|` lines of the handshake, in smtpd's order, ending with
 * `config|ready`. 7.6+ puts `protocol` right after `smtpd-version`; a null
 * value is a line smtpd does not send (6.8 sends no `protocol`, 6.7 no `admd`).
 */
export function configLines(hello: SmtpdHello): string[] {
  const lines: string[] = [];
  if (hello.smtpdVersion !== null) lines.push(`config|smtpd-version|${hello.smtpdVersion}`);
  if (hello.protocol !== null) lines.push(`config|protocol|${hello.protocol}`);
  if (hello.sessionTimeoutSeconds !== null) lines.push(`config|smtp-session-timeout|${hello.sessionTimeoutSeconds}`);
  for (const subsystem of hello.subsystems) lines.push(`config|subsystem|${subsystem}`);
  if (hello.admd !== null) lines.push(`config|admd|${hello.admd}`);
  lines.push('config|ready');
  return lines;
}

/** `report|VERSION|TS|SUBSYSTEM|EVENT|SESSION[|PARAMS]`, the parameters in the order of `version`. */
export function reportLine(fields: ReportFields): string {
  return reportLineOf(fields, fields.event.type, eventParams(fields.event, fields.version));
}

/**
 * A report line with its parameters given as text: for an event written
 * verbatim (tests that state the wire form) or one ReportEvent does not know
 * (a future event). null parameters: the line ends after the session id, as
 * `link-disconnect` and `timeout` do.
 */
export function reportLineOf(head: Envelope, event: string, params: string | null): string {
  const tail = params === null ? '' : `|${params}`;
  return `report|${head.version}|${timestampText(head.timestamp)}|${head.subsystem}|${event}|${head.sessionId}${tail}`;
}

/**
 * `filter|VERSION|TS|SUBSYSTEM|PHASE|SESSION|TOKEN|PARAM`. The separator
 * before the parameter is always written, an empty parameter too, as smtpd does.
 */
export function filterLine(fields: RequestFields): string {
  return `filter|${fields.version}|${timestampText(fields.timestamp)}|${fields.subsystem}|${fields.phase}|${fields.sessionId}|${fields.token}|${fields.param}`;
}

/**
 * An endpoint as link-connect writes it: `a.b.c.d:port`, `[v6]:port`,
 * `unix:/var/run/smtpd.sock`; without a port, the address alone (`[v6]`).
 * The inverse of parseEndpoint.
 */
export function endpointText(endpoint: Endpoint): string {
  if (endpoint.local) return LOCAL_SOCKET_TEXT;
  const address = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
  return endpoint.port === null ? address : `${address}:${endpoint.port}`;
}

/**
 * The connect request's parameter, `rdns|src`: src without a port, `local`
 * for the local socket. The inverse of parseConnectParam.
 */
export function connectParam(rdns: string | null, src: Endpoint): string {
  return `${rdns ?? UNKNOWN_RDNS}|${src.local ? 'local' : endpointText({ ...src, port: null })}`;
}

/** smtpd's `%lld.%06ld`: seconds, then always six digits of microseconds. */
function timestampText(seconds: number): string {
  return seconds.toFixed(6);
}

/**
 * The version-dependent orders are the parser's (parse.ts): link-auth swapped
 * in 0.7, tx-mail/tx-rcpt in 0.6. link-connect's endpoints are written from
 * their values; `srcText` is not read (for a parsed line, it is that text).
 */
function eventParams(event: ReportEvent, version: string): string | null {
  switch (event.type) {
    case 'link-connect':
      return `${event.rdns ?? UNKNOWN_RDNS}|${event.fcrdns}|${endpointText(event.src)}|${endpointText(event.dest)}`;
    case 'link-greeting':
      return event.hostname;
    case 'link-identify':
      return `${event.method}|${event.identity}`;
    case 'link-tls':
      return event.tls;
    case 'link-auth':
      return compareVersions(version, '0.7') >= 0 ? `${event.result}|${event.username}` : `${event.username}|${event.result}`;
    case 'link-disconnect':
    case 'timeout':
      return null;
    case 'tx-reset':
    case 'tx-begin':
    case 'tx-rollback':
      return event.messageId;
    case 'tx-mail':
    case 'tx-rcpt':
      return compareVersions(version, '0.6') >= 0
        ? `${event.messageId}|${event.result}|${event.address}`
        : `${event.messageId}|${event.address}|${event.result}`;
    case 'tx-envelope':
      return `${event.messageId}|${event.envelopeId}`;
    case 'tx-data':
      return `${event.messageId}|${event.result}`;
    case 'tx-commit':
      return `${event.messageId}|${event.size}`;
    case 'protocol-client':
      return event.command;
    case 'protocol-server':
      return event.response;
    case 'filter-report':
      return `${event.filterKind}|${event.name}|${event.message}`;
    case 'filter-response':
      return event.param === null ? `${event.phase}|${event.response}` : `${event.phase}|${event.response}|${event.param}`;
  }
}

/**
 * A line the filter wrote, read back: an OutputLine without what is not on
 * the wire (the phase of the request a result answers, a data line's encoding).
 */
export type WrittenLine =
  | { readonly kind: 'register-filter'; readonly subsystem: 'smtp-in'; readonly phase: FilterPhase }
  | { readonly kind: 'register-report'; readonly subsystem: 'smtp-in'; readonly event: ReportEventName }
  | { readonly kind: 'register-ready' }
  | { readonly kind: 'filter-result'; readonly sessionId: string; readonly token: string; readonly decision: FilterDecision }
  | { readonly kind: 'filter-dataline'; readonly sessionId: string; readonly token: string; readonly line: string };

/**
 * One line the filter wrote (without its `\n`), or why it is not one
 * format.ts can write. Structure only: whether smtpd takes the reply or the
 * decision at the request's phase is format.ts's check, made before writing.
 */
export function parseOutputLine(line: string): Result<WrittenLine, ParseProblem> {
  if (line.startsWith('filter-result|')) {
    const [, sessionId = '', token = '', word = '', param] = splitFields(line, 5);
    const bad = idsProblem(sessionId, token);
    if (bad !== null) return problem(bad, line);
    const decision = decisionOf(word, param);
    return typeof decision === 'string' ? problem(decision, line) : ok({ kind: 'filter-result', sessionId, token, decision });
  }
  if (line.startsWith('filter-dataline|')) {
    const [, sessionId = '', token = '', text] = splitFields(line, 4);
    const bad = idsProblem(sessionId, token);
    if (bad !== null) return problem(bad, line);
    if (text === undefined) return problem('filter-dataline without a line', line);
    return ok({ kind: 'filter-dataline', sessionId, token, line: text });
  }
  if (line === 'register|ready') return ok({ kind: 'register-ready' });
  if (line.startsWith('register|')) {
    const [, what, subsystem, name = ''] = splitFields(line, 4);
    if (subsystem !== 'smtp-in') return problem('register line not for smtp-in', line);
    if (what === 'filter' && isFilterPhase(name)) return ok({ kind: 'register-filter', subsystem, phase: name });
    if (what === 'report' && isReportEventName(name)) return ok({ kind: 'register-report', subsystem, event: name });
    return problem('unknown register line', line);
  }
  return problem('not a line the filter writes', line);
}

/** The decision in `lines` (what the filter wrote) that answers the request (sessionId, token); undefined when none does. */
export function resultFor(lines: readonly string[], sessionId: string, token: string): FilterDecision | undefined {
  for (const line of lines) {
    const written = parseOutputLine(line);
    if (written.ok && written.value.kind === 'filter-result' && written.value.sessionId === sessionId && written.value.token === token) {
      return written.value.decision;
    }
  }
  return undefined;
}

/** The data lines in `lines` echoed for the session (and that token, when given), in order. */
export function dataLinesFor(lines: readonly string[], sessionId: string, token: string | null = null): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const written = parseOutputLine(line);
    if (!written.ok || written.value.kind !== 'filter-dataline' || written.value.sessionId !== sessionId) continue;
    if (token === null || written.value.token === token) out.push(written.value.line);
  }
  return out;
}

function idsProblem(sessionId: string, token: string): string | null {
  if (!isHex16(sessionId)) return 'session id is not 16 hex digits';
  if (!isHex16(token)) return 'token is not 16 hex digits';
  return null;
}

/** The decision of a filter-result (its word and, after the next `|`, its parameter), or why not. */
function decisionOf(word: string, param: string | undefined): FilterDecision | string {
  switch (word) {
    case 'proceed':
    case 'junk':
      return param === undefined ? { type: word } : `${word} with a parameter`;
    case 'reject':
    case 'disconnect':
      return param === undefined ? `${word} without a reply` : { type: word, reply: param };
    case 'rewrite':
      return param === undefined ? 'rewrite without a value' : { type: 'rewrite', value: param };
    default:
      return `unknown decision "${shortenForLog(word)}"`;
  }
}

function problem(reason: string, line: string): Result<never, ParseProblem> {
  return err({ reason, line: shortenForLog(line) });
}
