/**
 * A real redis-server for the store tests: loopback TCP on a free port plus a
 * unix socket, in a temp dir, no persistence. Tests start, stop, pause
 * (SIGSTOP: a hung server) and restart it on the same port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Path of redis-server, or null when it is not installed (the suite is then skipped). */
export function findRedisServer(): string | null {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'redis-server' : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket; true on +PONG. */
function ping(port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const done = (v: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    sock.on('error', () => done(false));
  });
}

export class RedisServer {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get socketPath(): string {
    return join(this.dir, 'redis.sock');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(): Promise<RedisServer> {
    const dir = mkdtempSync(join(tmpdir(), 'fr-redis-'));
    for (let attempt = 0; attempt < 5; attempt++) {
      const server = new RedisServer(dir, await freePort());
      if (await server.launch()) return server;
    }
    rmSync(dir, { recursive: true, force: true });
    throw new Error('could not start redis-server');
  }

  private async launch(): Promise<boolean> {
    const child = spawn(
      'redis-server',
      [
        '--port', String(this.port),
        '--bind', '127.0.0.1',
        '--unixsocket', this.socketPath,
        '--unixsocketperm', '700',
        '--save', '',
        '--appendonly', 'no',
        '--dir', this.dir,
        '--daemonize', 'no',
        '--loglevel', 'warning',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let gone = false;
    void this.exited.then(() => {
      gone = true;
    });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !gone) {
      if (await ping(this.port)) return true;
      await new Promise((r) => setTimeout(r, 25));
    }
    if (!gone) child.kill('SIGKILL');
    await this.exited;
    this.child = null;
    return false;
  }

  url(db = 0, prefix?: string): string {
    const q = prefix === undefined ? '' : `?prefix=${encodeURIComponent(prefix)}`;
    return `redis://127.0.0.1:${this.port}/${db}${q}`;
  }

  /** Stop the server (data is lost: no persistence). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await this.exited;
  }

  /** Start again on the same port and socket. */
  async restart(): Promise<void> {
    await this.stop();
    if (!(await this.launch())) throw new Error(`redis-server did not come back on port ${this.port}`);
  }

  /** Start it again if a test left it stopped. */
  async ensureRunning(): Promise<void> {
    if (this.child === null && !(await this.launch())) throw new Error(`redis-server did not come back on port ${this.port}`);
  }

  /** Freeze the process: connections stay open but nothing answers. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
