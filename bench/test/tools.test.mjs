// The C tools against small known filters and servers: the simulator must
// pass a correct filter, fail loudly on everything smtpd would die on, count
// what smtpd tolerates, and measure a reload; the load generator must count
// good and refused sessions.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTools } from '../lib/build.mjs';
import { runSim, probeRegistration } from '../lib/sim.mjs';
import { run } from '../lib/proc.mjs';
import { naiveArgv, proceedArgv, shellLine } from '../lib/subjects.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const BAD = join(here, 'fixtures', 'bad-filter.py');
const FILEDEC = join(here, 'fixtures', 'file-decision-filter.py');
let tools;

before(async () => {
  tools = await buildTools();
});

const REG = { filter: ['connect', 'helo', 'ehlo', 'mail-from', 'rcpt-to', 'data', 'commit'], report: ['link-connect', 'link-disconnect', 'tx-rcpt'] };

test('C proceed filter: every request answered, registration as asked, exits on EOF', async () => {
  const r = await runSim(tools.sim, shellLine(proceedArgv(tools.proceed, REG)), { sessions: 300, concurrency: 20, rcpts: 3 });
  assert.equal(r.ok, true, r.error);
  const j = r.result;
  assert.deepEqual(j.registered.filter, REG.filter);
  assert.deepEqual(j.registered.report, ['link-connect', 'link-disconnect', 'tx-rcpt']);
  assert.equal(j.sessions.completed, 300);
  assert.equal(j.requests, j.answers);
  assert.equal(j.requests, 300 * (1 + 1 + 1 + 3 + 1 + 1)); // connect ehlo mail 3×rcpt data commit
  assert.deepEqual(j.decisions['rcpt-to'], { proceed: 900 });
  // only registered events are sent: link-connect, link-disconnect and one tx-rcpt per RCPT
  assert.equal(j.report_lines, 300 * (2 + 3));
  assert.equal(j.filter.exited_on_eof, true);
  assert.ok(j.filter.vmhwm_kb > 0);
});

test('data-line: streamed to a filter that registered it, echoed back, then commit', async () => {
  const r = await runSim(tools.sim, `python3 ${BAD} dataline`, { sessions: 20, concurrency: 5, bodyLines: 9 });
  assert.equal(r.ok, true, r.error);
  // 4 Received lines + 9 body lines + "." per session
  assert.equal(r.result.dataline_sent, 20 * 14);
  assert.equal(r.result.dataline_back, 20 * 14);
  assert.equal(r.result.decisions.commit.proceed, 20);
});

test('naive Python filter: the realistic chain matches none of the simulated traffic', async () => {
  const r = await runSim(tools.sim, shellLine(naiveArgv(REG)), { sessions: 200, concurrency: 10, ipv6Every: 7 });
  assert.equal(r.ok, true, r.error);
  for (const counts of Object.values(r.result.decisions)) assert.deepEqual(Object.keys(counts), ['proceed']);
});

const FATAL_CASES = [
  ['never-ready', /no register\|ready within/],
  ['exit-at-start', /lost processor/],
  ['bad-event', /Unrecognized report name: tx-mailfrom/],
  ['bad-phase', /Unrecognized report name: bogus/],
  ['chatty', /Non-register message before register\|ready/],
  ['wrong-token', /misbehaving filter/],
  ['crlf', /contains \\r/],
  ['proceed-param', /Unexpected parameter after proceed/],
  ['junk-commit', /junk after DATA/],
  ['garbage', /Invalid filter message type/],
  ['die', /lost processor/],
];
for (const [mode, message] of FATAL_CASES) {
  test(`fatal like smtpd: ${mode}`, async () => {
    const r = await runSim(tools.sim, `python3 ${BAD} ${mode}`, { sessions: 20, concurrency: 3, handshakeMs: 2000, stallMs: 2000 });
    assert.equal(r.ok, false);
    assert.match(r.result.fatal, message);
    assert.equal(r.exitCode, 3);
  });
}

const COUNTED_CASES = [
  ['twice', 'stale_answer'],
  ['bad-reply', 'invalid_reply'],
  ['drop', 'unanswered'],
  ['unknown-session', 'unknown_session'],
  ['swapped', 'unknown_session'],
];
for (const [mode, counter] of COUNTED_CASES) {
  test(`counted as an error: ${mode} → ${counter}`, async () => {
    const r = await runSim(tools.sim, `python3 ${BAD} ${mode}`, { sessions: 20, concurrency: 3, stallMs: 1500 });
    assert.equal(r.ok, false);
    assert.equal(r.result.fatal, null);
    assert.ok(r.result.errors[counter] > 0, JSON.stringify(r.result.errors));
    assert.equal(r.exitCode, 1);
  });
}

test('a refused RCPT is followed by QUIT, not DATA, as a client would', async () => {
  const r = await runSim(tools.sim, `python3 ${BAD} reject-rcpt`, { sessions: 10, concurrency: 2 });
  assert.equal(r.ok, true, r.error);
  assert.deepEqual(r.result.decisions['rcpt-to'], { reject: 10 });
  assert.equal(r.result.decisions.data, undefined);
});

test('probeRegistration reports what a filter registers, and why one fails', async () => {
  const reg = await probeRegistration(tools.sim, shellLine(proceedArgv(tools.proceed, REG)));
  assert.deepEqual(reg.filter, REG.filter);
  await assert.rejects(probeRegistration(tools.sim, `python3 ${BAD} bad-phase`), /Unrecognized report name: bogus/);
});

test('reload measurement: time from save to the first new decision, no stale answers after', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
  try {
    const live = join(dir, 'decision');
    const next = join(dir, '.decision.new');
    writeFileSync(live, 'proceed\n');
    writeFileSync(next, 'junk\n');
    const r = await runSim(tools.sim, `python3 ${FILEDEC} ${live}`, {
      sessions: 100_000_000, durationMs: 1200, concurrency: 50, thinkMs: 20, rampMs: 20, warmup: 50,
      reloadAtMs: 500, reloadFrom: next, reloadTo: live, reloadDetect: 'connect:junk', reloadWindowMs: 300,
    });
    assert.equal(r.ok, true, r.error);
    const rl = r.result.reload;
    assert.equal(rl.saved, true);
    assert.ok(rl.in_force_ms !== null && rl.in_force_ms < 200, JSON.stringify(rl));
    assert.ok(rl.new_answers > 0);
    assert.equal(rl.stale_after, 0);
    assert.ok(r.result.decisions.connect.proceed > 0 && r.result.decisions.connect.junk > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function smtpServer(rcptReply) {
  return new Promise((resolve) => {
    const srv = createServer((s) => {
      s.write('220 test ESMTP\r\n');
      let buf = '';
      s.on('data', (b) => {
        buf += b.toString();
        let i;
        while ((i = buf.indexOf('\r\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (/^EHLO /.test(line)) s.write('250-test\r\n250 HELP\r\n');
          else if (/^MAIL /.test(line)) s.write('250 2.0.0 Ok\r\n');
          else if (/^RCPT /.test(line)) s.write(`${rcptReply}\r\n`);
          else if (line === 'QUIT') s.end('221 2.0.0 Bye\r\n');
          else s.write('500 what\r\n');
        }
      });
      s.on('error', () => {});
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

async function load(port, extra = []) {
  const r = await run(tools.load, ['--host', '127.0.0.1', '--port', String(port), '--concurrency', '4', '--duration-ms', '300', '--timeout-ms', '3000', ...extra], { timeoutMs: 20_000 });
  return JSON.parse(r.stdout);
}

test('smtp-load: complete sessions counted, multi-line EHLO handled', async () => {
  const srv = await smtpServer('250 2.1.5 Ok');
  try {
    const j = await load(srv.address().port);
    assert.equal(j.ok, true, JSON.stringify(j.first_failures));
    assert.ok(j.ok_sessions > 10);
    assert.ok(j.sessions_per_s > 0);
    assert.equal(j.failed, 0);
  } finally {
    srv.close();
  }
});

test('smtp-load: a refused RCPT fails the session at that stage', async () => {
  const srv = await smtpServer('550 5.1.1 no');
  try {
    const j = await load(srv.address().port);
    assert.equal(j.ok, false);
    assert.equal(j.ok_sessions, 0);
    assert.ok(j.failed_by_stage.rcpt > 0);
    assert.match(j.first_failures[0], /rcpt: unexpected reply: 550/);
  } finally {
    srv.close();
  }
});

test('a filter ending the message early is counted, and the session still commits exactly once', async () => {
  const r = await runSim(tools.sim, `python3 ${BAD} early-dot`, { sessions: 10, concurrency: 3, thinkMs: 5 });
  assert.equal(r.result.fatal, null);
  assert.equal(r.result.errors.early_dot, 10);
  assert.equal(r.result.decisions.commit.proceed, 10);
  assert.equal(r.result.sessions.completed, 10);
  assert.equal(r.result.errors.total, 10);
});
