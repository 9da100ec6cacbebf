// Child processes for the bench: every one has a deadline, runs in its own
// process group, and is killed (group and all) on timeout or when the bench
// itself exits or is interrupted. Nothing started here outlives the run.
import { spawn } from 'node:child_process';

const live = new Set();

function killGroup(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** Kill every child still running (SIGTERM, then SIGKILL after `graceMs`). */
export async function killAll(graceMs = 2000) {
  const children = [...live];
  for (const c of children) killGroup(c, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && children.some((c) => c.exitCode === null && c.signalCode === null)) {
    await sleep(20);
  }
  for (const c of children) killGroup(c, 'SIGKILL');
}

let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) killGroup(c, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      for (const c of live) killGroup(c, 'SIGKILL');
      process.exit(130);
    });
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Run a command to completion with a deadline.
 * Resolves { code, signal, stdout, stderr, timedOut, ms }; never rejects for a
 * non-zero exit (the caller decides what that means).
 */
export function run(cmd, args, { timeoutMs = 60_000, env, cwd, input, onStderr } = {}) {
  hookExit();
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: env ?? process.env, cwd, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(child);
    const out = [];
    const err = [];
    let timedOut = false;
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => {
      err.push(b);
      onStderr?.(b.toString());
    });
    child.on('error', (e) => {
      live.delete(child);
      clearTimeout(timer);
      reject(e);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGTERM');
      setTimeout(() => killGroup(child, 'SIGKILL'), 2000).unref();
    }, timeoutMs);
    child.on('close', (code, signal) => {
      live.delete(child);
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        timedOut,
        ms: performance.now() - t0,
      });
    });
    child.stdin.on('error', () => {});
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/**
 * Start a long-running service (redis, postgrey). Returns { child, stop(), output() }.
 * stop() sends SIGTERM to its group and waits (SIGKILL after `graceMs`).
 */
export function start(cmd, args, { env, cwd } = {}) {
  hookExit();
  const child = spawn(cmd, args, { env: env ?? process.env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const chunks = [];
  const keep = (b) => {
    chunks.push(b);
    if (chunks.length > 200) chunks.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('error', () => {});
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  exited.then(() => live.delete(child));
  return {
    child,
    exited,
    output: () => Buffer.concat(chunks).toString(),
    async stop(graceMs = 3000) {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Poll `check` (async, truthy when ready) every `everyMs` until `timeoutMs`. */
export async function waitFor(check, { timeoutMs = 10_000, everyMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
