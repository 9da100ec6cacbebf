/**
 * `filter-rules greylist list|delete|stats` against a real redis-server (a
 * private one on loopback, started here): the same scenario as the SQLite
 * test, plus a Redis that cannot be reached.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../../src/store/open.js';
import { RedisGreylistStore } from '../../../src/store/redis.js';
import { openStoreForAdmin } from '../../../src/tools/greylist/commands.js';
import { defineAdminScenario } from '../../unit/tools/greylist-admin-scenario.js';
import { findRedisServer, RedisServer } from '../store/redis-server.js';

const available = findRedisServer() !== null;

describe('greylist admin on a real Redis', { skip: available ? false : 'redis-server is not installed' }, () => {
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    await server?.dispose();
  });

  describe('scenario', () => {
    defineAdminScenario({
      // A database of its own (the rules language takes no ?prefix=).
      url: () => server.url(3),
      open: async (url) => {
        const r = openStore(url);
        if (!r.ok) throw new Error(r.error);
        assert.ok(r.value instanceof RedisGreylistStore);
        await r.value.whenReady(3000);
        return r.value;
      },
    });
  });

  test('an unreachable Redis is an error after a bounded wait, not a hang', async () => {
    const started = Date.now();
    const r = await openStoreForAdmin('redis://127.0.0.1:1/0');
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error, /not connected/);
    assert.ok(Date.now() - started < 10_000);
  });
});
