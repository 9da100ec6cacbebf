/**
 * A private network namespace that outlives any one smtpd: services (redis-server)
 * listen on its loopback, and several smtpd instances join it (`Smtpd.start({ netns })`)
 * on different ports, the way several MX hosts reach one Redis.
 *
 * The namespace is held open by a `sleep infinity` made by
 *   setpriv --pdeathsig KILL unshare -n sh -c '<bring lo up, add nets>; exec sleep infinity'
 * (exec all the way, so the spawned pid is the holder, and it dies with the test
 * process). Once its command line reads `sleep infinity`, the set-up is done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { RunResult } from './smtpd.js';
import { processAlive } from './smtpd.js';
import { waitFor } from './wait.js';

const SETUP = String.raw`
set -e
ip link set lo up
for net in $NETS; do ip addr add "$net" dev lo; done
exec sleep infinity
`;

export interface NetworkNamespaceOptions {
  /** Extra networks made local on `lo` (client sources, e.g. 198.51.100.1/24). */
  readonly loopbackNets?: readonly string[];
}

export class NetworkNamespace {
  readonly #holder: ChildProcess;
  readonly pid: number;
  readonly #services = new Set<ChildProcess>();

  private constructor(holder: ChildProcess) {
    if (holder.pid === undefined) throw new Error('network namespace holder did not start');
    this.#holder = holder;
    this.pid = holder.pid;
  }

  static async create(opts: NetworkNamespaceOptions = {}): Promise<NetworkNamespace> {
    const holder = spawn('setpriv', ['--pdeathsig', 'KILL', 'unshare', '-n', 'sh', '-c', SETUP], {
      env: { ...process.env, NETS: (opts.loopbackNets ?? []).join(' ') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    holder.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const ns = new NetworkNamespace(holder);
    try {
      await waitFor(
        () => {
          if (holder.exitCode !== null || holder.signalCode !== null) throw new Error(`namespace set-up failed: ${stderr}`);
          try {
            return readFileSync(`/proc/${ns.pid}/cmdline`, 'utf8').startsWith('sleep\0');
          } catch {
            return false;
          }
        },
        { timeoutMs: 5000, what: 'the network namespace set-up' },
      );
    } catch (e) {
      await ns.close();
      throw e;
    }
    return ns;
  }

  /**
   * Starts a long-running process inside the namespace (as root); close() kills it,
   * and so does the death of the test process (unless it changes its uid, as postgrey
   * does: that clears the parent-death signal).
   */
  spawn(cmd: string, args: readonly string[]): ChildProcess {
    // setpriv and nsenter (for a network namespace) exec without forking: the child's pid is cmd's.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', 'nsenter', '-t', String(this.pid), '-n', '--', cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#services.add(child);
    child.once('exit', () => this.#services.delete(child));
    return child;
  }

  /** Runs a command in the namespace to completion, with a hard time limit. */
  exec(cmd: string, args: readonly string[], timeoutMs = 10_000): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn('nsenter', ['-t', String(this.pid), '-n', '--', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      const kill = setTimeout(() => {
        stderr += `\n[netns] killed after ${timeoutMs} ms`;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('close', (code) => {
        clearTimeout(kill);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Kills the services still running and the holder; the namespace goes with its last process. */
  async close(): Promise<void> {
    const all = [...this.#services, this.#holder];
    for (const p of all) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGCONT');
        p.kill('SIGKILL');
      }
    }
    await waitFor(() => all.every((p) => p.pid === undefined || !processAlive(p.pid)), {
      timeoutMs: 5000,
      what: 'the namespace processes to exit',
    });
  }
}
