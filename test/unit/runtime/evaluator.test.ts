import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StepOutcome, StepRunner } from '../../../src/model/runner.js';
import type { CompiledStep, SessionFacts } from '../../../src/model/plan.js';
import type { RulePhase } from '../../../src/model/phases.js';
import { AbortScope } from '../../../src/runtime/abort-scope.js';
import { evaluate, StepTimeoutError, type Evaluation } from '../../../src/runtime/evaluator.js';
import { buildPlan, DEFAULT_TIMINGS, type PlannedStep } from '../../../src/runtime/plan.js';
import { stateless } from '../../../src/steps/service.js';
import { FakeClock } from '../../../src/support/clock.js';
import { silentLogger } from '../../../src/support/log.js';
import { accept, chain, disconnect, facts, junk, pause, policy, reject, rules, settle, testServices, when, type StepSpec } from './helpers.js';

const PROCEED = { type: 'proceed' } as const;
const TEMPFAIL = { type: 'reject', reply: '451 4.3.0 Temporary failure, please try again later' } as const;

function stepsOf(specs: StepSpec[], phase: RulePhase, policyRun?: StepRunner['run']): PlannedStep[] {
  const built = buildPlan(rules([chain('c', specs)]), null, 1, {
    log: silentLogger,
    services: testServices(policyRun ? { policy: stateless((step) => ({ step, run: policyRun })) } : {}),
    timings: DEFAULT_TIMINGS,
  });
  assert.ok(built.ok);
  return built.ok ? [...(built.value.phases.get(phase)?.steps ?? [])] : [];
}

function run(
  specs: StepSpec[],
  phase: RulePhase,
  f: SessionFacts = facts(),
  options: { policy?: StepRunner['run']; clock?: FakeClock; abort?: AbortScope; onStep?: (s: CompiledStep) => void } = {},
): Evaluation | Promise<Evaluation> {
  const request = phase === 'helo' ? 'ehlo' : phase;
  return evaluate({
    steps: stepsOf(specs, phase, options.policy),
    facts: f,
    phase,
    request,
    clock: options.clock ?? new FakeClock(),
    abort: options.abort ?? AbortScope.create(),
    ...(options.onStep ? { onStep: (planned: PlannedStep) => options.onStep?.(planned.step) } : {}),
  });
}

function sync(r: Evaluation | Promise<Evaluation>): Evaluation {
  assert.ok(!(r instanceof Promise), 'expected a synchronous evaluation');
  return r as Evaluation;
}

describe('evaluate: semantics', () => {
  test('no step decides → proceed (end)', () => {
    const e = sync(run([{ action: reject('550 5.7.1 no'), phase: 'rcpt-to', when: when.rcpt('other@x') }], 'rcpt-to', facts({ rcptTo: 'a@x' })));
    assert.equal(e.kind, 'end');
    assert.deepEqual(e.decision, PROCEED);
    assert.equal(e.step, null);
  });

  test('the first decisive step wins, in chain order; later steps do not run', () => {
    const ran: number[] = [];
    const e = sync(
      run(
        [
          { action: reject('550 5.7.1 first'), phase: 'rcpt-to', when: when.rcpt('no-match') },
          { action: junk, phase: 'rcpt-to' },
          { action: reject('550 5.7.1 third'), phase: 'rcpt-to' },
        ],
        'rcpt-to',
        facts({ rcptTo: 'a@x' }),
        { onStep: (s) => ran.push(s.index) },
      ),
    );
    assert.deepEqual(e.decision, { type: 'junk' });
    assert.equal(e.step?.index, 1);
    assert.deepEqual(ran, [1], 'a step whose when is false does not run');
  });

  test('accept ends the phase with proceed and says which step accepted', () => {
    const e = sync(run([{ action: accept, phase: 'connect' }, { action: disconnect('421 4.7.0 no') , phase: 'connect' }], 'connect'));
    assert.equal(e.kind, 'accept');
    assert.deepEqual(e.decision, PROCEED);
    assert.equal(e.step?.index, 0);
  });

  test('a throwing step applies its on-error: tempfail decides 451, proceed goes on', () => {
    const boom: StepRunner['run'] = () => {
      throw new Error('server down');
    };
    const t = sync(run([{ action: policy(), phase: 'rcpt-to' }, { action: reject('550 5.7.1 never') , phase: 'rcpt-to' }], 'rcpt-to', facts(), { policy: boom }));
    // The runner throws synchronously: no promise needed even though the kind may be async.
    assert.deepEqual(t.decision, TEMPFAIL);
    assert.equal(t.fault?.error, 'server down');
    const p = sync(
      run([{ action: policy(), phase: 'rcpt-to', onError: 'proceed' }, { action: reject('550 5.7.1 next') , phase: 'rcpt-to' }], 'rcpt-to', facts(), { policy: boom }),
    );
    assert.deepEqual(p.decision, { type: 'reject', reply: '550 5.7.1 next' });
    assert.equal(p.faults.length, 1);
    assert.equal(p.fault, null);
  });

  test('a throwing condition is a fault of its step too', () => {
    const e = sync(run([{ action: reject('550 5.7.1 x'), phase: 'helo', when: () => { throw new Error('bad predicate'); } }], 'helo'));
    assert.deepEqual(e.decision, TEMPFAIL);
  });

  test('tempfail at connect is a 421 disconnect, never a 5xx', () => {
    const e = sync(
      run([{ action: policy(), phase: 'connect' }], 'connect', facts(), {
        policy: () => {
          throw new Error('x');
        },
      }),
    );
    assert.deepEqual(e.decision, { type: 'disconnect', reply: '421 4.3.0 Temporary failure, please try again later' });
  });

  test('headers from continuing steps are collected in order', async () => {
    const e = await run(
      [
        { action: policy(), phase: 'rcpt-to' },
        { action: policy(), phase: 'rcpt-to' },
      ],
      'rcpt-to',
      facts(),
      { policy: async (): Promise<StepOutcome> => ({ type: 'continue', addHeaders: ['X-A: 1'], detail: { latencyMs: 3 } }) },
    );
    assert.deepEqual(e.addHeaders, ['X-A: 1', 'X-A: 1']);
    assert.equal(e.detail.latencyMs, 3);
  });
});

describe('evaluate: synchronous fast path', () => {
  test('core steps answer without a promise', () => {
    const r = run([{ action: reject('550 5.7.1 no'), phase: 'helo', when: when.helo('bad') }, { action: junk, phase: 'helo' }], 'helo', facts({ helo: 'good' }));
    assert.ok(!(r instanceof Promise));
  });
  test('a zero pause is synchronous too', () => {
    assert.ok(!(run([{ action: pause(0), phase: 'connect' }], 'connect') instanceof Promise));
  });
});

describe('evaluate: async steps, deadlines', () => {
  test('pause continues after its time on the injected clock, then later steps run', async () => {
    const clock = new FakeClock();
    const r = run([{ action: pause(3000), phase: 'connect' }, { action: disconnect('421 4.7.0 later'), phase: 'connect' }], 'connect', facts(), { clock });
    assert.ok(r instanceof Promise);
    let done: Evaluation | null = null;
    void r.then((e) => (done = e));
    clock.advance(2999);
    await settle();
    assert.equal(done, null);
    clock.advance(1);
    await settle();
    assert.deepEqual((done as Evaluation | null)?.decision, { type: 'disconnect', reply: '421 4.7.0 later' });
  });

  test('a hung async step times out at its deadline and applies on-error', async () => {
    const clock = new FakeClock();
    let aborted: unknown = null;
    const hang: StepRunner['run'] = (ctx) =>
      new Promise<StepOutcome>(() => {
        ctx.signal.addEventListener('abort', () => (aborted = ctx.signal.reason));
      });
    const r = run([{ action: policy(500), phase: 'rcpt-to', onError: 'proceed' }, { action: reject('550 5.7.1 after'), phase: 'rcpt-to' }], 'rcpt-to', facts(), {
      clock,
      policy: hang,
    });
    let done: Evaluation | null = null;
    void (r as Promise<Evaluation>).then((e) => (done = e));
    // Deadline = the step's own timeout + the step margin.
    clock.advance(500 + DEFAULT_TIMINGS.stepMarginMs - 1);
    await settle();
    assert.equal(done, null);
    clock.advance(1);
    await settle();
    const e = done as Evaluation | null;
    assert.deepEqual(e?.decision, { type: 'reject', reply: '550 5.7.1 after' }, 'on-error proceed went on to the next step');
    assert.equal(e?.faults[0]?.timedOut, true);
    assert.ok(aborted instanceof StepTimeoutError, 'the hung step was told to stop');
  });

  test('a rejected promise applies on-error tempfail', async () => {
    const e = await run([{ action: policy(), phase: 'mail-from' }], 'mail-from', facts(), { policy: async () => Promise.reject(new Error('refused')) });
    assert.deepEqual(e.decision, TEMPFAIL);
    assert.equal(e.fault?.timedOut, false);
  });

  test('aborting the request (disconnect) stops a pause and cancels its timer', async () => {
    const clock = new FakeClock();
    const scope = AbortScope.create();
    const r = run([{ action: pause(10_000), phase: 'connect' }], 'connect', facts(), { clock, abort: scope });
    scope.abort(new Error('session gone'));
    const e = await r;
    assert.equal(e.faults[0]?.error.includes('session gone'), true);
    // Only the step deadline timer may remain until it is cancelled by settle; the pause timer is gone.
    clock.advance(20_000);
    assert.equal(clock.pending(), 0);
  });

  test('a step that reads ctx.signal sees the request abort as an AbortSignal', async () => {
    const scope = AbortScope.create();
    let reason: unknown = null;
    const hang: StepRunner['run'] = (ctx) =>
      new Promise<StepOutcome>((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => {
          reason = ctx.signal.reason;
          reject(new Error('stopped'));
        });
      });
    const r = run([{ action: policy(), phase: 'rcpt-to' }], 'rcpt-to', facts(), { policy: hang, abort: scope });
    const gone = new Error('session gone');
    scope.abort(gone);
    const e = await r;
    assert.equal(reason, gone);
    assert.deepEqual(e.decision, TEMPFAIL);
  });
});
