/**
 * The behaviour every CounterStore must have, as one suite each store's test
 * file runs against its own harness (memory here, SQLite and a real Redis in
 * test/integration/store). The Redis store reads the server's clock, so the
 * suite is written so that the few milliseconds a run takes change nothing:
 * periods of an hour, retry-afters compared within a second.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { consume, type CountMode, type GcraState, type RateSpec } from '../../../src/limits/gcra.js';
import type { CounterEntry, CounterStore } from '../../../src/store/counter-types.js';
import type { ListPage } from '../../../src/store/types.js';

export interface CounterHarness {
  /** A fresh, empty store (its own file or key prefix). */
  open(): Promise<CounterStore>;
  /** The time the store decides on (Redis: its server's clock, so about Date.now()). */
  readonly now: () => number;
}

const HOUR = 3_600_000;
const SPEC: RateSpec = { rate: 30, periodMs: HOUR, burst: 3 };

export async function allCounters(store: CounterStore): Promise<CounterEntry[]> {
  const out: CounterEntry[] = [];
  let cursor: string | null = null;
  do {
    const page: ListPage<CounterEntry> = await store.listCounters({ limit: 10, cursor });
    out.push(...page.items);
    cursor = page.cursor;
  } while (cursor !== null);
  return out.sort((a, b) => (a.key + a.kind < b.key + b.kind ? -1 : 1));
}

const near = (actual: number, expected: number, what: string): void =>
  assert.ok(actual <= expected && actual > expected - 1000, `${what}: ${actual}, expected about ${expected}`);

export function defineCounterContract(h: CounterHarness): void {
  test('rate: burst events pass, the next is refused with the retry-after, keys are apart', async () => {
    const s = await h.open();
    try {
      for (let i = 1; i <= 3; i++) {
        const r = await s.consume('k1', SPEC, 1, 'lenient', h.now());
        assert.deepEqual(r, { allowed: true, remaining: 3 - i });
      }
      const refused = await s.consume('k1', SPEC, 1, 'lenient', h.now());
      assert.equal(refused.allowed, false);
      if (!refused.allowed) near(refused.retryAfterMs, 120_000, 'retry-after');
      assert.equal((await s.consume('k2', SPEC, 1, 'lenient', h.now())).allowed, true, 'another key has its own bucket');
      // strict: a refused attempt fills the bucket (the retry-after is a whole interval)
      await s.consume('k3', SPEC, 3, 'strict', h.now());
      const strict = await s.consume('k3', SPEC, 1, 'strict', h.now());
      assert.equal(strict.allowed, false);
      if (!strict.allowed) near(strict.retryAfterMs, 120_000, 'strict retry-after');
    } finally {
      await s.close();
    }
  });

  test('concurrency: at most max members, a release frees a place, releases never go below zero', async () => {
    const s = await h.open();
    const spec = { max: 2, orphanAfterMs: HOUR };
    try {
      assert.deepEqual(await s.acquire('c', 'a', spec, h.now()), { allowed: true, count: 1 });
      assert.deepEqual(await s.acquire('c', 'b', spec, h.now()), { allowed: true, count: 2 });
      assert.deepEqual(await s.acquire('c', 'c', spec, h.now()), { allowed: false, count: 2 });
      assert.deepEqual(await s.acquire('c', 'a', spec, h.now()), { allowed: true, count: 2 }, 'a member again is renewed');
      await s.release('c', 'a', h.now());
      await s.release('c', 'a', h.now());
      await s.release('c', 'never', h.now());
      assert.deepEqual(await s.acquire('c', 'c', spec, h.now()), { allowed: true, count: 2 });
      await s.release('c', 'b', h.now());
      await s.release('c', 'c', h.now());
      assert.deepEqual(await s.acquire('c', 'd', spec, h.now()), { allowed: true, count: 1 });
    } finally {
      await s.close();
    }
  });

  test('orphans expire: a member never released stops counting after orphan-after', async () => {
    const s = await h.open();
    try {
      const spec = { max: 1, orphanAfterMs: 50 };
      assert.equal((await s.acquire('o', 'lost', spec, h.now())).allowed, true);
      assert.equal((await s.acquire('o', 'next', spec, h.now())).allowed, false);
      // Wait for the store's clock to pass the orphan's expiry (Redis' own clock).
      const t0 = Date.now();
      for (;;) {
        if ((await s.acquire('o', 'next', spec, h.now() + 100)).allowed) break;
        assert.ok(Date.now() - t0 < 5000, 'the orphan never expired');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await s.close();
    }
  });

  test('admin: list shows rates and sessions; reset forgets a key', async () => {
    const s = await h.open();
    try {
      await s.consume('rate|a', SPEC, 1, 'lenient', h.now());
      await s.acquire('conc|b', 'm1', { max: 5, orphanAfterMs: HOUR }, h.now());
      const listed = await allCounters(s);
      assert.deepEqual(
        listed.map((e) => [e.kind, e.key, e.kind === 'concurrency' ? e.count : null]),
        [
          ['concurrency', 'conc|b', 1],
          ['rate', 'rate|a', null],
        ],
      );
      assert.equal(await s.resetCounter('rate|a'), true);
      assert.equal(await s.resetCounter('rate|a'), false);
      assert.deepEqual(await s.consume('rate|a', SPEC, 1, 'lenient', h.now()), { allowed: true, remaining: 2 }, 'a full bucket again');
    } finally {
      await s.close();
    }
  });

  test('property: the store decides as the pure GCRA over random costs and modes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ cost: fc.integer({ min: 0, max: 5 }), strict: fc.boolean() }), { minLength: 1, maxLength: 25 }),
        async (events) => {
          const s = await h.open();
          try {
            const spec: RateSpec = { rate: 7, periodMs: HOUR, burst: 6 };
            let state: GcraState | null = null;
            for (const [i, e] of events.entries()) {
              const mode: CountMode = e.strict ? 'strict' : 'lenient';
              const now = h.now();
              const model = consume(spec, state, now, e.cost, mode);
              if (model.write) state = model.write;
              const got = await s.consume('p', spec, e.cost, mode, now);
              assert.equal(got.allowed, model.outcome.allowed, `event ${i}`);
            }
          } finally {
            await s.close();
          }
        },
      ),
      { numRuns: 15 },
    );
  });
}
