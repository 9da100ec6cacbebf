/**
 * The Redis counter store against a real redis-server: the contract (the
 * scripts decide as the pure GCRA), two filter processes ("MX hosts") that
 * share counts, the TTL set by the script, and a check failing fast while
 * Redis is down, then working again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { openCounterStore } from '../../../src/store/counter-open.js';
import { RedisCounterStore } from '../../../src/store/counter-redis.js';
import { defineCounterContract } from '../../unit/store/counter-contract.js';
import { findRedisServer, RedisServer } from './redis-server.js';

const available = findRedisServer() !== null;
let server: RedisServer;
let prefixes = 0;
const freshPrefix = (): string => `c${process.pid}-${++prefixes}:`;

async function openReady(url: string): Promise<RedisCounterStore> {
  const r = openCounterStore(url, { redis: { connectTimeoutMs: 500, commandTimeoutMs: 500, maxReconnectDelayMs: 200 } });
  if (!r.ok) throw new Error(r.error);
  assert.ok(r.value instanceof RedisCounterStore);
  await r.value.whenReady(3000);
  return r.value;
}

describe('RedisCounterStore (real redis-server)', { skip: available ? false : 'redis-server is not installed' }, () => {
  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    await server?.dispose();
  });

  describe('counter store contract', () => {
    defineCounterContract({ open: () => openReady(server.url(0, freshPrefix())), now: () => Date.now() });
  });

  test('two MX hosts share one Redis: each sees the other’s counts, whatever their own clocks say', async () => {
    const url = server.url(1, freshPrefix());
    const mx1 = await openReady(url);
    const mx2 = await openReady(url);
    const spec = { rate: 30, periodMs: 3_600_000, burst: 4 };
    try {
      // The clocks passed differ by a day: the script reads the server's TIME.
      assert.equal((await mx1.consume('src|192.0.2.0/24', spec, 2, 'lenient', Date.now())).allowed, true);
      assert.equal((await mx2.consume('src|192.0.2.0/24', spec, 2, 'lenient', Date.now() + 86_400_000)).allowed, true);
      assert.equal((await mx1.consume('src|192.0.2.0/24', spec, 1, 'lenient', Date.now() - 86_400_000)).allowed, false);
      assert.equal((await mx2.acquire('conc', 'mx2:1', { max: 1, orphanAfterMs: 60_000 }, 0)).allowed, true);
      assert.equal((await mx1.acquire('conc', 'mx1:1', { max: 1, orphanAfterMs: 60_000 }, 0)).allowed, false);
    } finally {
      await mx1.close();
      await mx2.close();
    }
  });

  test('the script sets the TTL: a key lives until its bucket is full again', async () => {
    const prefix = freshPrefix();
    const s = await openReady(server.url(2, prefix));
    const raw = new Redis({ port: server.port, db: 2 });
    try {
      await s.consume('k', { rate: 30, periodMs: 3_600_000, burst: 30 }, 1, 'lenient', 0);
      const ttl = await raw.pttl(`${prefix}r:k`);
      assert.ok(ttl > 119_000 && ttl <= 120_001, `pttl ${ttl}`);
      await s.acquire('c', 'm', { max: 3, orphanAfterMs: 10_000 }, 0);
      const cttl = await raw.pttl(`${prefix}n:c`);
      assert.ok(cttl > 9000 && cttl <= 10_001, `pttl ${cttl}`);
      await s.release('c', 'm', 0);
      assert.equal(await raw.exists(`${prefix}n:c`), 0, 'an empty set is deleted');
    } finally {
      raw.disconnect();
      await s.close();
    }
  });

  test('Redis down: a check fails fast with the store named; back up, checks work again', async () => {
    const s = await openReady(server.url(3, freshPrefix()));
    try {
      await server.stop();
      await assert.rejects(s.consume('k', { rate: 1, periodMs: 1000, burst: 1 }, 1, 'lenient', 0), /counter store redis:\/\/127\.0\.0\.1:\d+\/3/);
      await server.restart();
      await s.whenReady(5000);
      assert.equal((await s.consume('k', { rate: 1, periodMs: 1000, burst: 1 }, 1, 'lenient', 0)).allowed, true);
    } finally {
      await s.close();
    }
  });
});
