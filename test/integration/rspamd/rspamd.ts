/**
 * A real rspamd (Debian's 3.4) on a loopback port, with a minimal
 * configuration in a temporary directory: Debian's modules, one normal
 * worker, no controller or proxy, no Redis, DNS pointed at a closed port
 * (fails at once: the sandbox's resolver does not answer), hyperscan off
 * (starts in about 2 s), the test patterns on (GTUBE and its kin), the
 * milter headers on (for local clients too: the tests' are on loopback), and an add-header threshold high enough that a clean
 * message scores `no action` without the DNS it cannot do. Ready is its
 * first `pong` from /ping (no fixed sleep).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../faults/live.js';

/** A TCP port nobody holds now (the kernel's pick, released). */
export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/ping', timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body.includes('pong')));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

export interface RspamdPlace {
  readonly port?: number;
  readonly spawn?: (cmd: string, args: readonly string[]) => ChildProcess;
  readonly ping?: (port: number) => Promise<boolean>;
}

export class Rspamd {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    private readonly output: string[],
  ) {}

  /** What rspamd wrote to stdout and stderr (for a failing test's message). */
  get log(): string {
    return this.output.join('');
  }

  /** rspamd's own log file (warnings and worse), or "" when there is none yet. */
  fileLog(): string {
    try {
      return readFileSync(join(this.dir, 'rspamd.log'), 'utf8');
    } catch {
      return '';
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * `where`: how to run it and ask it (a network namespace's spawn, and a
   * /ping inside it; the port then need not be free here). Default: here, on
   * a free port.
   */
  static async start(where: RspamdPlace = {}): Promise<Rspamd> {
    const dir = mkdtempSync(join(tmpdir(), 'filter-rules-rspamd-'));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'local.d'));
    const port = where.port ?? (await freeTcpPort());
    const run = where.spawn ?? ((cmd: string, args: readonly string[]) => spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    const alive = where.ping ?? ping;
    writeFileSync(
      join(dir, 'rspamd.conf'),
      [
        '.include "$CONFDIR/common.conf"',
        'options {',
        '    pidfile = "$RUNDIR/rspamd.pid";',
        '    .include "$CONFDIR/options.inc"',
        '    enable_test_patterns = true;',
        '    disable_hyperscan = true;',
        '    dns { nameserver = ["127.0.0.1:9"]; timeout = 0.2s; retransmits = 1; }',
        '}',
        'logging { type = "file"; filename = "$LOGDIR/rspamd.log"; level = "warning"; }',
        'worker "normal" {',
        `    bind_socket = "127.0.0.1:${port}";`,
        '    count = 1;',
        '    .include "$CONFDIR/worker-normal.inc"',
        '}',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'local.d', 'milter_headers.conf'), 'use = ["x-spamd-result", "x-rspamd-server", "x-spam-status", "x-rspamd-action"];\n# The tests\' clients are on loopback, which rspamd counts as local.\nskip_local = false;\nskip_authenticated = false;\n');
    writeFileSync(join(dir, 'local.d', 'actions.conf'), 'add_header = 20; greylist = null; rewrite_subject = null;\n');
    const vars = ['LOCAL_CONFDIR', 'RUNDIR', 'DBDIR', 'LOGDIR'].map((v) => `--var=${v}=${dir}`);
    const output: string[] = [];
    // -i: the tests run as root; rspamd refuses that without it.
    const child = run('/usr/bin/rspamd', ['-f', '-i', '-c', join(dir, 'rspamd.conf'), ...vars]);
    child.stdout?.on('data', (b: Buffer) => output.push(b.toString()));
    child.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
    const server = new Rspamd(child, dir, port, output);
    try {
      // A deadline, not a wait: rspamd answers within seconds here, but it loads every Lua plugin at
      // start, which on a busy 2-core machine (CI with other work) has taken over a minute.
      await waitFor(async () => child.exitCode !== null || (await alive(port)), 180_000, 'rspamd to answer /ping');
    } catch (error) {
      const log = server.fileLog();
      await server.stop();
      throw new Error(`${error instanceof Error ? error.message : String(error)}; rspamd said: ${output.join('').slice(-2000)}${log.slice(-2000)}`);
    }
    if (child.exitCode !== null) throw new Error(`rspamd exited (${child.exitCode}): ${output.join('')}`);
    return server;
  }

  /** SIGSTOP / SIGCONT its processes (the main one and its worker, all ours): a hung rspamd whose port still accepts. */
  freeze(stopped: boolean): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    for (const p of [pid, ...childPids(pid)]) {
      try {
        process.kill(p, stopped ? 'SIGSTOP' : 'SIGCONT');
      } catch {
        // gone
      }
    }
  }

  async stop(): Promise<void> {
    this.freeze(false);
    if (this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await waitFor(() => this.child.exitCode !== null || this.child.signalCode !== null, 10_000, 'rspamd to stop').catch(() => this.child.kill('SIGKILL'));
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The children of `pid`, from /proc (rspamd's workers). */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The message's lines with the header fields named `names` (their first lines and folded lines,
 * names without case) dropped, the body untouched: what must be byte-identical once rspamd's and
 * the delivery's fields are set aside.
 */
export function withoutFields(lines: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  let dropping = false;
  let inHeader = true;
  for (const l of lines) {
    if (inHeader && l === '') inHeader = false;
    if (inHeader && /^[ \t]/.test(l)) {
      if (!dropping) out.push(l);
      continue;
    }
    dropping = inHeader && names.some((n) => l.toLowerCase().startsWith(`${n.toLowerCase()}:`));
    if (!dropping) out.push(l);
  }
  return out;
}
