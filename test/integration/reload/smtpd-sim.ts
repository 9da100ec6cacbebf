/**
 * A node-side stand-in for smtpd, speaking the filter protocol to the real filter
 * process (`node dist/src/cli/main.js RULES`) over its stdin/stdout, for tests that
 * need more sessions, and more control over timing, than a real smtpd gives.
 *
 * It plays sessions recorded from smtpd 6.8 (test/fixtures/transcripts/smtpd-6.8/*.txt,
 * the `> ` lines) the way smtpd does:
 *  - only the report events and filter phases the filter registered are sent;
 *  - outside data-line, a session has at most one request outstanding: the next
 *    line of that session is sent once the answer came;
 *  - a data-line stream is sent whole, then the session waits for the filter's `.`;
 *  - tokens repeat across sessions (they name smtpd's chain entry, not a request),
 *    session ids are fresh per played session.
 * The answers do not change the script: a session is played as recorded whatever
 * the filter decided (a rejected MAIL FROM is still followed by the recorded RCPT).
 * The filter keeps no state that makes this matter, and it keeps every phase busy.
 *
 * Every line the filter writes is checked as smtpd 6.8 would (protocol.md §5.5): a
 * malformed line, an answer to no outstanding request, a second answer, a
 * filter-result during a data-line stream, a data line outside one — each is
 * recorded as a violation (smtpd would have exited on it) instead of thrown, so a
 * test sees all of them at the end.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is dist/test/integration/reload/smtpd-sim.js once built). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const FILTER_MAIN = join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js');
export const TRANSCRIPTS = join(PROJECT_ROOT, 'test', 'fixtures', 'transcripts', 'smtpd-6.8');

export const HANDSHAKE = [
  'config|smtpd-version|6.8.0p2',
  'config|smtp-session-timeout|300',
  'config|subsystem|smtp-in',
  'config|admd|vm',
  'config|ready',
];

/** One line smtpd sends in a recorded session, split where the sim needs it. */
export type TranscriptLine =
  | { readonly kind: 'report'; readonly event: string; readonly params: string | null }
  | { readonly kind: 'request'; readonly phase: string; readonly token: string; readonly param: string };

export interface Transcript {
  readonly name: string;
  readonly lines: readonly TranscriptLine[];
}

/** Splits `s` at the first `n` bars: the last field keeps its own bars (protocol.md §3). */
function splitN(s: string, n: number): string[] | null {
  const out: string[] = [];
  let rest = s;
  for (let i = 0; i < n; i++) {
    const bar = rest.indexOf('|');
    if (bar < 0) return null;
    out.push(rest.slice(0, bar));
    rest = rest.slice(bar + 1);
  }
  out.push(rest);
  return out;
}

/** Parses the smtpd side (`> ` lines) of a recorded session. */
export function parseTranscript(name: string, text: string): Transcript {
  const lines: TranscriptLine[] = [];
  for (const raw of text.split('\n')) {
    if (!raw.startsWith('> ')) continue;
    const line = raw.slice(2);
    if (line.startsWith('report|')) {
      // report|VERSION|TS|SUBSYSTEM|EVENT|SID[|PARAMS]
      const f = splitN(line, 5);
      if (f === null) throw new Error(`${name}: bad report line: ${line}`);
      const tail = f[5] ?? '';
      const bar = tail.indexOf('|');
      lines.push({ kind: 'report', event: f[4] ?? '', params: bar < 0 ? null : tail.slice(bar + 1) });
    } else if (line.startsWith('filter|')) {
      // filter|VERSION|TS|SUBSYSTEM|PHASE|SID|TOKEN|PARAM
      const f = splitN(line, 7);
      if (f === null) throw new Error(`${name}: bad filter line: ${line}`);
      lines.push({ kind: 'request', phase: f[4] ?? '', token: f[6] ?? '', param: f[7] ?? '' });
    } else {
      throw new Error(`${name}: unexpected line: ${line}`);
    }
  }
  return { name, lines };
}

/** Every recorded session in test/fixtures/transcripts/smtpd-6.8, sorted by name. */
export function loadTranscripts(dir = TRANSCRIPTS): Transcript[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.txt') && !f.endsWith('.client.txt'))
    .sort()
    .map((f) => parseTranscript(f, readFileSync(join(dir, f), 'utf8')));
}

/** The answer the filter gave to one request of a played session. */
export interface Answer {
  readonly phase: string;
  /** `proceed`, `junk`, `reject|550 …`, … or, for a data-line stream, `dataline` (lines echoed: see `lines`). */
  readonly decision: string;
  /** For data-line streams: the lines the filter sent back, without the final `.`. */
  readonly lines?: readonly string[];
  /** For data-line streams: the lines sent to the filter, without the final `.`. */
  readonly sent?: readonly string[];
}

export interface PlayedSession {
  readonly sessionId: string;
  readonly transcript: string;
  /** Order in which link-connect was written, across all sessions of this sim. */
  readonly connectSeq: number;
  readonly answers: readonly Answer[];
  /** Requests sent (data-line streams count once). */
  readonly requests: number;
}

interface Outstanding {
  readonly key: string;
  readonly phase: string;
  readonly dataLine: boolean;
  readonly resolve: (answer: Answer) => void;
  /** data-line only: lines received so far. */
  readonly lines: string[];
}

const HEX16 = /^[0-9a-f]{16}$/;
const REPLY = /^[45][0-9][0-9] [^\r\n]*$/;

function timestamp(): string {
  const ms = Date.now();
  return `${Math.floor(ms / 1000)}.${String((ms % 1000) * 1000).padStart(6, '0')}`;
}

/** One JSON log line of the filter (pino). */
export interface LogRecord {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface SimOptions {
  readonly rulesFile: string;
  readonly args?: readonly string[];
  /** Options for node itself, before the filter's path (e.g. `--import` of a test hook). */
  readonly nodeArgs?: readonly string[];
  readonly cwd?: string;
  /**
   * Called with every JSON log line of the filter as it arrives. The sim keeps only
   * the last lines (`stderrTail`): under load the filter logs megabytes.
   */
  readonly onLog?: (record: LogRecord) => void;
}

const STDERR_TAIL_LINES = 40;

export class SmtpdSim {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything smtpd would have died on, in order. */
  readonly violations: string[] = [];
  /** Filter phases and report events the filter registered. */
  readonly filters = new Set<string>();
  readonly reports = new Set<string>();
  /** The filter's last stderr lines, for failure messages. */
  readonly stderrTail: string[] = [];
  private stderrBuffered = '';
  /** Answer lines read (a data-line stream counts each of its lines). */
  answerLines = 0;
  private readonly outstanding = new Map<string, Outstanding>();
  private buffered = '';
  private registered = false;
  private readonly registeredWaiters: (() => void)[] = [];
  private nextSession = 0;
  private connectSeq = 0;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exitWaiters: (() => void)[] = [];

  constructor(options: SimOptions) {
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT'];
    this.child = spawn(process.execPath, [...(options.nodeArgs ?? []), FILTER_MAIN, ...(options.args ?? []), options.rulesFile], {
      cwd: options.cwd ?? '/',
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => this.onStderr(chunk, options.onLog));
    // A filter that dies mid-test must not also kill us with EPIPE.
    this.child.stdin.on('error', (e) => this.violations.push(`stdin: ${e.message}`));
    this.child.on('exit', (code, signal) => {
      this.exit = { code, signal };
      for (const w of this.exitWaiters.splice(0)) w();
      // Nothing outstanding can be answered any more.
      for (const o of this.outstanding.values()) o.resolve({ phase: o.phase, decision: '<filter exited>' });
      this.outstanding.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  alive(): boolean {
    return this.exit === null;
  }

  /** Resolves when the filter process has exited (by itself or killed). */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exit !== null) return Promise.resolve(this.exit);
    return new Promise((res) => this.exitWaiters.push(() => res(this.exit ?? { code: null, signal: null })));
  }

  /** Sends the config lines and waits for `register|ready`. */
  async handshake(timeoutMs = 10_000): Promise<void> {
    for (const line of HANDSHAKE) this.write(line);
    if (this.registered) return;
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no register|ready within ${timeoutMs} ms\n${this.stderrTail.join('\n')}`)), timeoutMs);
      this.registeredWaiters.push(() => {
        clearTimeout(t);
        res();
      });
    });
  }

  /** Requests sent and not answered yet. */
  get pending(): number {
    return this.outstanding.size;
  }

  /** Plays one recorded session to its end (its link-disconnect). */
  async play(transcript: Transcript): Promise<PlayedSession> {
    const sessionId = (0x5e55_0000_0000_0000n + BigInt(this.nextSession++)).toString(16).padStart(16, '0');
    const answers: Answer[] = [];
    let connectSeq = -1;
    let requests = 0;
    // The data-line stream in progress: its answer (the filter's `.`) and the lines sent.
    let stream: { answer: Promise<Answer>; sent: string[] } | null = null;
    for (const line of transcript.lines) {
      if (!this.alive()) break;
      if (line.kind === 'report') {
        // Reports go on during a data-line stream (smtpd sends 354 and tx-data after its first lines).
        if (!this.reports.has(line.event)) continue;
        if (line.event === 'link-connect') connectSeq = this.connectSeq++;
        const params = line.params === null ? '' : `|${line.params}`;
        this.write(`report|0.6|${timestamp()}|smtp-in|${line.event}|${sessionId}${params}`);
        continue;
      }
      if (!this.filters.has(line.phase)) continue;
      const request = `filter|0.6|${timestamp()}|smtp-in|${line.phase}|${sessionId}|${line.token}|${line.param}`;
      if (line.phase !== 'data-line') {
        requests++;
        const answer = this.expect(sessionId, line.token, line.phase, false);
        this.write(request);
        answers.push(await answer);
        continue;
      }
      // A data-line stream: every line up to the final `.` without waiting, then the filter's `.`.
      if (stream === null) {
        requests++;
        stream = { answer: this.expect(sessionId, line.token, 'data-line', true), sent: [] };
      }
      this.write(request);
      if (line.param !== '.') {
        stream.sent.push(line.param);
        continue;
      }
      answers.push({ ...(await stream.answer), sent: stream.sent });
      stream = null;
    }
    if (stream !== null) this.violations.push(`sim bug: ${transcript.name} ends inside a data-line stream`);
    return { sessionId, transcript: transcript.name, connectSeq, answers, requests };
  }

  /** Closes stdin (smtpd shutting down) and waits for the exit. */
  async close(timeoutMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.stdin.end();
    if (this.exit === null) {
      await new Promise<void>((res) => {
        const t = setTimeout(res, timeoutMs);
        this.exitWaiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
    if (this.exit === null) {
      this.child.kill('SIGKILL');
      throw new Error(`the filter did not exit within ${timeoutMs} ms of stdin EOF`);
    }
    return this.exit;
  }

  /** Kills the filter if it still runs (cleanup after a failed test). */
  kill(): void {
    if (this.alive()) this.child.kill('SIGKILL');
  }

  private expect(sessionId: string, token: string, phase: string, dataLine: boolean): Promise<Answer> {
    const key = `${sessionId}|${token}`;
    if (this.outstanding.has(key)) this.violations.push(`sim bug: two requests outstanding for ${key}`);
    return new Promise((res) => {
      this.outstanding.set(key, { key, phase, dataLine, resolve: res, lines: [] });
    });
  }

  private write(line: string): void {
    if (this.alive()) this.child.stdin.write(`${line}\n`);
  }

  private onStderr(chunk: string, onLog: ((record: LogRecord) => void) | undefined): void {
    this.stderrBuffered += chunk;
    let nl: number;
    while ((nl = this.stderrBuffered.indexOf('\n')) >= 0) {
      const line = this.stderrBuffered.slice(0, nl);
      this.stderrBuffered = this.stderrBuffered.slice(nl + 1);
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
      if (onLog === undefined || !line.startsWith('{')) continue;
      try {
        onLog(JSON.parse(line) as LogRecord);
      } catch {
        // not JSON after all: kept in the tail only
      }
    }
  }

  private onStdout(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    if (line.includes('\r')) {
      this.violations.push(`carriage return in ${JSON.stringify(line)}`);
      return;
    }
    if (!this.registered) {
      this.onRegisterLine(line);
      return;
    }
    const f = splitN(line, 3);
    if (f === null || (f[0] !== 'filter-result' && f[0] !== 'filter-dataline')) {
      this.violations.push(`malformed line ${JSON.stringify(line)}`);
      return;
    }
    const [type, sid = '', token = '', rest = ''] = f;
    if (!HEX16.test(sid) || !HEX16.test(token)) {
      this.violations.push(`bad ids in ${JSON.stringify(line)}`);
      return;
    }
    const o = this.outstanding.get(`${sid}|${token}`);
    if (o === undefined) {
      this.violations.push(`answer to no outstanding request: ${JSON.stringify(line)}`);
      return;
    }
    this.answerLines++;
    if (type === 'filter-dataline') {
      if (!o.dataLine) {
        this.violations.push(`filter-dataline outside a data-line stream: ${JSON.stringify(line)}`);
        return;
      }
      if (rest !== '.') {
        o.lines.push(rest);
        return;
      }
      this.outstanding.delete(o.key);
      o.resolve({ phase: o.phase, decision: 'dataline', lines: o.lines });
      return;
    }
    if (o.dataLine) {
      this.violations.push(`filter-result during a data-line stream: ${JSON.stringify(line)}`);
      return;
    }
    const problem = decisionProblem(o.phase, rest);
    if (problem !== null) this.violations.push(`${problem}: ${JSON.stringify(line)}`);
    this.outstanding.delete(o.key);
    o.resolve({ phase: o.phase, decision: rest });
  }

  private onRegisterLine(line: string): void {
    const f = line.split('|');
    if (line === 'register|ready') {
      this.registered = true;
      for (const w of this.registeredWaiters.splice(0)) w();
      return;
    }
    if (f.length === 4 && f[0] === 'register' && f[2] === 'smtp-in' && (f[1] === 'filter' || f[1] === 'report')) {
      (f[1] === 'filter' ? this.filters : this.reports).add(f[3] ?? '');
      return;
    }
    this.violations.push(`bad line during the handshake: ${JSON.stringify(line)}`);
  }
}

/** Why smtpd 6.8 would refuse this decision for this phase, or null (protocol.md §5.3). */
export function decisionProblem(phase: string, decision: string): string | null {
  const bar = decision.indexOf('|');
  const verb = bar < 0 ? decision : decision.slice(0, bar);
  const param = bar < 0 ? null : decision.slice(bar + 1);
  switch (verb) {
    case 'proceed':
      return param === null ? null : 'proceed with a parameter';
    case 'junk':
      if (param !== null) return 'junk with a parameter';
      return phase === 'commit' ? 'junk at commit' : null;
    case 'reject':
    case 'disconnect':
      return param !== null && REPLY.test(param) ? null : `${verb} without a valid 4xx/5xx reply`;
    case 'rewrite':
      return param !== null && ['helo', 'ehlo', 'mail-from', 'rcpt-to'].includes(phase) ? null : 'rewrite not allowed here';
    default:
      return `unknown decision ${JSON.stringify(verb)}`;
  }
}
