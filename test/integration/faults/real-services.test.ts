/**
 * Real postgrey and a real redis-server failing IN THE MIDDLE of requests,
 * through the filter (the real host, policy client and Redis store): requests
 * already sent when the service freezes and dies get the step's on-error at
 * once, sessions that do not need the service keep flowing meanwhile, and the
 * filter uses the service again when it comes back — without a restart.
 *
 * (test/e2e/greylist covers a killed, missing and hung postgrey or Redis
 * between requests, in real smtpd; this covers requests in flight.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Postgrey, postgreyUnavailable } from '../policy/postgrey.js';
import { findRedisServer, RedisServer } from '../store/redis-server.js';
import { LiveHost, newSessionId, TEMPFAIL, waitFor, type Answer } from './live.js';

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
