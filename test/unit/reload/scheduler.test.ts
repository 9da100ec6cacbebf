import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/support/clock.js';
import { DEFAULT_PASS_LIMIT_MS, PassTimeLimit, ReloadScheduler, type PassRequest } from '../../../src/reload/scheduler.js';

interface Run {
  request: PassRequest;
  finish: () => void;
}

/** A scheduler whose passes stay open until the test finishes them. */
function harness(quietMs = 200, maxWaitMs = 2000) {
  const clock = new FakeClock();
  const runs: Run[] = [];
  const errors: unknown[] = [];
  const scheduler = new ReloadScheduler({
    clock,
    quietMs,
    maxWaitMs,
    run: (request) =>
      new Promise<void>((resolve) => {
        runs.push({ request, finish: resolve });
      }),
    onPassError: (e) => errors.push(e),
  });
  const finish = async (i: number): Promise<void> => {
    runs[i]?.finish();
    await new Promise<void>((r) => setImmediate(r));
  };
  return { clock, runs, errors, scheduler, finish };
}

describe('ReloadScheduler', () => {
  test('idle → debouncing → running → idle, one pass per burst', async () => {
    const { clock, runs, scheduler, finish } = harness();
    assert.equal(scheduler.state, 'idle');
    scheduler.fileEvent('/a');
    assert.equal(scheduler.state, 'debouncing');
    clock.advance(150);
    scheduler.fileEvent('/b');
    clock.advance(150);
    scheduler.fileEvent('/a');
    clock.advance(199);
    assert.equal(runs.length, 0);
    clock.advance(1);
    assert.equal(runs.length, 1);
    assert.equal(scheduler.state, 'running');
    assert.deepEqual(runs[0]?.request, { files: ['/a', '/b'], signals: [], forced: false });
    await finish(0);
    assert.equal(scheduler.state, 'idle');
    clock.advance(10_000);
    assert.equal(runs.length, 1);
  });

  test('events while running: one more pass after its own quiet period, never two at once', async () => {
    const { clock, runs, scheduler, finish } = harness();
    scheduler.fileEvent('/a');
    clock.advance(200);
    assert.equal(runs.length, 1);
    scheduler.fileEvent('/b');
    clock.advance(200); // due while the first pass runs
    scheduler.fileEvent('/c');
    clock.advance(200);
    assert.equal(runs.length, 1, 'not started while a pass runs');
    await finish(0);
    assert.equal(runs.length, 2);
    assert.deepEqual(runs[1]?.request.files, ['/b', '/c']);
    await finish(1);
    clock.advance(10_000);
    assert.equal(runs.length, 2);
  });

  test('a pass ending inside a newer quiet period waits for that period', async () => {
    const { clock, runs, scheduler, finish } = harness();
    scheduler.fileEvent('/a');
    clock.advance(200);
    scheduler.fileEvent('/b');
    clock.advance(200); // due
    scheduler.fileEvent('/b'); // and a new quiet period starts
    clock.advance(50);
    await finish(0);
    assert.equal(runs.length, 1);
    assert.equal(scheduler.state, 'debouncing');
    clock.advance(150);
    assert.equal(runs.length, 2);
  });

  test('a signal skips the quiet period and forces the pass', async () => {
    const { clock, runs, scheduler, finish } = harness();
    scheduler.fileEvent('/a');
    clock.advance(10);
    scheduler.signal('SIGHUP');
    assert.equal(runs.length, 1);
    assert.deepEqual(runs[0]?.request, { files: ['/a'], signals: ['SIGHUP'], forced: true });
    await finish(0);
    clock.advance(10_000);
    assert.equal(runs.length, 1);
  });

  test('a signal during a pass runs right after it, even inside a quiet period', async () => {
    const { clock, runs, scheduler, finish } = harness();
    scheduler.signal('SIGHUP');
    scheduler.fileEvent('/a');
    scheduler.signal('SIGHUP');
    clock.advance(10);
    await finish(0);
    assert.equal(runs.length, 2);
    assert.deepEqual(runs[1]?.request, { files: ['/a'], signals: ['SIGHUP'], forced: true });
    await finish(1);
    clock.advance(10_000);
    assert.equal(runs.length, 2);
  });

  test('maxWait cuts off an endless burst', () => {
    const { clock, runs, scheduler } = harness(200, 1000);
    for (let t = 0; t < 1500; t += 100) {
      scheduler.fileEvent('/a');
      clock.advance(100);
    }
    assert.equal(runs.length, 1);
  });

  test('a pass that rejects is reported and the machine goes on', async () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    let calls = 0;
    const scheduler = new ReloadScheduler({
      clock,
      quietMs: 10,
      maxWaitMs: 10,
      run: async () => {
        calls++;
        throw new Error('boom');
      },
      onPassError: (e) => errors.push(e),
    });
    scheduler.signal('SIGHUP');
    await scheduler.whenIdle();
    scheduler.fileEvent('/a');
    clock.advance(10);
    await scheduler.whenIdle();
    assert.equal(calls, 2);
    assert.equal(errors.length, 2);
    assert.equal(scheduler.state, 'idle');
  });

  test('close cancels the quiet period and waits for the pass', async () => {
    const { clock, runs, scheduler } = harness();
    scheduler.signal('SIGHUP');
    scheduler.fileEvent('/a');
    let closed = false;
    const closing = scheduler.close().then(() => {
      closed = true;
    });
    await new Promise<void>((r) => setImmediate(r));
    assert.equal(closed, false, 'waits for the running pass');
    runs[0]?.finish();
    await closing;
    clock.advance(10_000);
    scheduler.fileEvent('/b');
    scheduler.signal('SIGHUP');
    assert.equal(runs.length, 1);
    assert.equal(scheduler.state, 'closed');
  });

  test('a pass past its time limit is abandoned: its signal fires, it is reported, and the next pass runs', async () => {
    const clock = new FakeClock();
    const signals: AbortSignal[] = [];
    const abandoned: Array<{ request: PassRequest; limitMs: number }> = [];
    let finishFirst = (): void => {};
    const scheduler = new ReloadScheduler({
      clock,
      quietMs: 200,
      maxWaitMs: 2000,
      passLimitMs: 30_000,
      run: (_request, signal) => {
        signals.push(signal);
        // The first pass never finishes by itself (a read that does not return); later ones do.
        return signals.length === 1 ? new Promise<void>((resolve) => (finishFirst = resolve)) : Promise.resolve();
      },
      onPassError: () => {},
      onPassAbandoned: (request, limitMs) => abandoned.push({ request, limitMs }),
    });
    scheduler.signal('SIGHUP');
    assert.equal(scheduler.state, 'running');
    // A save during the stuck pass waits for it, as always.
    scheduler.fileEvent('/a');
    clock.advance(29_999);
    assert.equal(abandoned.length, 0);
    assert.equal(signals[0]?.aborted, false);
    clock.advance(1);
    assert.deepEqual(abandoned, [{ request: { files: [], signals: ['SIGHUP'], forced: true }, limitMs: 30_000 }]);
    assert.ok(signals[0]?.aborted);
    assert.ok(signals[0]?.reason instanceof PassTimeLimit);
    await scheduler.whenIdle();
    // The save made during it got its pass (its quiet period ended long ago).
    assert.equal(signals.length, 2);
    await scheduler.whenIdle();
    assert.equal(scheduler.state, 'idle');
    // SIGHUP still works, and the abandoned pass finishing late changes nothing.
    finishFirst();
    scheduler.signal('SIGHUP');
    await scheduler.whenIdle();
    assert.equal(signals.length, 3);
    assert.equal(signals[2]?.aborted, false);
    assert.equal(abandoned.length, 1);
    assert.equal(scheduler.state, 'idle');
  });

  test('a pass that ends in time is not abandoned (its timer is cancelled)', async () => {
    const { clock, runs, scheduler, finish } = harness();
    scheduler.signal('SIGHUP');
    await finish(0);
    clock.advance(DEFAULT_PASS_LIMIT_MS * 2);
    assert.equal(scheduler.state, 'idle');
    assert.equal(runs.length, 1);
  });

  test('rejects nonsensical timings', () => {
    const run = async (): Promise<void> => {};
    const clock = new FakeClock();
    assert.throws(() => new ReloadScheduler({ clock, quietMs: Number.NaN, maxWaitMs: 1, run, onPassError: () => {} }), RangeError);
    assert.throws(() => new ReloadScheduler({ clock, quietMs: 100, maxWaitMs: 50, run, onPassError: () => {} }), RangeError);
    assert.throws(() => new ReloadScheduler({ clock, quietMs: 100, maxWaitMs: 200, passLimitMs: 0, run, onPassError: () => {} }), /passLimitMs must be a number > 0/);
  });
});
