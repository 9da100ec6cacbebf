// Real smtpd for scenario 5, the way /work/shared/testing-notes.md says:
// its own mount and network namespaces (private loopback, a resolver that
// fails at once, tmpfs /run and spool), started with `smtpd -d`. The load
// generator runs inside the same network namespace through nsenter.
//
// setpriv --pdeathsig KILL + no forks (unshare and sh exec) make the spawned
// pid smtpd's own, and smtpd dies with us if the bench is killed.
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, start, waitFor, sleep } from './proc.mjs';

/** The address smtpd listens on inside the namespace; clients come from the rest of this /16. */
export const SERVER_ADDR = '10.77.0.1';
export const CLIENT_NET = '10.77.0.0';
export const PORT = 2525;

const SETUP = String.raw`
set -e
W="$1"
ip link set lo up
ip addr add ${SERVER_ADDR}/16 dev lo
mount --bind "$W/resolv.conf" /etc/resolv.conf
mount --bind "$W/hosts" /etc/hosts
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=0755 tmpfs /var/spool
mkdir -m 0711 /var/spool/smtpd
exec smtpd -d -f "$W/smtpd.conf"
`;

// smtpd.conf strings are double-quoted and then run by /bin/sh: keep to a safe set.
const SAFE = /^[A-Za-z0-9_./:=+@,-]+$/;

/** smtpd.conf text: relay action (nothing is ever delivered: sessions end after RCPT). Pure. */
export function smtpdConf(filterArgv) {
  const lines = [];
  if (filterArgv) {
    for (const a of filterArgv) if (!SAFE.test(a)) throw new Error(`filter argument not usable in smtpd.conf: ${a}`);
    lines.push(`filter "bench" proc-exec "${filterArgv.join(' ')}"`);
    lines.push(`listen on ${SERVER_ADDR} port ${PORT} filter "bench"`);
  } else {
    lines.push(`listen on ${SERVER_ADDR} port ${PORT}`);
  }
  lines.push('action "relay" relay host smtp://127.0.0.1:9', 'match from any for any action "relay"', '');
  return lines.join('\n');
}

/**
 * Start smtpd with `filterArgv` (absolute paths; null: no filter), wait until it
 * listens and one probe session went through (so the filter is registered).
 * Returns { pid, dir, log(), stop() }.
 */
export async function startSmtpd(filterArgv, { loadBin, probeTimeoutMs = 30_000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'filter-rules-bench-smtpd-'));
  chmodSync(dir, 0o755); // the filter runs as opensmtpd
  writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n', { mode: 0o644 });
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n::1 localhost\n', { mode: 0o644 });
  writeFileSync(join(dir, 'smtpd.conf'), smtpdConf(filterArgv), { mode: 0o644 });
  const svc = start('setpriv', ['--pdeathsig', 'KILL', 'unshare', '-m', '-n', 'sh', '-c', SETUP, 'sh', dir], { cwd: dir });
  const pid = svc.child.pid;
  let exited = null;
  svc.exited.then((e) => {
    exited = e;
  });
  const stop = async () => {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const ns = (cmd, args, opts) => run('nsenter', ['-t', String(pid), '-n', cmd, ...args], opts);
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`smtpd exited during startup: ${svc.output().slice(-800)}`);
        const r = await ns('ss', ['-ltnH', `sport = :${PORT}`], { timeoutMs: 5000 }).catch(() => null);
        return r !== null && r.stdout.includes('LISTEN') && r.stdout.includes(SERVER_ADDR);
      },
      { timeoutMs: 20_000, what: 'smtpd to listen' },
    );
    if (loadBin) {
      const probe = await ns(loadBin, ['--host', SERVER_ADDR, '--port', String(PORT), '--concurrency', '1', '--sessions', '1',
        '--duration-ms', String(probeTimeoutMs), '--timeout-ms', String(probeTimeoutMs), '--src-base', CLIENT_NET, '--id-offset', '999999'],
      { timeoutMs: probeTimeoutMs * 2 + 5000 });
      const j = JSON.parse(probe.stdout || '{}');
      if (!j.ok) throw new Error(`probe session failed: ${JSON.stringify(j.first_failures)}\n${svc.output().slice(-800)}`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    pid,
    dir,
    log: () => svc.output(),
    alive: () => exited === null,
    ns,
    stop,
  };
}

/** One load run against a started smtpd: the load generator's JSON. */
export async function loadSmtpd(smtpd, loadBin, { concurrency = 10, durationMs = 3000, warmupMs = 500, idOffset = 0 } = {}) {
  const r = await smtpd.ns(loadBin, ['--host', SERVER_ADDR, '--port', String(PORT), '--concurrency', String(concurrency),
    '--duration-ms', String(durationMs), '--warmup-ms', String(warmupMs), '--timeout-ms', '30000',
    '--src-base', CLIENT_NET, '--id-offset', String(idOffset)], { timeoutMs: durationMs + warmupMs + 90_000 });
  await sleep(50);
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`load generator printed no result (exit ${r.code}): ${r.stderr.slice(-400)}`);
  }
}
