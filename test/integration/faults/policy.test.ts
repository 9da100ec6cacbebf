/**
 * A policy server misbehaving, through the filter (issue 6, "Faults of the
 * parts we talk to"): the real host, the real policy client and sockets, and
 * a policy server process (policy-server-main.ts) that is killed in the middle
 * of a request, hangs, answers garbage or half a line, floods, tries to inject
 * protocol lines, or loses its socket file and gets it back.
 *
 * Each fault must give the step's configured on-error within its deadline
 * (`on-error tempfail` → 451, `on-error proceed` → the chain goes on), never a
 * 5xx and never an invalid line; other sessions keep flowing meanwhile; and
 * the filter recovers by itself once the server answers again.
 *
 * (test/integration/policy covers the policy client alone against postgrey;
 * test/e2e/greylist/postgrey.test.ts a killed, missing and hung postgrey in
 * smtpd. What is new here: the faults in the middle of a request, the garbled
 * answers, a replaced socket file, and concurrency during a fault.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LiveHost, newSessionId, PolicyServerProcess, TEMPFAIL, waitFor, type Answer } from './live.js';

const TIMEOUT_MS = 500;
/** What "within its deadline" allows on a loaded CI machine: the step timeout plus scheduling slack. */
const LATE_MS = TIMEOUT_MS + 1000;

describe('policy server faults, through the filter', () => {
  let dir: string;
  let socket: string;
  let server: PolicyServerProcess;
  let live: LiveHost;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-faults-'));
    socket = join(dir, 'policy.sock');
    server = await PolicyServerProcess.start(socket, 'dunno');
    live = new LiveHost(`
chain main =
    policy unix:${socket} timeout ${TIMEOUT_MS}ms when rcpt-to ~ /^strict/
    then policy unix:${socket} timeout ${TIMEOUT_MS}ms on-error proceed when rcpt-to ~ /^lenient/
    then reject "550 5.7.1 refused by the rules" when rcpt-to ~ /^deny/
`);
  });
  after(async () => {
    await live?.end();
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The server answers again (the client may be in its backoff): strict recipients proceed within 10 s. */
  async function recovered(): Promise<Answer> {
    let last: Answer | null = null;
    await waitFor(async () => {
      last = await live.rcpt('strict@example.org');
      return last.decision === 'proceed';
    }, 10_000, 'the filter to use the policy server again');
    assert.ok(last !== null);
    return last;
  }

  test('a healthy server: DUNNO proceeds, DEFER_IF_PERMIT becomes 450', async () => {
    assert.equal((await live.rcpt('strict@example.org')).decision, 'proceed');
    await server.setMode('defer');
    assert.equal((await live.rcpt('strict@example.org')).decision, 'reject|450 4.7.1 Greylisted by the fake server');
    await server.setMode('dunno');
  });

  for (const [mode, what] of [
    ['garbage', 'answers an HTTP error page'],
    ['binary', 'answers bytes that are not text'],
    ['half-close', 'sends half a line and closes'],
    ['flood', 'sends an endless line'],
  ] as const) {
    test(`the server ${what}: 451 (on-error tempfail) or proceed (on-error proceed), at once; then it recovers`, async () => {
      await recovered();
      await server.setMode(mode);
      const strict = await live.rcpt('strict@example.org');
      assert.equal(strict.decision, TEMPFAIL);
      assert.ok(strict.ms < LATE_MS, `answered after ${strict.ms.toFixed(0)} ms`);
      const lenient = await live.rcpt('lenient@example.org');
      assert.equal(lenient.decision, 'proceed');
      assert.ok(lenient.ms < LATE_MS, `answered after ${lenient.ms.toFixed(0)} ms`);
      await server.setMode('dunno');
      await recovered();
      assert.deepEqual(live.problems(), []);
    });
  }

  test('the server tries to inject protocol lines through its reply text: one valid 550 line', async () => {
    await recovered();
    await server.setMode('inject');
    const a = await live.rcpt('strict@example.org');
    assert.equal(a.decision, 'reject|550 5.7.1 evil filter-result|0000000000000000|0000000000000000|proceed more');
    assert.deepEqual(live.problems(), []);
    await server.setMode('dunno');
  });

  test('the server hangs (accepts, never answers): the timeout answers; other sessions keep flowing meanwhile', async () => {
    await recovered();
    for (const mode of ['hang', 'half-hang']) {
      await server.setMode(mode);
      const hung = live.rcpt('strict@example.org');
      // While that request waits for the server, 30 other sessions come and go.
      const others: Answer[] = [];
      for (let i = 0; i < 30; i++) {
        others.push(await live.rcpt(i % 2 === 0 ? 'deny@example.org' : 'bob@example.org'));
      }
      const a = await hung;
      assert.equal(a.decision, TEMPFAIL, mode);
      assert.ok(a.ms >= TIMEOUT_MS - 50 && a.ms < LATE_MS, `${mode}: answered after ${a.ms.toFixed(0)} ms`);
      assert.deepEqual(
        others.map((o) => o.decision),
        others.map((_, i) => (i % 2 === 0 ? 'reject|550 5.7.1 refused by the rules' : 'proceed')),
      );
      const slowest = Math.max(...others.map((o) => o.ms));
      // Well under the 500 ms the hung request waits: nobody queued behind it.
      assert.ok(slowest < 400, `another session waited ${slowest.toFixed(0)} ms behind the hung server`);
      const lenient = await live.rcpt('lenient@example.org');
      assert.equal(lenient.decision, 'proceed');
      await server.setMode('dunno');
      await recovered();
    }
    assert.deepEqual(live.problems(), []);
  });

  test('the server is killed in the middle of a request: the request gets 451 at once; its socket is stale, then replaced', async () => {
    await recovered();
    await server.setMode('hang');
    const sid = newSessionId();
    await live.open(sid);
    const seen = server.requests;
    const pending = live.ask(sid, 'rcpt-to', 'strict@example.org');
    await server.waitForRequests(seen + 1);
    const killedAt = performance.now();
    await server.kill();
    const a = await pending;
    live.close(sid);
    assert.equal(a.decision, TEMPFAIL);
    assert.ok(performance.now() - killedAt < TIMEOUT_MS, `answered ${(performance.now() - killedAt).toFixed(0)} ms after the kill`);
    // The socket file is left behind, nobody listens: connection refused, answered fast, every time.
    assert.ok(server.socketFileExists);
    for (let i = 0; i < 3; i++) {
      const stale = await live.rcpt('strict@example.org');
      assert.equal(stale.decision, TEMPFAIL);
      assert.ok(stale.ms < LATE_MS);
      assert.equal((await live.rcpt('lenient@example.org')).decision, 'proceed');
    }
    // Socket file removed: ENOENT, same answers.
    rmSync(socket);
    assert.equal((await live.rcpt('strict@example.org')).decision, TEMPFAIL);
    assert.equal((await live.rcpt('deny@example.org')).decision, 'reject|550 5.7.1 refused by the rules');
    // A new server creates the socket again: the filter uses it without a restart or reload.
    server = await PolicyServerProcess.start(socket, 'dunno');
    const back = await recovered();
    assert.ok(back.ms < LATE_MS);
    assert.ok(live.messages().includes('policy request failed'));
    assert.deepEqual(live.problems(), []);
  });

  test('no answer of the filter during all this was a 5xx it made up, or a line smtpd would refuse', () => {
    const made = live.written.filter((l) => /\|reject\|5/.test(l) && !/refused by the rules|evil/.test(l));
    assert.deepEqual(made, []);
    assert.deepEqual(live.problems(), []);
  });
});
