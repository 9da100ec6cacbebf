/**
 * A real redis-server on 127.0.0.1 inside a NetworkNamespace, for filters running
 * in smtpd instances that joined that namespace: `store "redis://127.0.0.1:6379/0"`
 * in their rules means this server. No persistence. Tests kill it (a crash), freeze
 * it (SIGSTOP: a hung server) and start it again on the same port.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkNamespace } from './netns.js';
import { waitFor } from './wait.js';

export const REDIS_PORT = 6379;

/** Why Redis tests cannot run here, or null when they can. */
export function redisUnavailable(): string | null {
  for (const cmd of ['redis-server', 'redis-cli']) {
    if (spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status !== 0) return `${cmd} not installed (apt-get install redis-server)`;
  }
  return null;
}

export class NamespacedRedis {
  readonly #ns: NetworkNamespace;
  readonly #dir: string;
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  /** What redis-server printed (warnings only), for failure messages. */
  log = '';

  private constructor(ns: NetworkNamespace, dir: string) {
    this.#ns = ns;
    this.#dir = dir;
  }

  static async start(ns: NetworkNamespace): Promise<NamespacedRedis> {
    const redis = new NamespacedRedis(ns, mkdtempSync(join(tmpdir(), 'filter-rules-e2e-redis-')));
    await redis.launch();
    return redis;
  }

  /** The store URL rules use to reach it. */
  get url(): string {
    return `redis://127.0.0.1:${REDIS_PORT}/0`;
  }

  /** (Re)start on the same port; resolves once it answers PING. */
  async launch(): Promise<void> {
    if (this.#child !== null) return;
    const child = this.#ns.spawn('redis-server', [
      '--port', String(REDIS_PORT),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', this.#dir,
      '--daemonize', 'no',
      '--loglevel', 'warning',
    ]);
    this.#child = child;
    for (const s of [child.stdout, child.stderr]) s?.on('data', (c: Buffer) => (this.log += c.toString('utf8')));
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited at startup:\n${this.log}`);
        return (await this.cli(['PING'])).trim() === 'PONG';
      },
      { timeoutMs: 10_000, what: 'redis-server to answer PING', explain: () => this.log },
    );
  }

  /** One redis-cli command in the namespace; its stdout ('' when it failed). */
  async cli(args: readonly string[]): Promise<string> {
    const r = await this.#ns.exec('redis-cli', ['-h', '127.0.0.1', '-p', String(REDIS_PORT), ...args], 5000);
    return r.code === 0 ? r.stdout : '';
  }

  /** SIGKILL, as a crash would. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    this.#child = null;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await this.#exited;
  }

  /** Freeze: connections stay open, nothing answers. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
