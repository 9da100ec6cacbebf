// Throw-away redis-server and postgrey instances for scenario 2, on loopback
// or unix sockets in a temp dir. Each start*() returns { url|socket, stop() }.
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { start, waitFor } from './proc.mjs';

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(opts) {
  return new Promise((resolve) => {
    const s = connect(opts);
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(500, () => done(false));
  });
}

export async function startRedis(dir) {
  const port = await freePort();
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const svc = start('redis-server', [
    '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no',
    '--dir', dir, '--protected-mode', 'yes', '--daemonize', 'no', '--loglevel', 'warning',
  ]);
  try {
    await waitFor(() => canConnect({ host: '127.0.0.1', port }), { timeoutMs: 10_000, what: 'redis-server to listen' });
  } catch (e) {
    await svc.stop();
    throw new Error(`${e.message}\n${svc.output().slice(-500)}`);
  }
  return { url: `redis://127.0.0.1:${port}/0`, port, stop: () => svc.stop() };
}

/** postgrey as testing-notes.md runs it: unix socket, its own db dir, user postgrey. */
export async function startPostgrey(dir, { delay = 300 } = {}) {
  const db = join(dir, 'db');
  mkdirSync(db, { recursive: true, mode: 0o755 });
  const ids = (flag) => Number(execFileSync('id', [flag, 'postgrey']).toString().trim());
  chownSync(dir, ids('-u'), ids('-g'));
  chownSync(db, ids('-u'), ids('-g'));
  const socket = join(dir, 'postgrey.sock');
  const svc = start('postgrey', [
    `--unix=${socket}`, '--socketmode=0666', `--dbdir=${db}`, `--delay=${delay}`,
    '--user=postgrey', '--group=postgrey',
  ]);
  try {
    await waitFor(async () => existsSync(socket) && canConnect({ path: socket }), {
      timeoutMs: 20_000,
      what: 'postgrey to listen',
    });
  } catch (e) {
    await svc.stop();
    throw new Error(`${e.message}\n${svc.output().slice(-500)}`);
  }
  return { socket, stop: () => svc.stop() };
}
