/**
 * An independent referee for what the filter writes, built from the protocol
 * document (protocol.md §2, §3, §5), not from the filter's own parser: it
 * watches the bytes going in and the lines coming out, in order, and records
 * every violation of:
 *
 *  - every line written is one smtpd accepts (a register line during the
 *    handshake, a filter-result with a valid decision for the request's phase,
 *    a filter-dataline during a data stream), without CR or NUL;
 *  - nothing is written for a request that was not received (or was dropped:
 *    its session disconnected, or smtpd reused the id);
 *  - every well-formed filter request gets exactly one answer: never two, and
 *    none left open once time has moved past every deadline (`finish`);
 *  - every data line is echoed exactly once, in order.
 *
 * "Well-formed" is decided here with the protocol's own rules: after
 * `config|ready`, `filter|VERSION|TS|SUBSYSTEM|PHASE|SESSION|TOKEN[|PARAM]`
 * with a major.minor version, a decimal timestamp, a non-empty subsystem, a
 * phase smtpd knows, and 16-hex-digit ids.
 */
import { FILTER_PHASES } from '../../../src/model/phases.js';

const HEX16 = /^[0-9a-fA-F]{16}$/;
const VERSION = /^[0-9]+\.[0-9]+$/;
const TIMESTAMP = /^[0-9]+(\.[0-9]+)?$/;
/** `[45]xy`, one space, text without control characters other than tab; at most 510 characters. */
const REPLY = /^[45][0-9][0-9] [^\x00-\x08\x0a-\x1f\x7f]+$/;
const HEADER = /^[\x21-\x39\x3b-\x7e]+:/;
const REWRITE_PHASES = new Set(['helo', 'ehlo', 'mail-from', 'rcpt-to', 'auth']);
const PHASES: ReadonlySet<string> = new Set(FILTER_PHASES);

const ALLOWED_REGISTER = /^register\|(ready|filter\|smtp-in\|[a-z-]+|report\|smtp-in\|[a-z-]+)$/;

interface OpenRequest {
  readonly phase: string;
  readonly line: number;
}

export interface OracleOptions {
  /** Input lines longer than this are dropped by the filter (LineReader's limit). */
  readonly maxLineBytes: number;
}

function split(line: string, max: number): string[] {
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

/** A filter request as the protocol defines one (see the top of this file). */
export interface WellFormedRequest {
  readonly phase: string;
  readonly sessionId: string;
  readonly token: string;
  /** Everything after the token; "" when the line ends with it. */
  readonly param: string;
}

/**
 * `filter|VERSION|TS|SUBSYSTEM|PHASE|SESSION|TOKEN[|PARAM]` with a major.minor
 * version, a decimal timestamp, a non-empty subsystem, a phase smtpd knows and
 * 16-hex-digit ids, or null: the protocol's rule, written from protocol.md with
 * a split and regular expressions, not with the filter's scanner.
 */
export function requestOf(line: string): WellFormedRequest | null {
  if (!line.startsWith('filter|')) return null;
  const f = split(line, 8);
  if (f.length < 7) return null;
  const [, version = '', ts = '', subsystem = '', phase = '', sessionId = '', token = '', param = ''] = f;
  if (!VERSION.test(version) || !TIMESTAMP.test(ts) || subsystem === '' || !PHASES.has(phase) || !HEX16.test(sessionId) || !HEX16.test(token)) return null;
  return { phase, sessionId, token, param };
}

/** The fields a report starts with, well formed. */
export interface WellFormedReport {
  readonly subsystem: string;
  readonly event: string;
  readonly sessionId: string;
  /** Everything after the session id; undefined when the line ends with it. */
  readonly params: string | undefined;
}

/**
 * `report|VERSION|TS|SUBSYSTEM|EVENT|SESSION[|PARAMS]` with the same rules for
 * the shared fields as requestOf (any event name), or null.
 */
export function reportOf(line: string): WellFormedReport | null {
  if (!line.startsWith('report|')) return null;
  const f = split(line, 7);
  if (f.length < 6) return null;
  const [, version = '', ts = '', subsystem = '', event = '', sessionId = '', params] = f;
  if (!VERSION.test(version) || !TIMESTAMP.test(ts) || subsystem === '' || !HEX16.test(sessionId)) return null;
  return { subsystem, event, sessionId, params };
}

/**
 * A link-disconnect, or a link-connect (a reused id), of an smtp-in session:
 * both end (or restart) it, and smtpd will never take an answer for it any more.
 */
function endsSession(r: WellFormedReport): boolean {
  if (r.subsystem !== 'smtp-in') return false;
  return r.event === 'link-disconnect' || (r.event === 'link-connect' && r.params !== undefined && r.params.split('|').length >= 4);
}

export class ProtocolOracle {
  readonly violations: string[] = [];
  /** Counters for the report. */
  requests = 0;
  answers = 0;
  dataLines = 0;
  private ready = false;
  private registered = false;
  private pendingBytes: Buffer[] = [];
  private inputLines = 0;
  private readonly open = new Map<string, OpenRequest>();
  /** (session|token) → data lines received and not yet echoed, in order (null: may be dropped, e.g. it holds NUL). */
  private readonly echoes = new Map<string, (string | null)[]>();

  constructor(private readonly options: OracleOptions) {}

  /** Bytes fed to the filter, in order. */
  input(data: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) {
        if (start < data.length) this.pendingBytes.push(data.subarray(start));
        return;
      }
      this.pendingBytes.push(data.subarray(start, nl));
      const line = Buffer.concat(this.pendingBytes);
      this.pendingBytes = [];
      start = nl + 1;
      this.inputLine(line);
    }
  }

  /** Lines the filter wrote (without `\n`), in order, after the input that caused them. */
  output(lines: readonly string[]): void {
    for (const l of lines) this.outputLine(l);
  }

  /** Requests still open (call after time moved past every deadline: they must have been answered). */
  finish(): void {
    for (const [key, r] of this.open) {
      this.violations.push(`request ${r.phase} ${key} (input line ${r.line}) never answered`);
    }
    for (const [key, q] of this.echoes) {
      if (q.some((l) => l !== null)) this.violations.push(`data lines of ${key} never echoed: ${q.length}`);
    }
  }

  get openCount(): number {
    return this.open.size;
  }

  private inputLine(bytes: Buffer): void {
    this.inputLines++;
    if (bytes.length > this.options.maxLineBytes) return;
    const line = bytes.toString('latin1');
    if (!this.ready) {
      if (line === 'config|ready') this.ready = true;
      return;
    }
    if (line.startsWith('report|')) {
      const r = reportOf(line);
      if (r !== null && endsSession(r)) this.dropSession(r.sessionId);
      return;
    }
    const request = requestOf(line);
    if (request === null) return;
    const { phase, param } = request;
    const key = `${request.sessionId}|${request.token}`;
    if (phase === 'data-line') {
      this.dataLines++;
      const q = this.echoes.get(key) ?? [];
      q.push(param.includes('\0') ? null : param);
      this.echoes.set(key, q);
      return;
    }
    this.requests++;
    // smtpd never has two requests open on one (session, token): a new one means the old is stale.
    this.open.set(key, { phase, line: this.inputLines });
  }

  private dropSession(sid: string): void {
    for (const key of [...this.open.keys()]) if (key.startsWith(`${sid}|`)) this.open.delete(key);
  }

  private outputLine(line: string): void {
    const bad = (why: string): void => {
      this.violations.push(`${why}: ${JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}…` : line)}`);
    };
    if (line.includes('\r')) {
      // Only a data-line echo may carry the CR smtpd itself sent.
      if (!line.startsWith('filter-dataline|')) return bad('CR in an output line');
    }
    if (line.includes('\0')) return bad('NUL in an output line');
    if (line.startsWith('register|')) {
      if (this.registered) return bad('register line after register|ready');
      if (!ALLOWED_REGISTER.test(line)) return bad('malformed register line');
      if (line === 'register|ready') this.registered = true;
      return;
    }
    if (!this.registered) return bad('protocol line before register|ready');
    if (line.startsWith('filter-result|')) {
      const f = split(line, 5);
      const [, sid = '', token = '', decision = '', param] = f;
      const key = `${sid}|${token}`;
      const req = this.open.get(key);
      if (req === undefined) return bad('answer to no open request');
      this.open.delete(key);
      this.answers++;
      switch (decision) {
        case 'proceed':
          if (param !== undefined) bad('proceed with a parameter');
          return;
        case 'junk':
          if (param !== undefined) bad('junk with a parameter');
          if (req.phase === 'commit') bad('junk at commit');
          return;
        case 'reject':
        case 'disconnect':
          if (param === undefined || !REPLY.test(param) || param.length > 510) bad(`invalid ${decision} reply`);
          return;
        case 'rewrite':
          if (param === undefined || param === '' || param.includes('|')) bad('invalid rewrite value');
          if (!REWRITE_PHASES.has(req.phase)) bad(`rewrite at ${req.phase}`);
          return;
        default:
          return bad('unknown decision');
      }
    }
    if (line.startsWith('filter-dataline|')) {
      const [, sid = '', token = '', text] = split(line, 4);
      if (text === undefined) return bad('filter-dataline without a line');
      const key = `${sid}|${token}`;
      const q = this.echoes.get(key);
      if (q === undefined) return bad('data line for no data-line request');
      // Lines smtpd could never send (NUL) may be dropped, with a log line.
      while (q.length > 0 && q[0] === null && q[0] !== text) q.shift();
      if (q.length > 0 && q[0] === text) {
        q.shift();
        if (q.length === 0) this.echoes.delete(key);
        return;
      }
      if (HEADER.test(text)) return; // a header a step added, inserted before the message's first line
      return bad('data line that echoes no received line');
    }
    bad('unknown output line');
  }
}

/**
 * Whether one output line, on its own, is something smtpd accepts (no state:
 * for runs whose timing the referee cannot follow). Null when it is.
 */
export function syntaxProblem(line: string): string | null {
  if (line.includes('\0')) return 'NUL in an output line';
  if (line.startsWith('register|')) return ALLOWED_REGISTER.test(line) ? null : 'malformed register line';
  if (line.startsWith('filter-dataline|')) {
    const [, sid = '', token = '', text] = split(line, 4);
    return HEX16.test(sid) && HEX16.test(token) && text !== undefined ? null : 'malformed filter-dataline';
  }
  if (line.includes('\r')) return 'CR in an output line';
  if (line.startsWith('filter-result|')) {
    const [, sid = '', token = '', decision = '', param] = split(line, 5);
    if (!HEX16.test(sid) || !HEX16.test(token)) return 'bad ids in filter-result';
    switch (decision) {
      case 'proceed':
      case 'junk':
        return param === undefined ? null : `${decision} with a parameter`;
      case 'reject':
      case 'disconnect':
        return param !== undefined && REPLY.test(param) && param.length <= 510 ? null : `invalid ${decision} reply`;
      case 'rewrite':
        return param !== undefined && param !== '' && !param.includes('|') ? null : 'invalid rewrite value';
      default:
        return 'unknown decision';
    }
  }
  return 'unknown output line';
}

/**
 * The referee for a filter running in real time (a spawned process), where
 * the order of our lines against smtpd's cannot be known: it counts instead.
 * No key is answered more often than it was asked; every key asked after its
 * session's last disconnect is answered; data lines come back as received.
 */
export class CountingOracle {
  private ready = false;
  private pendingBytes: Buffer[] = [];
  /** key → requests received. */
  readonly asked = new Map<string, number>();
  /** key → answers seen. */
  readonly answered = new Map<string, number>();
  /** Keys asked after their session's last drop: an answer is owed. */
  private readonly owed = new Set<string>();
  /** key → data lines received (without NUL), and echoed, as multisets in order. */
  readonly received = new Map<string, string[]>();
  readonly echoed = new Map<string, string[]>();
  readonly violations: string[] = [];

  constructor(private readonly maxLineBytes: number) {}

  input(data: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) {
        if (start < data.length) this.pendingBytes.push(data.subarray(start));
        return;
      }
      this.pendingBytes.push(data.subarray(start, nl));
      const bytes = Buffer.concat(this.pendingBytes);
      this.pendingBytes = [];
      start = nl + 1;
      if (bytes.length <= this.maxLineBytes) this.inputLine(bytes.toString('latin1'));
    }
  }

  private inputLine(line: string): void {
    if (!this.ready) {
      if (line === 'config|ready') this.ready = true;
      return;
    }
    if (line.startsWith('report|')) {
      const r = reportOf(line);
      if (r !== null && endsSession(r)) {
        for (const k of [...this.owed]) if (k.startsWith(`${r.sessionId}|`)) this.owed.delete(k);
      }
      return;
    }
    const request = requestOf(line);
    if (request === null) return;
    const { phase, param } = request;
    const key = `${request.sessionId}|${request.token}`;
    if (phase === 'data-line') {
      if (!param.includes('\0')) this.received.set(key, [...(this.received.get(key) ?? []), param]);
      return;
    }
    this.asked.set(key, (this.asked.get(key) ?? 0) + 1);
    this.owed.add(key);
  }

  /** Every line the filter wrote (bytes shown one char per byte). */
  output(line: string): void {
    const problem = syntaxProblem(line);
    if (problem !== null) {
      this.violations.push(`${problem}: ${JSON.stringify(line.slice(0, 200))}`);
      return;
    }
    if (line.startsWith('filter-result|')) {
      const [, sid = '', token = ''] = split(line, 4);
      const key = `${sid}|${token}`;
      const n = (this.answered.get(key) ?? 0) + 1;
      this.answered.set(key, n);
      if (n > (this.asked.get(key) ?? 0)) this.violations.push(`more answers than requests for ${key}`);
    } else if (line.startsWith('filter-dataline|')) {
      const [, sid = '', token = '', text = ''] = split(line, 4);
      const key = `${sid}|${token}`;
      this.echoed.set(key, [...(this.echoed.get(key) ?? []), text]);
    }
  }

  /** Answers still owed (empty once the filter caught up). */
  missing(): string[] {
    return [...this.owed].filter((k) => (this.answered.get(k) ?? 0) === 0);
  }

  finish(): void {
    for (const k of this.missing()) this.violations.push(`request ${k} never answered`);
    for (const [k, lines] of this.received) {
      const echoed = this.echoed.get(k) ?? [];
      if (JSON.stringify(echoed) !== JSON.stringify(lines)) {
        this.violations.push(`data lines of ${k}: ${lines.length} received, ${echoed.length} echoed, or not in order`);
      }
    }
    for (const k of this.echoed.keys()) if (!this.received.has(k)) this.violations.push(`data lines echoed for ${k}, never received`);
  }
}
