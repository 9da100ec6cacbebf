import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { alreadyWaitedMs, createPauseRunner, MAX_TRUSTED_LAG_MS, StepAbortedError, type PauseStep } from '../../../../src/steps/pause/run.js';
import type { StepContext, StepOutcome } from '../../../../src/model/runner.js';
import type { SessionFacts } from '../../../../src/model/plan.js';
import { FakeClock } from '../../../../src/support/clock.js';
import { nameAndText } from '../compiled.js';

const step = (durationMs: number): PauseStep => ({
  index: 0,
  action: { kind: 'pause', durationMs },
  ...nameAndText({ kind: 'pause', durationMs }),
  phase: 'connect',
  when: null,
  whenText: null,
  span: { file: '/r', line: 2, column: 5, endLine: 2, endColumn: 15 },
  onError: 'tempfail',
});

const facts = {} as SessionFacts;

/** A context with the cheap abort callback and a signal that must not be read. */
function ctx(clock: FakeClock, extra: { requestedAt?: number; onAbort?: StepContext['onAbort'] } = {}): StepContext {
  return {
    facts,
    phase: 'connect',
    request: 'connect',
    clock,
    get signal(): AbortSignal {
      throw new Error('the pause read ctx.signal although onAbort was given');
    },
    onAbort: extra.onAbort ?? (() => () => {}),
    ...(extra.requestedAt !== undefined ? { requestedAt: extra.requestedAt } : {}),
  };
}

async function settled(p: StepOutcome | Promise<StepOutcome>): Promise<StepOutcome | null> {
  let out: StepOutcome | null = null;
  void Promise.resolve(p).then((o) => (out = o), () => {});
  await new Promise((r) => setImmediate(r));
  return out;
}

describe('pause counts from when smtpd sent the request', () => {
  test('a request read 400 ms after smtpd stamped it waits the other 600 ms', async () => {
    const clock = new FakeClock();
    const r = createPauseRunner(step(1000)).run(ctx(clock, { requestedAt: clock.now() - 400 }));
    clock.advance(599);
    assert.equal(await settled(r), null);
    clock.advance(1);
    assert.deepEqual(await settled(r), { type: 'continue', detail: { pausedMs: 1000 } });
  });

  test('a request that queued longer than the pause goes on at once', () => {
    const clock = new FakeClock();
    const r = createPauseRunner(step(1000)).run(ctx(clock, { requestedAt: clock.now() - 1500 }));
    assert.deepEqual(r, { type: 'continue', detail: { pausedMs: 1000 } });
    assert.equal(clock.pending(), 0);
  });

  test('a timestamp ahead of our clock, far behind it, or absent: the full pause', async () => {
    for (const requestedAt of [(c: FakeClock) => c.now() + 5000, (c: FakeClock) => c.now() - MAX_TRUSTED_LAG_MS - 1, () => undefined]) {
      const clock = new FakeClock();
      const at = requestedAt(clock);
      const r = createPauseRunner(step(1000)).run(ctx(clock, at === undefined ? {} : { requestedAt: at }));
      clock.advance(999);
      assert.equal(await settled(r), null);
      clock.advance(1);
      assert.notEqual(await settled(r), null);
    }
  });

  test('alreadyWaitedMs never exceeds the pause', () => {
    const clock = new FakeClock();
    assert.equal(alreadyWaitedMs(ctx(clock, { requestedAt: clock.now() - 250 }), 1000), 250);
    assert.equal(alreadyWaitedMs(ctx(clock, { requestedAt: clock.now() - 5000 }), 1000), 1000);
    assert.equal(alreadyWaitedMs(ctx(clock, { requestedAt: Number.NaN }), 1000), 0);
  });
});

describe('pause follows the abort through ctx.onAbort', () => {
  test('an abort cancels the timer and rejects; the AbortSignal is never made', async () => {
    const clock = new FakeClock();
    let abort: ((reason: unknown) => void) | null = null;
    const r = createPauseRunner(step(3000)).run(
      ctx(clock, {
        onAbort: (listener) => {
          abort = listener;
          return () => (abort = null);
        },
      }),
    );
    assert.equal(clock.pending(), 1);
    (abort as ((reason: unknown) => void) | null)?.(new Error('gone'));
    await assert.rejects(Promise.resolve(r), StepAbortedError);
    assert.equal(clock.pending(), 0);
  });

  test('the pause unsubscribes when it ends', async () => {
    const clock = new FakeClock();
    let subscribed = 0;
    const r = createPauseRunner(step(100)).run(
      ctx(clock, {
        onAbort: () => {
          subscribed++;
          return () => subscribed--;
        },
      }),
    );
    assert.equal(subscribed, 1);
    clock.advance(100);
    assert.notEqual(await settled(r), null);
    assert.equal(subscribed, 0);
  });
});
