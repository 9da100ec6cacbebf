/**
 * The limit step on one Redis shared by two MX hosts, end to end: real smtpd
 * instances (E2E_SMTPD: 6.8 or 7.8), each with its own filter-rules process, in
 * one network namespace with a real redis-server on its loopback:
 *
 *   mx1 (2525), mx2 (2526): limit "4/1h" per "src(24,64)" count recipients on the Redis
 *   lenient (2527):         the same with `on-error proceed`
 *
 * mx1 and mx2 count together; with Redis down, the limit answers per on-error
 * (451 4.3.0 by default, delivered with proceed), never a 5xx.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { DialogResult } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from '../harness/env.js';
import { rcptReply } from '../harness/greylist.js';
import { mailSteps, transcript } from '../harness/mail.js';
import { NetworkNamespace } from '../harness/netns.js';
import { NamespacedRedis, redisUnavailable } from '../harness/redis.js';
import { Smtpd } from '../harness/smtpd.js';

const skip = e2eSkipReason() ?? redisUnavailable();
const NET = '198.51.100';
const TEMPFAIL = '451 4.3.0 Temporary failure, please try again later';
const OVER = /^451 4\.7\.1 Rate limit exceeded, try again in \d+ seconds$/;

const rules = (url: string, onError: string): string => `list trusted = { 127.0.0.0/8, ::1 }

chain inbound =
    accept when src in trusted
    then limit "4/1h" per "src(24,64)" count recipients store "${url}"${onError}
`;

describe('limit: two MX hosts sharing one Redis', { skip: skip ?? false }, () => {
  let ns: NetworkNamespace;
  let redis: NamespacedRedis;
  let mx1: Smtpd;
  let mx2: Smtpd;
  let lenient: Smtpd;
  const start = (port: number, text: string): Promise<Smtpd> => {
    const rt = filterRuntime();
    return Smtpd.start({ netns: ns, port, files: { 'limits.rules': text }, filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'limits.rules')] });
  };
  const rcpt = (s: Smtpd, host: number, net = NET): Promise<DialogResult> =>
    s.dialog({ localAddress: `${net}.${host}`, timeoutMs: 10_000, steps: mailSteps({ helo: 'mail.example.org', from: 'alice@example.org' }) });

  before(async () => {
    ns = await NetworkNamespace.create({ loopbackNets: [`${NET}.1/24`, '203.0.113.1/24'] });
    redis = await NamespacedRedis.start(ns);
    [mx1, mx2, lenient] = await Promise.all([start(2525, rules(redis.url, '')), start(2526, rules(redis.url, '')), start(2527, rules(redis.url, ' on-error proceed'))]);
  });
  after(async () => {
    await Promise.all([mx1?.stop(), mx2?.stop(), lenient?.stop()]);
    await redis?.dispose();
    await ns?.close();
  });
  afterEach(() => {
    for (const s of [mx1, mx2, lenient]) s?.assertHealthy();
  });

  test('recipients counted on mx1 count on mx2: the 5th, whichever host it reaches, gets 451 4.7.1', async () => {
    for (const [i, s] of [mx1, mx2, mx1, mx2].entries()) {
      const r = await rcpt(s, 10 + i);
      assert.equal(rcptReply(r)?.code, 250, transcript(r));
    }
    const over2 = await rcpt(mx2, 50);
    assert.match(rcptReply(over2)?.text ?? '', OVER, transcript(over2));
    const over1 = await rcpt(mx1, 51);
    assert.match(rcptReply(over1)?.text ?? '', OVER, transcript(over1));
    const keys = (await redis.cli(['--scan', '--pattern', 'filter-rules:limit:r:*'])).trim().split('\n').filter((k) => k !== '');
    assert.equal(keys.length, 1, `one counter for the /24: ${JSON.stringify(keys)}`);
  });

  test('Redis killed: 451 4.3.0 (on-error tempfail) or delivered with on-error proceed; never 5xx; back, limits again', async () => {
    await redis.kill();
    const a = await rcpt(mx1, 5, '203.0.113');
    assert.equal(rcptReply(a)?.text, TEMPFAIL, transcript(a));
    const c = await rcpt(lenient, 6, '203.0.113');
    assert.equal(rcptReply(c)?.code, 250, transcript(c));
    await redis.launch();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await rcpt(mx2, 7, '203.0.113');
      const code = rcptReply(r)?.code;
      assert.ok(code === 250 || rcptReply(r)?.text === TEMPFAIL, transcript(r));
      if (code === 250) break;
      assert.ok(Date.now() < deadline, `mx2 never counted again after Redis came back\n${mx2.logTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });
});
