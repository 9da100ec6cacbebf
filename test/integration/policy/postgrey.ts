/**
 * Runs a real postgrey (Debian package) on a unix socket in a temp dir, for
 * the integration tests. postgrey must start as root to drop to its own
 * user, and its db dir must belong to that user. It stays in the foreground
 * (no --daemonize), so it is our child and we can stop, pause and kill it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionFacts } from '../../../src/model/plan.js';

export const POSTGREY = '/usr/sbin/postgrey';

/** Why these tests cannot run here, or null when they can. */
export function postgreyUnavailable(): string | null {
  if (!existsSync(POSTGREY)) return `${POSTGREY} not installed (apt-get install --no-install-recommends postgrey)`;
  if (process.getuid?.() !== 0) return 'postgrey must be started as root (it drops to user postgrey)';
  try {
    execFileSync('id', ['-u', 'postgrey'], { stdio: 'pipe' });
  } catch {
    return 'no user postgrey';
  }
  return null;
}

function idOf(flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, 'postgrey'], { encoding: 'utf8' }).trim());
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export class Postgrey {
  readonly socket: string;
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** Everything postgrey printed (its log), for assertions and failure messages. */
  stderr = '';

  private constructor(
    readonly dir: string,
    private readonly delaySeconds: number,
    private readonly extraArgs: readonly string[],
  ) {
    this.socket = join(dir, 'postgrey.sock');
  }

  /** `extraArgs` are more postgrey options (`--retry-window=1h`, `--auto-whitelist-clients=3`, …). */
  static async start(delaySeconds: number, extraArgs: readonly string[] = []): Promise<Postgrey> {
    const dir = mkdtempSync(join(tmpdir(), 'filter-rules-postgrey-'));
    chmodSync(dir, 0o755);
    chownSync(dir, idOf('-u'), idOf('-g'));
    const pg = new Postgrey(dir, delaySeconds, extraArgs);
    await pg.launch();
    return pg;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** (Re)start on the same socket and database. Resolves once it accepts connections. */
  async launch(): Promise<void> {
    rmSync(this.socket, { force: true });
    const proc = spawn(
      POSTGREY,
      [
        `--unix=${this.socket}`,
        '--socketmode=0666',
        `--dbdir=${this.dir}`,
        `--delay=${this.delaySeconds}`,
        '--user=postgrey',
        '--group=postgrey',
        '--hostname=filter-rules-test',
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    running.add(proc);
    // Net::Server logs to stdout or stderr when not daemonized; keep both.
    for (const stream of [proc.stdout, proc.stderr]) {
      stream?.setEncoding('utf8').on('data', (d: string) => {
        this.stderr += d;
      });
    }
    this.exited = new Promise((resolve) =>
      proc.once('exit', () => {
        running.delete(proc);
        resolve();
      }),
    );
    const deadline = Date.now() + 15_000;
    while (!(await this.accepts())) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`postgrey exited at startup:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`postgrey did not listen within 15 s:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  private accepts(): Promise<boolean> {
    if (!existsSync(this.socket)) return Promise.resolve(false);
    return new Promise((resolve) => {
      const s = connect({ path: this.socket });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  }

  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  /** SIGKILL, as a crash would; the socket file stays behind. */
  async kill(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGCONT');
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** Stop and remove everything. */
  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let sessionCounter = 0;

/** Facts of a fresh session at rcpt-to, from a client in TEST-NET-1. */
export function sessionFacts(overrides: Partial<SessionFacts> = {}): SessionFacts {
  sessionCounter += 1;
  return {
    sessionId: (0x1000 + sessionCounter).toString(16).padStart(16, '0'),
    src: '192.0.2.10',
    srcPort: 40000 + sessionCounter,
    dest: '127.0.0.1',
    destPort: 25,
    local: false,
    rdns: 'mx.example.net',
    fcrdns: 'pass',
    helo: 'mx.example.net',
    heloMethod: 'EHLO',
    mailFrom: 'alice@sender.example',
    rcptTo: 'bob@rcpt.example',
    recipients: [],
    messageId: (0x0a000000 + sessionCounter).toString(16),
    authUser: null,
    tls: null,
    size: null,
    ...overrides,
  };
}
