import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StepAbortedError } from '../../../src/steps/pause/run.js';
import type { StepContext, StepOutcome } from '../../../src/model/runner.js';
import type { CompiledStep, StepAction } from '../../../src/model/plan.js';
import { buildPlan, createRunner, DEFAULT_TIMINGS, StepUnavailableError } from '../../../src/runtime/plan.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger, silentLogger } from '../../../src/support/log.js';
import { TimerQueue } from '../../../src/support/timer-queue.js';
import { stateless } from '../../../src/steps/service.js';
import { chain, facts, rules, settle, testServices } from '../runtime/helpers.js';
import { nameAndText } from './compiled.js';

function step(action: StepAction, onError: 'tempfail' | 'proceed' = 'tempfail'): CompiledStep {
  return {
    index: 0,
    action,
    ...nameAndText(action),
    phase: 'connect',
    when: null,
    whenText: null,
    span: { file: '/r', line: 7, column: 5, endLine: 7, endColumn: 20 },
    onError,
  };
}

function ctx(clock: FakeClock | TimerQueue, signal = new AbortController().signal): StepContext {
  return { facts: facts(), phase: 'connect', request: 'connect', clock, signal };
}

describe('core steps', () => {
  test('accept, reject, disconnect, junk answer synchronously with their decision', () => {
    const clock = new FakeClock();
    const run = (a: StepAction) => createRunner(step(a), testServices(), silentLogger).run(ctx(clock));
    assert.deepEqual(run({ kind: 'accept' }), { type: 'accept' });
    assert.deepEqual(run({ kind: 'reject', reply: '550 5.7.1 no' }), { type: 'decide', decision: { type: 'reject', reply: '550 5.7.1 no' } });
    assert.deepEqual(run({ kind: 'disconnect', reply: '421 4.7.0 bye' }), {
      type: 'decide',
      decision: { type: 'disconnect', reply: '421 4.7.0 bye' },
    });
    assert.deepEqual(run({ kind: 'junk' }), { type: 'decide', decision: { type: 'junk' } });
  });

  test('only pause (> 0), policy and greylist may answer later: they alone get a deadline', () => {
    const mayBeAsync = (action: StepAction): boolean => {
      const plan = buildPlan(rules([chain('c', [{ action, phase: 'connect' }])]), null, 1, { log: silentLogger, services: testServices(), timings: DEFAULT_TIMINGS });
      assert.ok(plan.ok);
      return plan.value.phases.get('connect')?.steps[0]?.deadlineMs !== null;
    };
    assert.equal(mayBeAsync({ kind: 'pause', durationMs: 3000 }), true);
    assert.equal(mayBeAsync({ kind: 'pause', durationMs: 0 }), false);
    assert.equal(mayBeAsync({ kind: 'reject', reply: '550 x' }), false);
    assert.equal(mayBeAsync({ kind: 'policy', options: { flavor: 'postgrey', address: { kind: 'unix', path: '/x' }, timeoutMs: 1 } }), true);
  });
});

describe('pause', () => {
  test('resolves after its duration on the injected clock, not before', async () => {
    const clock = new FakeClock();
    const runner = createRunner(step({ kind: 'pause', durationMs: 3000 }), testServices(), silentLogger);
    let outcome: StepOutcome | null = null;
    const r = runner.run(ctx(clock));
    assert.ok(r instanceof Promise);
    void r.then((o) => (outcome = o));
    clock.advance(2999);
    await settle();
    assert.equal(outcome, null);
    clock.advance(1);
    await settle();
    assert.deepEqual(outcome, { type: 'continue', detail: { pausedMs: 3000 } });
  });

  test('an abort (disconnect) rejects it and cancels its timer', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const r = createRunner(step({ kind: 'pause', durationMs: 3000 }), testServices(), silentLogger).run(ctx(clock, controller.signal));
    controller.abort(new Error('gone'));
    await assert.rejects(Promise.resolve(r), StepAbortedError);
    assert.equal(clock.pending(), 0);
  });

  test('an already aborted signal rejects at once', async () => {
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    const r = createRunner(step({ kind: 'pause', durationMs: 3000 }), testServices(), silentLogger).run(ctx(new FakeClock(), controller.signal));
    await assert.rejects(Promise.resolve(r), StepAbortedError);
  });
});

describe('policy and greylist without a service', () => {
  test('the runner fails with a clear error, logged once when the rules are loaded', () => {
    const log = new RecordingLogger();
    const s = step({ kind: 'policy', options: { flavor: 'postgrey', address: { kind: 'unix', path: '/run/postgrey.sock' }, timeoutMs: 5000 } });
    const runner = createRunner(s, testServices(), log);
    assert.throws(() => runner.run(ctx(new FakeClock())), StepUnavailableError);
    assert.equal(log.records.length, 1);
    assert.equal(log.records[0]?.fields.rule, '/r:7');
    assert.equal(log.records[0]?.fields.onError, 'tempfail');
  });

  test('a factory that throws while setting up the step also gives a failing runner, not a crash', () => {
    const log = new RecordingLogger();
    const s = step({
      kind: 'greylist',
      options: { delayMs: 1, maxAgeMs: 1, retryWindowMs: 1, autoWhitelistAfter: 1, ipv4Prefix: 24, ipv6Prefix: 64, store: 'sqlite:/nope', header: false },
    });
    const runner = createRunner(
      s,
      testServices({
        greylist: stateless(() => {
          throw new Error('cannot open store');
        }),
      }),
      log,
    );
    assert.throws(() => runner.run(ctx(new FakeClock())), /cannot open store/);
    assert.match(log.records[0]?.msg ?? '', /cannot set up the greylist step/);
  });

  test('a provided factory is used', () => {
    const s = step({ kind: 'policy', options: { flavor: 'policy', address: { kind: 'tcp', host: '127.0.0.1', port: 1 }, timeoutMs: 5 } });
    const runner = createRunner(s, testServices({ policy: stateless((st) => ({ step: st, run: () => ({ type: 'continue' }) })) }), silentLogger);
    assert.deepEqual(runner.run(ctx(new FakeClock())), { type: 'continue' });
  });
});
