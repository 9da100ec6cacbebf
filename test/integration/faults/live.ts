/**
 * Fault-injection helpers: the filter in-process on the real clock with the
 * real step services (real policy client sockets, real greylist stores), a
 * policy server process that misbehaves on demand, and polling helpers.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { compileRulesSource } from '../../../src/dsl/index.js';
import { FilterHost } from '../../../src/runtime/host.js';
import { createServices } from '../../../src/steps/services.js';
import { systemClock } from '../../../src/support/clock.js';
import { RecordingLogger } from '../../../src/support/log.js';

export const TOKENS = {
  connect: '1a9c37f7cd0c06a5',
  ehlo: '1a9c37f9d78d35b9',
  'mail-from': '1a9c37fc5c0df525',
  'rcpt-to': '1a9c37fdc8eee799',
  data: '1a9c37feaba716e8',
  'data-line': '1a9c37ffd8d15f2f',
  commit: '1a9c3800f98076e9',
} as const;
export type Phase = keyof typeof TOKENS;

export const TEMPFAIL = 'reject|451 4.3.0 Temporary failure, please try again later';

/** What smtpd 6.8 sends a filter first; the filter registers after `config|ready`. */
export const HANDSHAKE: readonly string[] = ['config|smtpd-version|6.8.0p2', 'config|smtp-session-timeout|300', 'config|subsystem|smtp-in', 'config|ready'];

export interface Request {
  readonly sid: string;
  readonly phase: Phase;
  readonly param: string;
}

export interface Answer {
  readonly decision: string;
  /** Milliseconds from the request to its answer. */
  readonly ms: number;
}

/** The report smtpd sends when a client connects, before any request of that session. */
export function linkConnectLine(sid: string, src = '192.0.2.10'): string {
  return `report|0.6|1.0|smtp-in|link-connect|${sid}|mx.example.net|pass|${src}:40000|127.0.0.1:25`;
}

let sessionCounter = 0;
export function newSessionId(): string {
  sessionCounter++;
  return (0xfa00000000000000n + BigInt(Date.now() % 1_000_000) * 4096n + BigInt(sessionCounter)).toString(16).padStart(16, '0');
}

/**
 * Speaks smtpd's side of the protocol to a filter: feeds request lines, matches
 * the answers to them by (session, token), times them. LiveHost (in-process)
 * and CliFilter (a spawned process) supply the two ends.
 */
export abstract class ProtocolDriver {
  /** Every line the filter wrote, in order. */
  readonly written: string[] = [];
  private partial = '';
  private readonly waiters = new Map<string, { started: number; resolve: (a: Answer) => void }>();

  abstract feed(...lines: string[]): void;

  /** Bytes the filter wrote. */
  protected output(chunk: string | Uint8Array): void {
    const parts = (this.partial + (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1'))).split('\n');
    this.partial = parts.pop() ?? '';
    for (const l of parts) this.onLine(l);
  }

  /** Every line written, as it is read (CliFilter also records the order among its log lines). */
  protected lineSeen(_line: string): void {}

  private onLine(line: string): void {
    this.written.push(line);
    this.lineSeen(line);
    const m = /^filter-result\|([0-9a-f]{16})\|([0-9a-f]{16})\|(.*)$/.exec(line);
    if (m === null) return;
    const key = `${m[1]}|${m[2]}`;
    const w = this.waiters.get(key);
    if (w === undefined) return;
    this.waiters.delete(key);
    w.resolve({ decision: m[3] ?? '', ms: performance.now() - w.started });
  }

  protected handshake(): void {
    this.feed(...HANDSHAKE);
  }

  /** Send one request; resolves with its answer (never rejects: a missing answer hangs the test, which has a timeout). */
  ask(sid: string, phase: Phase, param: string): Promise<Answer> {
    const [answer] = this.askAll([{ sid, phase, param }]);
    return answer as Promise<Answer>;
  }

  /**
   * Send `before` and then the requests in ONE write, without waiting for
   * answers (as a busy smtpd's lines arrive: several in one read); their
   * answers, in order.
   */
  askAll(requests: readonly Request[], before: readonly string[] = []): Promise<Answer>[] {
    const started = performance.now();
    const answers = requests.map(({ sid, phase }) => {
      const key = `${sid}|${TOKENS[phase]}`;
      if (this.waiters.has(key)) throw new Error(`request ${key} already open`);
      return new Promise<Answer>((resolve) => this.waiters.set(key, { started, resolve }));
    });
    const stamp = (Date.now() / 1000).toFixed(6);
    this.feed(...before, ...requests.map(({ sid, phase, param }) => `filter|0.6|${stamp}|smtp-in|${phase}|${sid}|${TOKENS[phase]}|${param}`));
    return answers;
  }

  /** link-connect, connect, EHLO and MAIL FROM, answered; the session is ready for RCPT. */
  async open(sid: string, opts: { src?: string; from?: string } = {}): Promise<void> {
    const src = opts.src ?? '192.0.2.10';
    this.feed(linkConnectLine(sid, src));
    await this.ask(sid, 'connect', `mx.example.net|${src}`);
    await this.ask(sid, 'ehlo', 'mx.example.net');
    const from = opts.from ?? 'alice@example.net';
    await this.ask(sid, 'mail-from', from);
    this.feed(`report|0.6|1.0|smtp-in|tx-begin|${sid}|0a0b0c0d`, `report|0.6|1.0|smtp-in|tx-mail|${sid}|0a0b0c0d|ok|${from}`);
  }

  close(sid: string): void {
    this.feed(`report|0.6|1.0|smtp-in|link-disconnect|${sid}`);
  }

  /** A whole session up to one RCPT TO; returns that answer. */
  async rcpt(rcpt: string, opts: { src?: string; from?: string } = {}): Promise<Answer> {
    const sid = newSessionId();
    await this.open(sid, opts);
    const a = await this.ask(sid, 'rcpt-to', rcpt);
    this.close(sid);
    return a;
  }

  /** Lines written that smtpd would refuse (it would exit on the first). */
  invalidLines(): string[] {
    return this.written.filter(
      (l) => !/^(register\|(filter|report)\|smtp-in\|[a-z-]+|register\|ready|filter-result\|[0-9a-f]{16}\|[0-9a-f]{16}\|(proceed|junk|(reject|disconnect)\|[45][0-9][0-9] [^\r\n\0]+))$/.test(l),
    );
  }
}

/** A FilterHost as app.ts builds it (real clock, real services), driven line by line. */
export class LiveHost extends ProtocolDriver {
  readonly log = new RecordingLogger();
  readonly host: FilterHost;

  constructor(rulesText: string, file = '/etc/mail/faults.rules') {
    super();
    const compiled = compileRulesSource(rulesText, file);
    if (!compiled.ok) throw new Error(`rules do not compile: ${compiled.diagnostics.map((d) => d.message).join('; ')}`);
    const created = FilterHost.create({
      rules: compiled.rules,
      chain: null,
      log: this.log,
      services: createServices({ clock: systemClock, log: this.log, platform: process.platform }),
      output: {
        write: (chunk) => {
          this.output(chunk);
          return true;
        },
        once: () => undefined,
      },
    });
    if (!created.ok) throw new Error(created.error);
    this.host = created.value;
    this.handshake();
  }

  feed(...lines: string[]): void {
    for (const l of lines) this.host.feed(Buffer.from(`${l}\n`, 'utf8'));
  }

  messages(): string[] {
    return this.log.records.map((r) => r.msg ?? '');
  }

  /** No internal error, no invalid line refused, only valid lines written. */
  problems(): string[] {
    const out = this.log.records.filter((r) => /internal error|refused to send|uncaught|unhandled/.test(r.msg ?? '')).map((r) => `${r.msg} ${JSON.stringify(r.fields)}`);
    return [...out, ...this.invalidLines().map((l) => `invalid line written: ${JSON.stringify(l)}`)];
  }

  async end(): Promise<void> {
    await this.host.end();
  }
}

/** The real filter command, spawned (argv[0] is the program), driven over stdin/stdout. */
export class CliFilter extends ProtocolDriver {
  private stderr = '';
  private stderrPartial = '';
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly pid: number;
  /**
   * stdout and stderr lines in the order they were read here: `out` lines are
   * the protocol's, `log` lines the `msg` of a log record. Says what the filter
   * answered between two of its log lines, without looking at any clock.
   */
  readonly timeline: Array<{ readonly kind: 'out' | 'log'; readonly text: string }> = [];

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    super();
    if (child.pid === undefined) throw new Error('the filter did not start');
    this.pid = child.pid;
    child.stdout.on('data', (c: Buffer) => this.output(c));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      const lines = (this.stderrPartial + d).split('\n');
      this.stderrPartial = lines.pop() ?? '';
      for (const l of lines) if (l.startsWith('{')) this.timeline.push({ kind: 'log', text: String((JSON.parse(l) as { msg?: unknown }).msg) });
    });
    child.on('exit', (code, signal) => (this.exit = { code, signal }));
    child.stdin.on('error', () => undefined);
  }

  /** Spawn and wait until it registered (its `register|ready`). */
  static async start(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<CliFilter> {
    const f = CliFilter.spawn(argv, env);
    f.handshake();
    await f.registered();
    return f;
  }

  /** Spawn without a word to it: the caller sends the handshake (see HANDSHAKE), e.g. in one write with requests. */
  static spawn(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliFilter {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new Error('empty argv');
    return new CliFilter(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env }));
  }

  /** Resolves once the filter wrote `register|ready`; throws if it exited first. */
  async registered(): Promise<void> {
    await waitFor(() => this.written.includes('register|ready') || this.exit !== null, 15_000, 'the filter to register');
    if (this.exit !== null) throw new Error(`the filter exited at startup (${JSON.stringify(this.exit)}):\n${this.stderr}`);
  }

  feed(...lines: string[]): void {
    this.child.stdin.write(lines.map((l) => `${l}\n`).join(''));
  }

  protected override lineSeen(line: string): void {
    this.timeline.push({ kind: 'out', text: line });
  }

  /** Send a signal (SIGHUP: reload). */
  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }

  /** The filter's VmHWM and VmRSS from /proc, in kB. */
  memory(): { hwmKb: number; rssKb: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { hwmKb: kb('VmHWM'), rssKb: kb('VmRSS') };
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** The filter's log lines (pino JSON on stderr), parsed. */
  logs(): { msg?: string; level?: number | string; [k: string]: unknown }[] {
    return this.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string });
  }

  stderrText(): string {
    return this.stderr;
  }

  waitForLog(msg: RegExp, timeoutMs = 10_000): Promise<void> {
    return waitFor(() => this.logs().some((l) => msg.test(String(l.msg))), timeoutMs, `a log line ${String(msg)}`);
  }

  /** Close stdin as smtpd does at shutdown; resolves with the exit (SIGKILL after `timeoutMs`). */
  async end(timeoutMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.stdin.end();
    try {
      await waitFor(() => this.exit !== null, timeoutMs, 'the filter to exit at EOF');
    } catch (e) {
      this.child.kill('SIGKILL');
      throw e;
    }
    return this.exit as { code: number | null; signal: NodeJS.Signals | null };
  }

  kill(): void {
    if (this.exit === null) this.child.kill('SIGKILL');
  }
}

const POLICY_SERVER = new URL('./policy-server-main.js', import.meta.url).pathname;

/** The misbehaving policy server (policy-server-main.ts) as a child process. */
export class PolicyServerProcess {
  private output = '';
  private exited = false;

  private constructor(
    readonly socket: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    child.stdout.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    child.on('exit', () => (this.exited = true));
  }

  static async start(socket: string, mode: string): Promise<PolicyServerProcess> {
    const child = spawn(process.execPath, [POLICY_SERVER, socket, mode], { stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new PolicyServerProcess(socket, child);
    await waitFor(() => p.output.includes('listening') || p.exited, 10_000, 'the policy server to listen');
    if (p.exited) throw new Error(`policy server exited: ${p.output}`);
    return p;
  }

  get requests(): number {
    return [...this.output.matchAll(/^request (\d+)$/gm)].length;
  }

  /** The attributes of every request read so far (name → value), oldest first. */
  get requestAttributes(): Array<Record<string, string>> {
    return [...this.output.matchAll(/^attributes \d+ (.*)$/gm)].map((m) => JSON.parse(m[1] ?? '{}') as Record<string, string>);
  }

  /** Where a server started on `tcp:PORT` listens (`tcp:127.0.0.1:N`); null for a unix socket. */
  get tcpAddress(): string | null {
    return /^listening (tcp:\S+)$/m.exec(this.output)?.[1] ?? null;
  }

  async setMode(mode: string): Promise<void> {
    const before = [...this.output.matchAll(/^mode /gm)].length;
    this.child.stdin.write(`${mode}\n`);
    await waitFor(() => [...this.output.matchAll(/^mode /gm)].length > before, 5000, `mode ${mode}`);
  }

  /** Resolves when the server has read `n` requests in all. */
  waitForRequests(n: number, timeoutMs = 5000): Promise<void> {
    return waitFor(() => this.requests >= n, timeoutMs, `${n} policy requests`);
  }

  /** SIGKILL: open connections drop, the socket file stays behind (stale). */
  async kill(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGKILL');
    await waitFor(() => this.exited, 5000, 'the policy server to die');
  }

  get socketFileExists(): boolean {
    return existsSync(this.socket);
  }
}

/** A process's resident memory in MB, from /proc. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

/** Poll `probe` every 20 ms until it is truthy; throws after `timeoutMs`. */
export async function waitFor(probe: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}
