/**
 * Real postgrey and a real redis-server failing IN THE MIDDLE of requests,
 * through the filter (the real host, policy client and Redis store): requests
 * already sent when the service freezes and dies get the step's on-error at
 * once, sessions that do not need the service keep flowing meanwhile, and the
 * filter uses the service again when it comes back — without a restart.
 *
 * And the real filter process started with its first requests in the same
 * write as smtpd's handshake, before its Redis connection is up: they wait
 * for the connection (a greylist answer, not a store failure), unless Redis
 * is really down (then on-error, at once).
 *
 * (test/e2e/greylist covers a killed, missing and hung postgrey or Redis
 * between requests, in real smtpd; this covers requests in flight.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Postgrey, postgreyUnavailable } from '../policy/postgrey.js';
import { findRedisServer, RedisServer } from '../store/redis-server.js';
import { CliFilter, HANDSHAKE, linkConnectLine, LiveHost, newSessionId, TEMPFAIL, waitFor, type Answer } from './live.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;

const POSTGREY_DEFER = /^reject\|450 4\.\d\.\d Greylisted, see http:\/\/postgrey/;
const GREYLISTED = /^reject\|451 4\.7\.1 Greylisted, please try again in \d+ seconds?$/;

let unique = 0;
/** A triplet nobody has seen. */
const fresh = (): { rcpt: string; from: string } => {
  unique++;
  const tag = `${process.pid}-${Date.now()}-${unique}`;
  return { rcpt: `strict-${tag}@example.org`, from: `sender-${tag}@example.net` };
};

/** Open `n` sessions up to RCPT and send their RCPTs without waiting: requests in flight. */
async function inFlight(live: LiveHost, n: number): Promise<{ sids: string[]; answers: Promise<Answer>[] }> {
  const sids: string[] = [];
  const answers: Promise<Answer>[] = [];
  for (let i = 0; i < n; i++) {
    const t = fresh();
    const sid = newSessionId();
    await live.open(sid, { from: t.from });
    sids.push(sid);
    answers.push(live.ask(sid, 'rcpt-to', t.rcpt));
  }
  return { sids, answers };
}

describe('postgrey dies with requests in flight', { skip: postgreyUnavailable() ?? false }, () => {
  let pg: Postgrey;
  let live: LiveHost;

  before(async () => {
    pg = await Postgrey.start(1);
    live = new LiveHost(`chain main =
    postgrey unix:${pg.socket} timeout 2s when rcpt-to ~ /^strict/
    then reject "550 5.7.1 refused by the rules" when rcpt-to ~ /^deny@/
`);
  });
  after(async () => {
    await live?.end();
    await pg?.dispose();
  });

  test('healthy: a new triplet gets postgrey’s 450', async () => {
    const t = fresh();
    assert.match((await live.rcpt(t.rcpt, { from: t.from })).decision, POSTGREY_DEFER);
  });

  test('frozen, then killed, with 5 requests waiting: each gets 451 right after the kill; other sessions were never held up', async () => {
    pg.pause();
    const { sids, answers } = await inFlight(live, 5);
    const others: Answer[] = [];
    for (let i = 0; i < 10; i++) others.push(await live.rcpt('deny@example.org'));
    assert.ok(others.every((o) => o.decision === 'reject|550 5.7.1 refused by the rules'));
    assert.ok(Math.max(...others.map((o) => o.ms)) < 500, 'another session waited behind frozen postgrey');
    const killedAt = performance.now();
    // SIGKILL while frozen (Postgrey.kill() would SIGCONT first, letting it answer).
    process.kill(pg.pid ?? 0, 'SIGKILL');
    await pg.kill();
    const settled = await Promise.all(answers);
    const after = performance.now() - killedAt;
    for (const sid of sids) live.close(sid);
    assert.deepEqual(settled.map((a) => a.decision), settled.map(() => TEMPFAIL));
    assert.ok(after < 1500, `answers came ${after.toFixed(0)} ms after the kill (timeout 2 s)`);
    assert.deepEqual(live.problems(), []);
  });

  test('postgrey started again (new socket file): greylisting resumes by itself', async () => {
    await pg.launch();
    await waitFor(async () => {
      const t = fresh();
      return POSTGREY_DEFER.test((await live.rcpt(t.rcpt, { from: t.from })).decision);
    }, 10_000, 'postgrey to be used again');
    assert.deepEqual(live.problems(), []);
  });
});

describe('Redis dies with greylist checks in flight', { skip: findRedisServer() === null ? 'redis-server is not installed' : false }, () => {
  let redis: RedisServer;
  let live: LiveHost;

  before(async () => {
    redis = await RedisServer.start();
    live = new LiveHost(`chain main =
    reject "550 5.7.1 refused by the rules" when rcpt-to ~ /^deny@/
    then greylist delay 1s store "${redis.url(3)}" when rcpt-to ~ /^strict/
    then greylist delay 1s store "${redis.url(3)}" on-error proceed when rcpt-to ~ /^lenient/
`);
  });
  after(async () => {
    await live?.end();
    await redis?.dispose();
  });

  test('healthy: a new triplet is greylisted', async () => {
    await waitFor(async () => {
      const t = fresh();
      return GREYLISTED.test((await live.rcpt(t.rcpt, { from: t.from })).decision);
    }, 10_000, 'the store to connect');
  });

  test('frozen, then killed, with 5 checks waiting: 451 4.3.0 within the command timeout; other sessions flow', async () => {
    redis.pause();
    const started = performance.now();
    const { sids, answers } = await inFlight(live, 5);
    const others: Answer[] = [];
    for (let i = 0; i < 10; i++) others.push(await live.rcpt('deny@example.org'));
    assert.ok(Math.max(...others.map((o) => o.ms)) < 500, 'another session waited behind frozen Redis');
    // SIGKILL while frozen (RedisServer.stop() would SIGCONT first, letting it answer).
    process.kill(redis.pid ?? 0, 'SIGKILL');
    await redis.stop();
    const settled = await Promise.all(answers);
    const took = performance.now() - started;
    for (const sid of sids) live.close(sid);
    assert.deepEqual(settled.map((a) => a.decision), settled.map(() => TEMPFAIL));
    // The store's command timeout is 1 s; the step's own deadline (10 s) was never needed.
    assert.ok(took < 3000, `took ${took.toFixed(0)} ms`);
    // Down: strict recipients 451 at once, lenient ones proceed.
    const t = fresh();
    const down = await live.rcpt(t.rcpt, { from: t.from });
    assert.equal(down.decision, TEMPFAIL);
    assert.ok(down.ms < 1500, `answered after ${down.ms.toFixed(0)} ms`);
    assert.equal((await live.rcpt('lenient@example.org')).decision, 'proceed');
    assert.deepEqual(live.problems(), []);
  });

  test('Redis back on its port: greylisting resumes by itself', async () => {
    await redis.restart();
    await waitFor(async () => {
      const t = fresh();
      return GREYLISTED.test((await live.rcpt(t.rcpt, { from: t.from })).decision);
    }, 15_000, 'the store to reconnect');
    assert.deepEqual(live.problems(), []);
  });
});

describe('Redis at start: requests in the same write as the handshake, before the connection is up', { skip: findRedisServer() === null ? 'redis-server is not installed' : false }, () => {
  let redis: RedisServer;
  let dir: string;

  before(async () => {
    redis = await RedisServer.start();
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-redis-start-'));
  });
  after(async () => {
    await redis?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Start the real filter and write the handshake, a connect report, MAIL FROM
   * and RCPT TO in one write: the filter reads them all at once, in the
   * milliseconds after its start when the Redis connection is being made.
   */
  async function startWithRequests(store: string): Promise<{ filter: CliFilter; mailFrom: Answer; rcptTo: Answer }> {
    const rules = join(dir, 'greylist.rules');
    writeFileSync(rules, `chain main =\n    greylist delay 1s store "${store}" when rcpt-to ~ /^strict/\n`);
    const filter = CliFilter.spawn([process.execPath, MAIN, rules]);
    try {
      const t = fresh();
      const sid = newSessionId();
      const [mailFrom, rcptTo] = filter.askAll(
        [
          { sid, phase: 'mail-from', param: t.from },
          { sid, phase: 'rcpt-to', param: t.rcpt },
        ],
        [...HANDSHAKE, linkConnectLine(sid)],
      );
      await filter.registered();
      return { filter, mailFrom: await (mailFrom as Promise<Answer>), rcptTo: await (rcptTo as Promise<Answer>) };
    } catch (e) {
      filter.kill();
      throw e;
    }
  }

  /** The filter's log line of the rcpt-to decision, once written. */
  async function rcptDecision(filter: CliFilter): Promise<{ stepMs?: number; fault?: string; [k: string]: unknown }> {
    await filter.waitForLog(/^decision$/);
    const line = filter.logs().find((l) => l.msg === 'decision' && l.phase === 'rcpt-to');
    assert.ok(line !== undefined, filter.stderrText());
    return line as { stepMs?: number; fault?: string };
  }

  test('Redis up: the first check waits for the connection and gets the greylist answer, start after start', async (t) => {
    const waited: number[] = [];
    for (let round = 0; round < 5; round++) {
      const { filter, mailFrom, rcptTo } = await startWithRequests(redis.url(6));
      try {
        assert.equal(mailFrom.decision, 'proceed');
        // Not TEMPFAIL (`451 4.3.0`, the store failing because it was not connected yet).
        assert.match(rcptTo.decision, GREYLISTED, `start ${round + 1}`);
        const decision = await rcptDecision(filter);
        assert.equal(decision.fault, undefined);
        waited.push(Number(decision.stepMs));
        assert.deepEqual(filter.invalidLines(), []);
        assert.equal((await filter.end()).code, 0);
      } finally {
        filter.kill();
      }
    }
    t.diagnostic(`the first check took ${waited.map((ms) => ms.toFixed(1)).join(', ')} ms (waiting for the connection included)`);
  });

  test('Redis down (nothing listens): the first check gets on-error at once (refused, not a wait), and so do the next', async () => {
    const { filter, rcptTo } = await startWithRequests('redis://127.0.0.1:1/0');
    try {
      assert.equal(rcptTo.decision, TEMPFAIL);
      // Why it failed: the refused connection, not a wait that ran out; measured by the filter itself.
      const decision = await rcptDecision(filter);
      assert.match(String(decision.fault), /check failed: not connected \(connect ECONNREFUSED 127\.0\.0\.1:1\)$/);
      assert.ok(Number(decision.stepMs) < 1000, `the step took ${decision.stepMs} ms`);
      for (let i = 0; i < 3; i++) {
        const t = fresh();
        const a = await filter.rcpt(t.rcpt, { from: t.from });
        assert.equal(a.decision, TEMPFAIL);
        // Well under the 2 s a check may wait for a connection being made.
        assert.ok(a.ms < 1000, `answered after ${a.ms.toFixed(0)} ms`);
      }
      assert.deepEqual(filter.invalidLines(), []);
    } finally {
      filter.kill();
    }
  });
});
