/**
 * Built-in greylisting on one Redis shared by several MX hosts, end to end: three
 * real smtpd instances (E2E_SMTPD: 6.8 or 7.8), each with its own filter-rules process, in one network
 * namespace with a real redis-server on its loopback (127.0.0.1:6379):
 *
 *   mx1 (port 2525), mx2 (port 2526): examples/multi-mx-redis/greylist.rules
 *   lenient (port 2527):              the same with `on-error proceed`
 *
 * (pause 100 ms instead of 3 s, delay 2 s instead of 5 m, the store pointed at the
 * namespace's Redis.) Each smtpd has its own mount namespace, queue and maildir, like
 * separate hosts. The example trusts 127/8, so senders come from 198.51.100.0/24.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { DialogResult } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from '../harness/env.js';
import { delivered, exampleRules, rcptReply, retryUntilDelivered, senderNames } from '../harness/greylist.js';
import { buildMessage, mailSteps, marker, transcript } from '../harness/mail.js';
import { NetworkNamespace } from '../harness/netns.js';
import { NamespacedRedis, redisUnavailable } from '../harness/redis.js';
import { Smtpd } from '../harness/smtpd.js';

const skip = e2eSkipReason() ?? redisUnavailable();

const DELAY_MS = 2000;
const NET = '198.51.100';
const GREYLISTED = /^451 4\.7\.1 Greylisted, please try again in [12] seconds?$/;
const TEMPFAIL = '451 4.3.0 Temporary failure, please try again later';
const EXAMPLE_STORE = 'redis://192.0.2.53:6379/0" header';

function rulesFor(storeUrl: string, onError: '' | ' on-error proceed'): string {
  return exampleRules('multi-mx-redis/greylist.rules', [
    ['pause 3s', 'pause 100ms'],
    ['delay 5m', `delay ${DELAY_MS / 1000}s`],
    [EXAMPLE_STORE, `${storeUrl}" header${onError}`],
  ]);
}

function send(smtpd: Smtpd, from: string, subject = marker('redis'), localAddress = `${NET}.40`): Promise<DialogResult> {
  return smtpd.dialog({
    localAddress,
    timeoutMs: 10_000,
    steps: mailSteps({ helo: 'mail.sender.example', from, message: buildMessage({ from, subject, body: 'shared greylisting' }) }),
  });
}

/** Filter log lines (JSON) of one smtpd that mention `text`. */
function filterLogWith(smtpd: Smtpd, text: string): Array<Record<string, unknown>> {
  return smtpd
    .filterLines()
    .filter((l) => l.includes(text))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('built-in greylisting on one Redis shared by two MX hosts', { skip: skip ?? false }, () => {
  let ns: NetworkNamespace;
  let redis: NamespacedRedis;
  let mx1: Smtpd;
  let mx2: Smtpd;
  let lenient: Smtpd;
  /** Started while Redis is down. */
  let late: Smtpd | undefined;
  const names = senderNames('sender');
  const sender = (): string => `${names()}@redis.example`;
  const all = (): Smtpd[] => [mx1, mx2, lenient, ...(late === undefined ? [] : [late])];
  const start = (port: number, rules: string): Promise<Smtpd> => {
    const rt = filterRuntime();
    return Smtpd.start({
      netns: ns,
      port,
      files: { 'greylist.rules': rules },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'greylist.rules')],
    });
  };

  before(async () => {
    ns = await NetworkNamespace.create({ loopbackNets: [`${NET}.1/24`] });
    redis = await NamespacedRedis.start(ns);
    [mx1, mx2, lenient] = await Promise.all([
      start(2525, rulesFor(redis.url, '')),
      start(2526, rulesFor(redis.url, '')),
      start(2527, rulesFor(redis.url, ' on-error proceed')),
    ]);
  });
  after(async () => {
    await Promise.all([mx1?.stop(), mx2?.stop(), lenient?.stop(), late?.stop()]);
    await redis?.dispose();
    await ns?.close();
  });
  afterEach(() => {
    for (const s of all()) s?.assertHealthy();
  });

  test('a sender deferred by mx1 is accepted by mx2 after the delay, with X-Greylist', () =>
    mx2.withLog(async () => {
      const from = 'alice@sender.example';
      const subject = marker('mx2');
      const first = await send(mx1, from, subject);
      assert.match(rcptReply(first)?.text ?? '', GREYLISTED, transcript(first));
      const { attempts, elapsedMs } = await retryUntilDelivered(() => send(mx2, from, subject), { boundMs: DELAY_MS + 8000 });
      assert.ok(elapsedMs >= DELAY_MS - 500, `mx2 accepted after ${elapsedMs} ms`);
      const m = await mx2.waitForMessage((x) => x.text.includes(subject));
      assert.match(m.headerLines.find((h) => h.startsWith('X-Greylist:')) ?? '', /^X-Greylist: delayed [23] seconds by filter-rules-/, m.text);

      // mx1 saw the triplet first; mx2 never did (for it, every early attempt was a
      // retry of mx1's entry): they share the store.
      const mx1Says = filterLogWith(mx1, '"sender":"alice@sender.example"').map((r) => r['greylist']);
      const mx2Says = filterLogWith(mx2, '"sender":"alice@sender.example"').map((r) => r['greylist']);
      assert.deepEqual(mx1Says, ['new'], mx1.logTail());
      assert.ok(!mx2Says.includes('new'), `mx2 treated the triplet as new: ${JSON.stringify(mx2Says)}\n${mx2.logTail()}`);
      if (attempts.length > 1) assert.ok(mx2Says.includes('early-retry'), mx2.logTail());

      // And the entry is in Redis, under the documented prefix.
      const keys = (await redis.cli(['--scan', '--pattern', 'filter-rules:greylist:t:*'])).trim().split('\n').filter((k) => k !== '');
      assert.ok(keys.length >= 1, `no triplet keys in Redis: ${JSON.stringify(keys)}`);
    }));

  test('Redis killed: 451 (on-error tempfail) at once, or delivered with on-error proceed; never 5xx', async () => {
    await redis.kill();
    const started = Date.now();
    const [a, b, c] = await Promise.all([send(mx1, sender()), send(mx2, sender()), send(lenient, sender())]);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.equal(rcptReply(a)?.text, TEMPFAIL, transcript(a));
    assert.equal(rcptReply(b)?.text, TEMPFAIL, transcript(b));
    assert.ok(delivered(c), transcript(c));
    await mx1.waitForLog((l) => l.startsWith('rules: ') && l.includes('greylist store unreachable'));

    // A filter that starts while Redis is down starts all the same (smtpd with it).
    late = await start(2528, rulesFor(redis.url, ''));
    const d = await send(late, sender());
    assert.equal(rcptReply(d)?.text, TEMPFAIL, transcript(d));
  });

  test('Redis back: every filter (also the one started while it was down) reconnects by itself and greylists again', async () => {
    await redis.launch();
    await Promise.all(all().map((s) => untilGreylisted(s)));
  });

  test('Redis hung (SIGSTOP): each check gives up after about 1 s; no hang', async () => {
    redis.pause();
    try {
      const started = Date.now();
      const [a, c] = await Promise.all([send(mx1, sender()), send(lenient, sender())]);
      const took = Date.now() - started;
      assert.ok(took < 6000, `took ${took} ms\n${transcript(a)}`);
      assert.equal(rcptReply(a)?.text, TEMPFAIL, transcript(a));
      assert.ok(delivered(c), transcript(c));
      const mail = a.exchanges.find((e) => e.sent.startsWith('MAIL'))?.reply?.at ?? 0;
      const rcpt = a.exchanges.find((e) => e.sent.startsWith('RCPT'))?.reply?.at ?? Infinity;
      assert.ok(rcpt - mail >= 900 && rcpt - mail < 4000, `RCPT answered ${rcpt - mail} ms after MAIL\n${transcript(a)}`);
    } finally {
      redis.resume();
    }
    await Promise.all([mx1, lenient].map((s) => untilGreylisted(s)));
  });

  /** New senders until the greylist's own 451 comes back (5 s at most). */
  async function untilGreylisted(s: Smtpd): Promise<void> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const r = await send(s, sender());
      const reply = rcptReply(r);
      if (reply !== null && GREYLISTED.test(reply.text)) return;
      assert.ok(reply?.text === TEMPFAIL || delivered(r), `unexpected while Redis comes back:\n${transcript(r)}`);
      assert.ok(Date.now() < deadline, `no greylisting within 5 s of Redis coming back\n${transcript(r)}\n${s.logTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
});
