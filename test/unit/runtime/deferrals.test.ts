/**
 * Armed deferrals in the evaluator (Postfix's defer_if_permit and
 * defer_if_reject; the mapping is in src/policy/action.ts): fake policy
 * steps answer `arm`, `accept` or `decide`, and the phase's outcome is
 * checked against what Postfix's smtpd_check.c does with the same answers
 * in one restriction list.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StepOutcome } from '../../../src/model/runner.js';
import type { CompiledChain } from '../../../src/model/plan.js';
import type { RulePhase } from '../../../src/model/phases.js';
import { AbortScope } from '../../../src/runtime/abort-scope.js';
import { evaluate, type Evaluation } from '../../../src/runtime/evaluator.js';
import { logDryRuns, wouldHave } from '../../../src/runtime/explain.js';
import { buildPlan, DEFAULT_TIMINGS } from '../../../src/runtime/plan.js';
import { stateless } from '../../../src/steps/service.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger, silentLogger } from '../../../src/support/log.js';
import { accept, chain, disconnect, facts, junk, policy, reject, rules, testServices, type StepSpec } from './helpers.js';

const PERMIT_450 = '450 4.7.1 Greylisted';
const REJECT_450 = '450 4.7.1 DNS temporarily unavailable';

const deferIfPermit: StepOutcome = { type: 'arm', deferral: { when: 'if-permit', reply: PERMIT_450 } };
const deferIfReject: StepOutcome = { type: 'arm', deferral: { when: 'if-reject', reply: REJECT_450 } };
const ok: StepOutcome = { type: 'accept' };
const dunno: StepOutcome = { type: 'continue' };
const refuse = (reply: string): StepOutcome => ({ type: 'decide', decision: { type: 'reject', reply } });

/** A step: a fake policy step answering `outcome`, or a core step. */
type Spec = { readonly answer: StepOutcome; readonly dryRun?: boolean } | StepSpec;

/** Evaluate `specs` at `phase`; `ran` lists the steps that ran. */
function evaluateChain(specs: readonly Spec[], phase: RulePhase = 'rcpt-to'): { e: Evaluation; ran: number[] } {
  const answers = new Map<number, StepOutcome>();
  const dry = new Set<number>();
  const stepSpecs: StepSpec[] = specs.map((s, i) => {
    if ('answer' in s) {
      answers.set(i, s.answer);
      if (s.dryRun === true) dry.add(i);
      return { action: policy(), phase };
    }
    return s;
  });
  const built = chain('c', stepSpecs);
  const withDry: CompiledChain = {
    ...built,
    steps: built.steps.map((s) => (dry.has(s.index) ? { ...s, dryRun: true } : s)),
    stepsByPhase: new Map([...built.stepsByPhase].map(([p, steps]) => [p, steps.map((s) => (dry.has(s.index) ? { ...s, dryRun: true } : s))])),
  };
  const plan = buildPlan(rules([withDry]), null, 1, {
    log: silentLogger,
    services: testServices({ policy: stateless((step) => ({ step, run: () => answers.get(step.index) ?? dunno })) }),
    timings: DEFAULT_TIMINGS,
  });
  assert.ok(plan.ok);
  const ran: number[] = [];
  const result = evaluate({
    steps: plan.ok ? [...(plan.value.phases.get(phase)?.steps ?? [])] : [],
    facts: facts({ rcptTo: 'bob@rcpt.example' }),
    phase,
    request: phase,
    clock: new FakeClock(),
    abort: AbortScope.create(),
    onStep: (s) => ran.push(s.step.index),
  });
  assert.ok(!(result instanceof Promise), 'fake steps answer synchronously');
  return { e: result as Evaluation, ran };
}

describe('OK / RELAY / PERMIT: the step accepts', () => {
  test('policy OK then greylisting: accepted at once, the later step never runs (Postfix: permit ends the list)', () => {
    const { e, ran } = evaluateChain([{ answer: ok }, { action: reject('451 4.7.1 Greylisted'), phase: 'rcpt-to' }]);
    assert.equal(e.kind, 'accept');
    assert.deepEqual(e.decision, { type: 'proceed' });
    assert.equal(e.step?.index, 0);
    assert.deepEqual(ran, [0]);
  });
});

describe('DEFER_IF_PERMIT', () => {
  test('nothing after it: the phase answers the armed 450 (what postgrey means, as before)', () => {
    const { e } = evaluateChain([{ answer: deferIfPermit }]);
    assert.equal(e.kind, 'decide');
    assert.deepEqual(e.decision, { type: 'reject', reply: PERMIT_450 });
    assert.equal(e.step?.index, 0, 'the arming step is the one that decided');
    assert.deepEqual(e.deferred, { by: 'if-permit', instead: 'proceed', insteadStep: null });
  });

  test('a later 5xx reject stands (Postfix: status REJECT is not overruled)', () => {
    const { e, ran } = evaluateChain([{ answer: deferIfPermit }, { action: reject('550 5.1.1 no such user'), phase: 'rcpt-to' }]);
    assert.deepEqual(e.decision, { type: 'reject', reply: '550 5.1.1 no such user' });
    assert.equal(e.step?.index, 1);
    assert.equal(e.deferred, null);
    assert.deepEqual(ran, [0, 1]);
  });

  test('a later policy REJECT and a later disconnect stand too', () => {
    assert.deepEqual(evaluateChain([{ answer: deferIfPermit }, { answer: refuse('554 5.7.1 spam') }]).e.decision, { type: 'reject', reply: '554 5.7.1 spam' });
    assert.deepEqual(evaluateChain([{ answer: deferIfPermit }, { action: disconnect('421 4.7.0 bye'), phase: 'rcpt-to' }]).e.decision, {
      type: 'disconnect',
      reply: '421 4.7.0 bye',
    });
  });

  test('a later accept, policy OK or junk is a permit: the 450 is answered, and the accept scope is not applied', () => {
    for (const later of [{ action: accept, phase: 'rcpt-to' } as StepSpec, { answer: ok }, { action: junk, phase: 'rcpt-to' } as StepSpec]) {
      const { e } = evaluateChain([{ answer: deferIfPermit }, later]);
      assert.equal(e.kind, 'decide', 'not accept: the session must not record an accept');
      assert.deepEqual(e.decision, { type: 'reject', reply: PERMIT_450 });
      assert.equal(e.step?.index, 0);
      assert.equal(e.deferred?.insteadStep?.index, 1);
    }
    assert.equal(evaluateChain([{ answer: deferIfPermit }, { action: accept, phase: 'rcpt-to' }]).e.deferred?.instead, 'accept');
    assert.equal(evaluateChain([{ answer: deferIfPermit }, { action: junk, phase: 'rcpt-to' }]).e.deferred?.instead, 'junk');
  });

  test('a later step that fails with on-error tempfail: its 451 stands; on-error proceed: the 450', () => {
    const failing = (onError: 'tempfail' | 'proceed'): StepSpec => ({
      action: reject('550 5.7.1 unused'),
      phase: 'rcpt-to',
      when: () => {
        throw new Error('boom');
      },
      onError,
    });
    const t = evaluateChain([{ answer: deferIfPermit }, failing('tempfail')]).e;
    assert.ok(t.decision.type === 'reject' && t.decision.reply.startsWith('451 '));
    const p = evaluateChain([{ answer: deferIfPermit }, failing('proceed')]).e;
    assert.deepEqual(p.decision, { type: 'reject', reply: PERMIT_450 });
  });

  test('the first DEFER_IF_PERMIT is kept (Postfix defer_if keeps the first reason)', () => {
    const second: StepOutcome = { type: 'arm', deferral: { when: 'if-permit', reply: '450 4.7.1 second' } };
    const { e } = evaluateChain([{ answer: deferIfPermit }, { answer: second }]);
    assert.deepEqual(e.decision, { type: 'reject', reply: PERMIT_450 });
  });
});

describe('DEFER_IF_REJECT', () => {
  test('a later 5xx reject becomes the armed 450 4.7.1 (never the 5xx)', () => {
    const { e } = evaluateChain([{ answer: deferIfReject }, { action: reject('550 5.7.1 refused by the rules'), phase: 'rcpt-to' }]);
    assert.deepEqual(e.decision, { type: 'reject', reply: REJECT_450 });
    assert.equal(e.step?.index, 0);
    assert.deepEqual(e.deferred, { by: 'if-reject', instead: 'reject 550 5.7.1 refused by the rules', insteadStep: e.deferred?.insteadStep });
    assert.equal(e.deferred?.insteadStep?.index, 1);
  });

  test('a later 5xx from a policy server, and a 5xx disconnect, become the 450 too (a reject: Postfix keeps the session)', () => {
    assert.deepEqual(evaluateChain([{ answer: deferIfReject }, { answer: refuse('554 5.7.1 spam') }]).e.decision, { type: 'reject', reply: REJECT_450 });
    assert.deepEqual(evaluateChain([{ answer: deferIfReject }, { action: disconnect('554 5.7.1 go away'), phase: 'rcpt-to' }]).e.decision, {
      type: 'reject',
      reply: REJECT_450,
    });
  });

  test('a later 4xx stands; a permit stands; nothing after it: proceed', () => {
    assert.deepEqual(evaluateChain([{ answer: deferIfReject }, { action: reject('451 4.7.1 later'), phase: 'rcpt-to' }]).e.decision, {
      type: 'reject',
      reply: '451 4.7.1 later',
    });
    assert.deepEqual(evaluateChain([{ answer: deferIfReject }, { action: disconnect('421 4.7.0 bye'), phase: 'rcpt-to' }]).e.decision, {
      type: 'disconnect',
      reply: '421 4.7.0 bye',
    });
    const accepted = evaluateChain([{ answer: deferIfReject }, { answer: ok }]).e;
    assert.equal(accepted.kind, 'accept');
    const end = evaluateChain([{ answer: deferIfReject }]).e;
    assert.equal(end.kind, 'end');
    assert.deepEqual(end.decision, { type: 'proceed' });
    assert.equal(end.deferred, null);
  });

  test('a reject before it is not touched (only later steps are deferred)', () => {
    const { e } = evaluateChain([{ action: reject('550 5.7.1 first'), phase: 'rcpt-to' }, { answer: deferIfReject }]);
    assert.deepEqual(e.decision, { type: 'reject', reply: '550 5.7.1 first' });
  });
});

describe('both armed', () => {
  test('the phase ends at once with the DEFER_IF_PERMIT reply; later steps do not run (Postfix stops the list)', () => {
    for (const order of [
      [deferIfPermit, deferIfReject],
      [deferIfReject, deferIfPermit],
    ]) {
      const { e, ran } = evaluateChain([{ answer: order[0]! }, { answer: order[1]! }, { action: reject('550 5.7.1 never'), phase: 'rcpt-to' }]);
      assert.deepEqual(e.decision, { type: 'reject', reply: PERMIT_450 });
      assert.equal(e.deferred?.instead, 'skipped');
      assert.deepEqual(ran, [0, 1]);
    }
  });
});

describe('phase boundaries and dry-run', () => {
  test('armed states live in one evaluation: the next request of the phase starts with none', () => {
    const first = evaluateChain([{ answer: deferIfReject }, { action: reject('550 5.7.1 no'), phase: 'rcpt-to' }]);
    assert.deepEqual(first.e.decision, { type: 'reject', reply: REJECT_450 });
    // Same chain shape, the server now says DUNNO: the 550 is the rules' own again.
    const next = evaluateChain([{ answer: dunno }, { action: reject('550 5.7.1 no'), phase: 'rcpt-to' }]);
    assert.deepEqual(next.e.decision, { type: 'reject', reply: '550 5.7.1 no' });
  });

  test('resolved in the phase that armed them: DEFER_IF_PERMIT at mail-from answers 450 at mail-from', () => {
    const { e } = evaluateChain([{ answer: deferIfPermit }], 'mail-from');
    assert.deepEqual(e.decision, { type: 'reject', reply: PERMIT_450 });
  });

  test('a dry-run step never arms: reported as would defer-if-permit / defer-if-reject, and the phase goes on untouched', () => {
    const a = evaluateChain([{ answer: deferIfPermit, dryRun: true }]).e;
    assert.equal(a.kind, 'end');
    assert.deepEqual(a.decision, { type: 'proceed' });
    assert.equal(a.dryRuns.length, 1);
    assert.equal(a.dryRuns[0]?.would, 'arm');
    assert.equal(wouldHave(a.dryRuns[0]!), 'defer-if-permit');
    const b = evaluateChain([{ answer: deferIfReject, dryRun: true }, { action: reject('550 5.7.1 no'), phase: 'rcpt-to' }]).e;
    assert.deepEqual(b.decision, { type: 'reject', reply: '550 5.7.1 no' }, 'the 5xx is not deferred by a dry-run step');
    assert.equal(wouldHave(b.dryRuns[0]!), 'defer-if-reject');
    const log = new RecordingLogger();
    logDryRuns(log, { session: 's', phase: 'rcpt-to', client: 'c' }, b);
    const line = log.records.find((r) => r.msg === 'dry-run');
    assert.equal(line?.fields['would'], 'defer-if-reject');
    assert.equal(line?.fields['reply'], REJECT_450);
    const c = evaluateChain([{ answer: ok, dryRun: true }, { action: reject('550 5.7.1 no'), phase: 'rcpt-to' }]).e;
    assert.deepEqual(c.decision, { type: 'reject', reply: '550 5.7.1 no' }, 'a dry-run OK does not accept');
  });
});
