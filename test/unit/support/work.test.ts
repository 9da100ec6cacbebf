/**
 * Work in slices (support/work.ts) and the sort that IP lists are built with:
 * the same result run straight through or paused; pauses come as the clock
 * says; an abort stops the work at the next pause and runs its `finally`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IpSet, IpSetBuilder, parseCidr, sortedOrder, type CidrRange } from '../../../src/support/net.js';
import { Pacer, runInSlices, runToEnd, type Work } from '../../../src/support/work.js';

/** Counts to n, yielding after every item; `cleaned` is set by its finally. */
function counter(n: number, state: { cleaned: boolean; steps: number }): Work<number> {
  return (function* () {
    try {
      for (let i = 0; i < n; i++) {
        state.steps++;
        yield;
      }
      return n;
    } finally {
      state.cleaned = true;
    }
  })();
}

describe('runToEnd / runInSlices', () => {
  test('the same result either way', async () => {
    assert.equal(runToEnd(counter(10, { cleaned: false, steps: 0 })), 10);
    let t = 0;
    assert.equal(await runInSlices(counter(10, { cleaned: false, steps: 0 }), { sliceMs: 5, now: () => t++ }), 10);
  });

  test('a pause each time the clock passes sliceMs, none before', async () => {
    let t = 0;
    let pauses = 0;
    // Every step takes 1 ms of fake time: a pause after every 3 steps.
    const work = (function* (): Work<string> {
      for (let i = 0; i < 10; i++) {
        t += 1;
        yield;
      }
      return 'done';
    })();
    const result = await runInSlices(work, { sliceMs: 3, now: () => t, pause: async () => void pauses++ });
    assert.equal(result, 'done');
    assert.equal(pauses, 3);
  });

  test('aborted: stops at the next pause with the reason, and the work cleans up', async () => {
    let t = 0;
    const controller = new AbortController();
    const state = { cleaned: false, steps: 0 };
    const reason = new Error('time is up');
    const run = runInSlices(counter(1000, state), {
      sliceMs: 1,
      now: () => t++,
      pause: async () => {
        if (state.steps >= 5) controller.abort(reason);
      },
      signal: controller.signal,
    });
    await assert.rejects(run, (e) => e === reason);
    assert.ok(state.steps < 1000, `ran ${state.steps} steps`);
    assert.equal(state.cleaned, true);
  });

  test('Pacer: true every n-th tick', () => {
    const p = new Pacer(4);
    assert.deepEqual(Array.from({ length: 9 }, () => p.tick()), [false, false, false, true, false, false, false, true, false]);
    assert.throws(() => new Pacer(3), /power of two/);
  });
});

describe('sortedOrder (the IP lists’ sort, in slices)', () => {
  test('sorts like Array.prototype.sort, stable, numbers and bigints', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 300 }), (keys) => {
        const order = [...runToEnd(sortedOrder(keys, new Pacer(2)))];
        const expected = keys.map((_, i) => i).sort((a, b) => (keys[a] ?? 0) - (keys[b] ?? 0) || a - b);
        assert.deepEqual(order, expected);
        const big = keys.map((k) => BigInt(k) << 100n);
        assert.deepEqual([...runToEnd(sortedOrder(big))], expected);
      }),
    );
  });

  test('IpSetBuilder in slices equals new IpSet, through its buffers growing', () => {
    const texts = ['10.0.0.0/8', '192.0.2.7', '10.1.0.0/16', '2001:db8::/32', '::1', '192.0.2.8/31', '172.16.0.0/12'];
    // Past the builder's first buffer size, out of order.
    for (let i = 0; i < 300; i++) texts.push(`198.51.${(i * 7) % 256}.${i % 256}`);
    const ranges = texts.map((t) => parseCidr(t) as CidrRange);
    const builder = new IpSetBuilder();
    for (const r of ranges) builder.add(r);
    const sliced = runToEnd(builder.finish(new Pacer(1)));
    const whole = new IpSet(ranges);
    for (const probe of ['198.51.7.1', '198.51.8.1', '198.51.14.2', '10.200.1.1', '192.0.2.7', '192.0.2.8', '192.0.2.9', '192.0.2.10', '2001:db8:1::1', '::1', '::2', '172.31.255.255', '172.32.0.0']) {
      assert.equal(sliced.hasText(probe), whole.hasText(probe), probe);
    }
  });
});
