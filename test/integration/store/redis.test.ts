/**
 * The Redis store against a real redis-server on loopback: the shared store
 * contract, two filter processes ("MX hosts") sharing entries, fail-fast when
 * Redis is down or hung, and recovery when it comes back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { openStore } from '../../../src/store/open.js';
import { RedisGreylistStore } from '../../../src/store/redis.js';
import type { GreylistStore } from '../../../src/store/types.js';
import { RecordingLogger } from '../../../src/support/log.js';
import { allClients, defineStoreContract, POLICY, T0, triplet } from '../../unit/store/store-contract.js';
import { findRedisServer, RedisServer } from './redis-server.js';

const MIN = 60_000;
const available = findRedisServer() !== null;
let server: RedisServer;
let prefixes = 0;

function openRedis(url: string, log = new RecordingLogger()): RedisGreylistStore {
  const r = openStore(url, { log, redis: { connectTimeoutMs: 500, commandTimeoutMs: 500, maxReconnectDelayMs: 200 } });
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

/** A plain ioredis client for inspecting keys. */
function openRedisRaw(): Redis {
  return new Redis({ host: '127.0.0.1', port: server.port });
}
