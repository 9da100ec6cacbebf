/**
 * `filter-rules limits` through the real program, on a real SQLite counter
 * store and a real redis-server: list shows what the limit counted, reset
 * forgets a key (the next event starts from a full bucket), and a memory:
 * store is refused with a message.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCounterStore } from '../../../src/store/counter-open.js';
import type { CounterStore } from '../../../src/store/counter-types.js';
import { findRedisServer, RedisServer } from '../store/redis-server.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const KEY = 'recipients:2/1h:2:src(24,64)|192.0.2.0/24';
const SPEC = { rate: 2, periodMs: 3_600_000, burst: 2 };

function limits(...args: string[]): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, [MAIN, 'limits', ...args], { encoding: 'utf8', input: '', timeout: 30_000 });
  if (r.error) throw r.error;
  return r;
}
const show = (r: SpawnSyncReturns<string>): string => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

async function opened(url: string): Promise<CounterStore> {
  const r = openCounterStore(url);
  assert.ok(r.ok);
  const ready = (r.value as { whenReady?: (ms: number) => Promise<void> }).whenReady;
  if (ready !== undefined) await ready.call(r.value, 3000);
  return r.value;
}

async function scenario(dir: string, url: string): Promise<void> {
  const rules = join(dir, `r${Math.random().toString(36).slice(2)}.rules`);
  writeFileSync(rules, `chain inbound =\n    limit "2/1h" per "src(24,64)" store "${url}"\n`);
  const store = await opened(url);
  try {
    await store.consume(KEY, SPEC, 2, 'lenient', Date.now());
    assert.equal((await store.consume(KEY, SPEC, 1, 'lenient', Date.now())).allowed, false);
    const listed = limits('list', '--json', rules);
    assert.equal(listed.status, 0, show(listed));
    assert.deepEqual(listed.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { key: string }).key), [KEY]);
    const reset = limits('reset', rules, KEY);
    assert.equal(reset.status, 0, show(reset));
    assert.equal((await store.consume(KEY, SPEC, 1, 'lenient', Date.now())).allowed, true, 'a full bucket after the reset');
    const missing = limits('reset', rules, 'no-such-key');
    assert.equal(missing.status, 1, show(missing));
  } finally {
    await store.close();
  }
}

describe('filter-rules limits, the program', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fr-limits-cli-'));
  let redis: RedisServer | undefined;
  before(async () => {
    if (findRedisServer() !== null) redis = await RedisServer.start();
  });
  after(async () => {
    await redis?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('on SQLite: list, reset, an unknown key', () => scenario(dir, `sqlite:${join(dir, 'limits.db')}`));

  test('on Redis: list, reset, an unknown key', { skip: findRedisServer() === null ? 'redis-server is not installed' : false }, () =>
    scenario(dir, (redis as RedisServer).url(4, 'cli:')),
  );

  test('a memory: store cannot be looked at from outside the filter: exit 1 with the reason', () => {
    const rules = join(dir, 'memory.rules');
    writeFileSync(rules, 'chain inbound =\n    limit "2/1h"\n');
    const r = limits('list', rules);
    assert.equal(r.status, 1, show(r));
    assert.match(r.stderr, /memory: store lives inside the filter process/);
  });
});
