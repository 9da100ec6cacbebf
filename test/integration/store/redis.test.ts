/**
 * The Redis store against a real redis-server on loopback: the shared store
 * contract, two filter processes ("MX hosts") sharing entries, fail-fast when
 * Redis is down or hung, and recovery when it comes back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { openStore } from '../../../src/store/open.js';
import { RedisGreylistStore, type RedisStoreOptions } from '../../../src/store/redis.js';
import type { GreylistStore } from '../../../src/store/types.js';
import { RecordingLogger } from '../../../src/support/log.js';
import { allClients, defineStoreContract, POLICY, T0, triplet } from '../../unit/store/store-contract.js';
import { FakeRedis, type FakeRedisMode } from './fake-redis.js';
import { findRedisServer, RedisServer } from './redis-server.js';

const MIN = 60_000;
const available = findRedisServer() !== null;
let server: RedisServer;
let prefixes = 0;

function openRedis(url: string, log = new RecordingLogger(), extra: Omit<RedisStoreOptions, 'log'> = {}): RedisGreylistStore {
  const r = openStore(url, { log, redis: { connectTimeoutMs: 500, commandTimeoutMs: 500, maxReconnectDelayMs: 200, ...extra } });
  if (!r.ok) throw new Error(r.error);
  assert.ok(r.value instanceof RedisGreylistStore);
  return r.value;
}

async function openReady(url: string, log?: RecordingLogger): Promise<RedisGreylistStore> {
  const s = openRedis(url, log);
  try {
    await s.whenReady(3000);
  } catch (e) {
    await s.close();
    throw e;
  }
  return s;
}

const freshPrefix = (): string => `t${process.pid}-${++prefixes}:`;

/** Where a promise stands once pending I/O callbacks and microtasks have run: 'pending', 'resolved' or its error. */
async function settledAs(p: Promise<unknown>): Promise<string> {
  let out = 'pending';
  p.then(
    () => (out = 'resolved'),
    (e: unknown) => (out = e instanceof Error ? e.message : String(e)),
  );
  await new Promise((r) => setImmediate(r));
  return out;
}

/** Poll `fn` until it resolves, for at most `ms`. */
async function eventually<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('RedisGreylistStore (real redis-server)', { skip: available ? false : 'redis-server is not installed' }, () => {
  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    await server?.dispose();
  });

  describe('store contract', () => {
    defineStoreContract({ open: () => openReady(server.url(0, freshPrefix())) });
  });

  test('two filter processes (two MX hosts) share entries and count a first pass once', async () => {
    const url = server.url(1, freshPrefix());
    const mx1 = await openReady(url);
    const mx2 = await openReady(url);
    try {
      const t = triplet('192.0.2.10', 'alice@example.org', 'bob@example.net');
      assert.equal((await mx1.check(t, POLICY, T0)).action, 'greylist');
      // The retry lands on the other MX.
      assert.deepEqual(await mx2.check(t, POLICY, T0 + MIN), { action: 'greylist', reason: 'early-retry', retryInMs: 4 * MIN, firstSeen: T0 });
      const both = await Promise.all([
        ...Array.from({ length: 10 }, () => mx1.check(t, POLICY, T0 + 5 * MIN)),
        ...Array.from({ length: 10 }, () => mx2.check(t, POLICY, T0 + 5 * MIN)),
      ]);
      assert.equal(both.filter((v) => v.action === 'pass' && v.reason === 'delayed').length, 1);
      assert.equal(both.filter((v) => v.action === 'pass' && v.reason === 'known').length, 19);
      assert.deepEqual((await allClients(mx1)).map((c) => c.count), [1]);
      assert.equal((await mx2.stats(T0 + 6 * MIN)).passedTriplets, 1);
    } finally {
      await mx1.close();
      await mx2.close();
    }
  });

  test('keys get a TTL from the expiry (Redis collects them itself)', async () => {
    const prefix = freshPrefix();
    const s = await openReady(server.url(0, prefix));
    try {
      const t = triplet('192.0.2.10', 'a@example.org', 'b@example.net');
      await s.check(t, POLICY, T0);
      // Never-passed entry: valid until first-seen + retry window (2 days).
      const probe = openRedisRaw();
      try {
        const ttl = await probe.pttl(`${prefix}t:${t.key}`);
        assert.ok(ttl > 2 * 24 * 60 * MIN - 10_000 && ttl <= 2 * 24 * 60 * MIN + 1, `ttl ${ttl}`);
        await s.check(t, POLICY, T0 + 5 * MIN);
        const passedTtl = await probe.pttl(`${prefix}t:${t.key}`);
        assert.ok(passedTtl > 35 * 24 * 60 * MIN - 10_000, `ttl ${passedTtl}`);
        assert.ok((await probe.pttl(`${prefix}c:${t.client}`)) > 35 * 24 * 60 * MIN - 10_000);
      } finally {
        probe.disconnect();
      }
    } finally {
      await s.close();
    }
  });

  test('redis+unix:// reaches the same server over its socket', async () => {
    const prefix = freshPrefix();
    const tcp = await openReady(server.url(2, prefix));
    const unix = await openReady(`redis+unix://${server.socketPath}?db=2&prefix=${encodeURIComponent(prefix)}`);
    try {
      const t = triplet('2001:db8::5', 'a@example.org', 'b@example.net');
      await tcp.check(t, POLICY, T0);
      assert.equal((await unix.check(t, POLICY, T0 + 5 * MIN)).action, 'pass');
    } finally {
      await tcp.close();
      await unix.close();
    }
  });

  test('Redis down: checks fail fast with a named error; back up: the same store recovers', async () => {
    const log = new RecordingLogger();
    const url = server.url(3, freshPrefix());
    const s = await openReady(url, log);
    const t = triplet('192.0.2.10', 'a@example.org', 'b@example.net');
    try {
      await s.check(t, POLICY, T0);
      await server.stop();
      const started = Date.now();
      await assert.rejects(s.check(t, POLICY, T0 + MIN), (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(e.message, /^greylist store redis:\/\/127\.0\.0\.1:\d+\/3\?prefix=.*: check failed: /);
        return true;
      });
      assert.ok(Date.now() - started < 1000, `failed after ${Date.now() - started} ms`);
      // Every check while down fails at once: no offline queue to wait in.
      const burst = Date.now();
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => s.check(t, POLICY, T0 + MIN)));
      assert.ok(results.every((r) => r.status === 'rejected'));
      assert.ok(Date.now() - burst < 1000);
      // The warning comes from ioredis's 'close'/'error' event, which may follow the
      // failed checks by a moment: wait for it rather than race it.
      await eventually(2000, async () => {
        assert.ok(log.records.some((r) => r.level === 'warn' && /unreachable/.test(r.msg ?? '')), 'outage logged');
      });

      await server.restart();
      // Data is gone (no persistence) and the script cache is empty: NOSCRIPT → EVAL.
      const v = await eventually(5000, () => s.check(t, POLICY, T0 + 2 * MIN));
      assert.deepEqual(v, { action: 'greylist', reason: 'new', retryInMs: 5 * MIN, firstSeen: T0 + 2 * MIN });
      await eventually(2000, async () => {
        assert.ok(log.records.some((r) => r.level === 'info' && /reachable again/.test(r.msg ?? '')), 'recovery logged');
      });
    } finally {
      await s.close();
      await server.ensureRunning();
    }
  });

  test('Redis hung (SIGSTOP): a check fails within the command timeout', async () => {
    const s = await openReady(server.url(4, freshPrefix()));
    const t = triplet('192.0.2.10', 'a@example.org', 'b@example.net');
    try {
      await s.check(t, POLICY, T0);
      server.pause();
      const started = Date.now();
      await assert.rejects(s.check(t, POLICY, T0 + MIN), /check failed: Command timed out/);
      const took = Date.now() - started;
      assert.ok(took >= 400 && took < 1500, `failed after ${took} ms`);
    } finally {
      server.resume();
      await s.close();
    }
    // The server is usable again for later tests.
    const again = await openReady(server.url(4, freshPrefix()));
    await again.close();
  });

  test('checks issued right after open, before the connection is up, wait for it and get their verdicts', async () => {
    for (let round = 0; round < 5; round++) {
      // No whenReady: the client connects in the background, so these are sent while it does.
      const s = openRedis(server.url(5, freshPrefix()));
      try {
        const verdicts = await Promise.all(
          Array.from({ length: 20 }, (_, i) => s.check(triplet('192.0.2.10', `a${i}@example.org`, 'b@example.net'), POLICY, T0)),
        );
        assert.deepEqual(
          verdicts.map((v) => v.action),
          verdicts.map(() => 'greylist'),
        );
      } finally {
        await s.close();
      }
    }
  });

  test('Redis hung at start (accepts, never answers): waits end at connectWaitMs, at the caller’s abort, and past maxWaiting at once', async () => {
    server.pause();
    const s = openRedis(server.url(5, freshPrefix()), new RecordingLogger(), { connectWaitMs: 300, maxWaiting: 2 });
    const t = triplet('192.0.2.10', 'a@example.org', 'b@example.net');
    try {
      try {
        let abort: ((reason: unknown) => void) | null = null;
        const aborted = s.check(t, POLICY, T0, {
          onAbort: (l) => {
            abort = l;
            return () => (abort = null);
          },
        });
        const waiting = s.check(t, POLICY, T0);
        // Two wait already: the third is refused without waiting.
        const third = s.check(t, POLICY, T0);
        assert.match(await settledAs(third), /check failed: not connected yet, and 2 commands already wait for the connection/);
        assert.equal(await settledAs(waiting), 'pending');
        assert.ok(abort !== null, 'the check subscribed to its caller’s abort');
        (abort as (reason: unknown) => void)(new Error('step deadline of 11000 ms passed'));
        await assert.rejects(aborted, /check failed: gave up waiting for the connection: step deadline of 11000 ms passed/);
        await assert.rejects(waiting, /check failed: not connected after 300 ms \(connecting\)/);
        // Still not ready: later checks do not wait again.
        assert.match(await settledAs(s.check(t, POLICY, T0)), /check failed: not connected after 300 ms \(connecting\)/);
      } finally {
        server.resume();
      }
      // Once it answers, the same store recovers.
      assert.equal((await eventually(5000, () => s.check(t, POLICY, T0))).action, 'greylist');
    } finally {
      await s.close();
    }
  });

  test('an unreachable Redis at start is not an open error; checks fail until it answers', async () => {
    const r = openStore('redis://127.0.0.1:1/0', { redis: { connectTimeoutMs: 200, commandTimeoutMs: 200, maxReconnectDelayMs: 100 } });
    assert.ok(r.ok);
    const s: GreylistStore = r.value;
    try {
      const started = Date.now();
      await assert.rejects(s.check(triplet('192.0.2.1', 'a@b.example', 'c@d.example'), POLICY, T0), /greylist store redis:\/\/127\.0\.0\.1:1\/0: check failed/);
      assert.ok(Date.now() - started < 500);
    } finally {
      await s.close();
    }
  });
});

describe('RedisGreylistStore against a hostile server (a fake Redis)', () => {
  let fake: FakeRedis;
  before(async () => {
    fake = await FakeRedis.start();
  });
  after(async () => {
    await fake?.stop();
  });

  const t = triplet('192.0.2.10', 'a@example.org', 'b@example.net');
  const TOO_LARGE = 'Redis sent a reply of more than 1048576 bytes (the cap); connection dropped';
  const cases: [FakeRedisMode, string][] = [
    ['huge-bulk', TOO_LARGE],
    ['endless-line', TOO_LARGE],
    ['wide-array', TOO_LARGE],
    ['not-resp', 'Redis sent something that is not a reply (reply type byte 0x48); connection dropped'],
  ];
  for (const [mode, reason] of cases) {
    test(`${mode}: the check fails with the reason, the connection is dropped, and the store is used again once the server behaves`, async () => {
      fake.mode = 'greylist';
      const log = new RecordingLogger();
      const s = await openReady(fake.url(), log);
      try {
        assert.equal((await s.check(t, POLICY, T0)).action, 'greylist');
        const connections = fake.connections;
        fake.mode = mode;
        await assert.rejects(s.check(t, POLICY, T0), (e: unknown) => {
          assert.ok(e instanceof Error);
          assert.equal(e.message, `greylist store ${fake.url()}: check failed: ${reason}`);
          return true;
        });
        // Down until the reconnect (100 ms on): checks fail at once, with the reason. (On a
        // machine slow enough to reconnect first, the check gets the next hostile reply.)
        await assert.rejects(s.check(t, POLICY, T0), (e: unknown) => {
          assert.ok(e instanceof Error);
          const prefix = `greylist store ${fake.url()}: check failed: `;
          assert.ok([`${prefix}not connected (${reason})`, `${prefix}${reason}`].includes(e.message), e.message);
          return true;
        });
        if (mode !== 'not-resp') {
          const reply = fake.hostile.at(-1);
          assert.ok(reply !== undefined && reply.mode === mode);
          await eventually(5000, async () => assert.ok(reply.droppedByClient, 'the client dropped the connection'));
          // What the kernel's socket buffers took, beyond the 1 MiB the store read: a few MB, not 2 GB.
          assert.ok(reply.written < 32 * 1024 * 1024, `the server wrote ${reply.written} bytes before the drop`);
        }
        assert.ok(
          log.records.some((r) => r.level === 'warn' && r.fields.err === reason),
          'the outage is logged with the reason',
        );
        fake.mode = 'greylist';
        assert.equal((await eventually(5000, () => s.check(t, POLICY, T0))).action, 'greylist');
        assert.ok(fake.connections > connections, 'reconnected');
      } finally {
        await s.close();
      }
    });
  }
});

/** A plain ioredis client for inspecting keys. */
function openRedisRaw(): Redis {
  return new Redis({ host: '127.0.0.1', port: server.port });
}
