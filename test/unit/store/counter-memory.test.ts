import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryCounterStore } from '../../../src/store/counter-memory.js';
import { openCounterStore } from '../../../src/store/counter-open.js';
import { parseCounterStoreUrl } from '../../../src/store/url.js';
import { defineCounterContract } from './counter-contract.js';

describe('MemoryCounterStore', () => {
  describe('counter store contract', () => {
    defineCounterContract({ open: async () => new MemoryCounterStore(), now: () => Date.now() });
  });

  test('a flood over many keys stays within the bound (the oldest keys are forgotten)', async () => {
    const s = new MemoryCounterStore(1000);
    const spec = { rate: 1, periodMs: 3_600_000, burst: 1 };
    for (let i = 0; i < 20_000; i++) await s.consume(`k${i}`, spec, 1, 'lenient', 0);
    for (let i = 0; i < 5000; i++) await s.acquire(`c${i}`, 'm', { max: 1, orphanAfterMs: 1000 }, 0);
    assert.ok(s.size <= 2000, `${s.size} keys held`);
    assert.equal((await s.consume('k19999', spec, 1, 'lenient', 0)).allowed, false, 'the newest keys are still counted');
  });

  test('purge deletes full buckets and keys without live sessions', async () => {
    const s = new MemoryCounterStore();
    const spec = { rate: 1, periodMs: 1000, burst: 1 };
    await s.consume('a', spec, 1, 'lenient', 0);
    await s.acquire('b', 'm', { max: 1, orphanAfterMs: 500 }, 0);
    assert.equal(await s.purgeExpired(400, 10), 0);
    assert.equal(await s.purgeExpired(2000, 10), 2);
    assert.equal(s.size, 0);
  });
});

describe('counter store URLs', () => {
  test('memory:, memory:?max=N, and the greylist URLs with their own Redis prefix', () => {
    assert.deepEqual(parseCounterStoreUrl('memory:'), { ok: true, value: { kind: 'memory', maxEntries: 100_000 } });
    assert.deepEqual(parseCounterStoreUrl('memory:?max=50'), { ok: true, value: { kind: 'memory', maxEntries: 50 } });
    assert.equal(parseCounterStoreUrl('memory:?max=0').ok, false);
    assert.equal(parseCounterStoreUrl('memory:?size=3').ok, false);
    assert.equal(parseCounterStoreUrl('memory').ok, false);
    const r = parseCounterStoreUrl('redis://127.0.0.1:6379/3');
    assert.ok(r.ok && r.value.kind === 'redis' && r.value.prefix === 'filter-rules:limit:');
    const p = parseCounterStoreUrl('redis://127.0.0.1/3?prefix=mx:');
    assert.ok(p.ok && p.value.kind === 'redis' && p.value.prefix === 'mx:');
    assert.deepEqual(parseCounterStoreUrl('sqlite:/var/lib/filter-rules/limits.db'), { ok: true, value: { kind: 'sqlite', path: '/var/lib/filter-rules/limits.db' } });
    assert.equal(parseCounterStoreUrl('sqlite:relative.db').ok, false);
    const opened = openCounterStore('memory:?max=10');
    assert.ok(opened.ok && opened.value instanceof MemoryCounterStore);
  });
});
