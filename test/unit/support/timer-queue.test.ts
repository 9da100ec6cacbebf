import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/support/clock.js';
import { TimerQueue } from '../../../src/support/timer-queue.js';

describe('TimerQueue', () => {
  test('fires each timer at its due time, in due order, on one underlying timer', () => {
    const base = new FakeClock();
    const q = new TimerQueue(base);
    const fired: [string, number][] = [];
    q.setTimer(300, () => fired.push(['c', base.monotonic()]));
    q.setTimer(100, () => fired.push(['a', base.monotonic()]));
    q.setTimer(200, () => fired.push(['b', base.monotonic()]));
    q.setTimer(100, () => fired.push(['a2', base.monotonic()]));
    assert.equal(base.pending(), 1, 'one timer on the base clock');
    base.advance(1000);
    assert.deepEqual(fired, [['a', 100], ['a2', 100], ['b', 200], ['c', 300]]);
    assert.equal(q.size, 0);
    assert.equal(base.pending(), 0);
  });

  test('cancelled timers never fire; cancelling is idempotent', () => {
    const base = new FakeClock();
    const q = new TimerQueue(base);
    const fired: number[] = [];
    const handles = Array.from({ length: 200 }, (_, i) => q.setTimer(10 + i, () => fired.push(i)));
    handles.forEach((h, i) => {
      if (i % 2 === 0) {
        h.cancel();
        h.cancel();
      }
    });
    assert.equal(q.size, 100);
    base.advance(1000);
    assert.deepEqual(fired, Array.from({ length: 100 }, (_, i) => 2 * i + 1));
  });

  test('a timer set from a callback, and an earlier one set later, both fire on time', () => {
    const base = new FakeClock();
    const q = new TimerQueue(base);
    const fired: [string, number][] = [];
    q.setTimer(500, () => fired.push(['late', base.monotonic()]));
    q.setTimer(100, () => {
      fired.push(['first', base.monotonic()]);
      q.setTimer(50, () => fired.push(['chained', base.monotonic()]));
    });
    base.advance(1000);
    assert.deepEqual(fired, [['first', 100], ['chained', 150], ['late', 500]]);
  });

  test('a throwing callback does not stop the others, and the error surfaces', () => {
    const base = new FakeClock();
    const q = new TimerQueue(base);
    const fired: number[] = [];
    q.setTimer(10, () => {
      throw new Error('boom');
    });
    q.setTimer(10, () => fired.push(1));
    q.setTimer(20, () => fired.push(2));
    assert.throws(() => base.advance(10), /boom/);
    assert.deepEqual(fired, [1]);
    base.advance(10);
    assert.deepEqual(fired, [1, 2]);
  });

  test('clear() drops everything', () => {
    const base = new FakeClock();
    const q = new TimerQueue(base);
    let fired = 0;
    for (let i = 0; i < 10; i++) q.setTimer(i, () => fired++);
    q.clear();
    base.advance(100);
    assert.equal(fired, 0);
    assert.equal(base.pending(), 0);
  });

  test('after the heap is compacted (most timers cancelled), the rest still fire in due order', () => {
    const base = new FakeClock();
    const q = new TimerQueue(base);
    const fired: number[] = [];
    // Due times in a scrambled order; two thirds cancelled, which compacts the heap several times.
    const dues = Array.from({ length: 3000 }, (_, i) => ((i * 7919) % 3001) + 1);
    const handles = dues.map((due) => q.setTimer(due, () => fired.push(due)));
    handles.forEach((h, i) => {
      if (i % 3 !== 0) h.cancel();
    });
    assert.equal(q.size, 1000);
    base.advance(4000);
    const expected = dues.filter((_, i) => i % 3 === 0).sort((a, b) => a - b);
    assert.deepEqual(fired, expected);
  });

  test('100,000 timers stay cheap', () => {
    const base = new FakeClock();
    const q = new TimerQueue(base);
    let fired = 0;
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) q.setTimer(1000 + (i % 977), () => fired++);
    base.advance(5000);
    assert.equal(fired, 100_000);
    assert.ok(performance.now() - started < 5000);
  });
});
