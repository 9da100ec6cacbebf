/**
 * A real postfwd (Debian's postfwd 1.35) in its daemon mode, for the limits
 * oracle and the limits benchmark. Its rate() counters live in its cache
 * daemon, which --nodaemon mode lacks ("rate() commands do not work with
 * --nodaemon"), so this starts the whole daemon: policy and cache servers on
 * unix sockets in a private directory (no fixed TCP port), a pid file there,
 * and stops it by the pid it wrote (SIGTERM to its master ends its children).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../faults/live.js';

export const POSTFWD = '/usr/sbin/postfwd';

export class PostfwdDaemon {
  private constructor(
    readonly dir: string,
    /** The policy server's socket, as the `policy` step's address. */
    readonly socket: string,
    private readonly pid: number,
  ) {}

  /** Start postfwd with `rules` (its own syntax); resolves once its policy socket exists. */
  static async start(rules: string): Promise<PostfwdDaemon> {
    const dir = mkdtempSync(join(tmpdir(), 'filter-rules-postfwd-daemon-'));
    const socket = join(dir, 'policy.sock');
    const pidFile = join(dir, 'postfwd.pid');
    writeFileSync(join(dir, 'postfwd.cf'), rules);
    // postfwd splits a socket on ':', so a unix path goes in the port's place.
    const r = spawnSync(
      POSTFWD,
      [
        '--daemon',
        `--file=${join(dir, 'postfwd.cf')}`,
        `--server_socket=unix::${socket}`,
        `--cache_socket=unix::${join(dir, 'cache.sock')}`,
        `--pidfile=${pidFile}`,
        '--nodns',
        '--user=root',
        '--group=root',
        // A child serves one connection until it closes, and the policy step keeps up to 8 open:
        // fewer children would leave requests waiting in the accept queue until they time out.
        '--min_servers=8',
        '--max_servers=16',
        '--min_spare_servers=2',
        '--max_spare_servers=8',
        '--logname=postfwd-filter-rules-test',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 20_000 },
    );
    if (r.status !== 0) throw new Error(`postfwd did not start (${String(r.status)}): ${r.stderr}`);
    await waitFor(() => existsSync(pidFile) && existsSync(socket), 20_000, 'postfwd to listen');
    return new PostfwdDaemon(dir, socket, Number(readFileSync(pidFile, 'utf8').trim()));
  }

  async stop(): Promise<void> {
    try {
      process.kill(this.pid, 'SIGTERM');
      await waitFor(() => !existsSync(`/proc/${this.pid}`), 10_000, 'postfwd to exit');
    } catch {
      // Already gone.
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
