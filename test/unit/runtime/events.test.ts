/**
 * The runtime's typed events (runtime/events.ts) and the one runner
 * decorator (observed-runner.ts): what a host tells its subscribers, in the
 * log's order, with the values the log lines carry; handlers that are absent
 * cost nothing (no decorator, no event); several subscribers combine.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StepOutcome, StepRunner } from '../../../src/model/runner.js';
import { PolicyError } from '../../../src/policy/errors.js';
import { combineEvents, recordEvents, type RuntimeEvent, type RuntimeEvents, type StepRanEvent } from '../../../src/runtime/events.js';
import { observeRunner } from '../../../src/runtime/observed-runner.js';
import { buildPlan, DEFAULT_TIMINGS } from '../../../src/runtime/plan.js';
import { stateless } from '../../../src/steps/service.js';
import { silentLogger } from '../../../src/support/log.js';
import { accept, chain, facts, FILE, HostHarness, line, pause, policy, reject, result, rules, SID, SID2, testServices, when } from './helpers.js';

const DENY = '550 5.7.1 no thanks';

/** A policy step that runs `run`, the rest as a host without services has them. */
function policyRunning(run: StepRunner['run']) {
  return testServices({ policy: stateless((step) => ({ step, run })) });
}

function host(events: RuntimeEvents, options: { run?: StepRunner['run']; measure?: () => number } = {}) {
  return new HostHarness(
    rules([
      chain('main', [
        { action: pause(100), phase: 'connect' },
        { action: reject(DENY), phase: 'helo', when: when.helo('bad.example'), whenText: 'helo bad.example' },
        { action: policy(), phase: 'rcpt-to', onError: 'proceed' },
        { action: reject(DENY), phase: 'rcpt-to', dryRun: true },
        { action: policy(), phase: 'rcpt-to', dryRun: true },
        { action: accept, phase: 'rcpt-to', when: when.rcpt('ok@example.com') },
      ]),
    ]),
    {
      services: policyRunning(options.run ?? (() => Promise.reject(new PolicyError('connect', 'unix:/run/p.sock', 'refused')))),
      events,
      ...(options.measure !== undefined ? { measure: options.measure } : {}),
    },
  );
}

/** Events as `type request step#` words, for order checks. */
function outline(events: readonly RuntimeEvent[]): string[] {
  return events.map((e) => {
    switch (e.type) {
      case 'decision':
        return `decision ${e.request} ${e.kind} ${e.sent.type}`;
      case 'step-ran':
        return `step-ran ${e.request} #${e.step.index} ${e.result.ok ? e.result.outcome.type : `error:${e.result.errorKind}`}`;
      case 'dry-run':
        return `dry-run ${e.request} #${e.hit.step.index} ${e.hit.would}`;
      case 'fault':
        return `fault ${e.request} #${e.fault.step.index}`;
      case 'early-talker':
      case 'session-evicted':
      case 'unknown-session':
        return `${e.type} ${e.sessionId}`;
    }
  });
}

describe('runtime events: what a host tells its subscribers', () => {
  test('per request in the log’s order: runs as they end, faults, the decision, dry-runs', async () => {
    const recorded = recordEvents();
    const started: string[] = [];
    const h = host(combineEvents(recorded.sink, { stepStarted: (step, sessionId) => started.push(`${sessionId} #${step.index}`) }));
    h.feed(line.connect(), line.request('connect', 'localhost|127.0.0.1'));
    await h.advance(100);
    h.feed(line.request('ehlo', 'bad.example'), line.request('ehlo', 'good.example'));
    h.feed(line.report('tx-begin', SID, 'a1b2c3d4'), line.request('mail-from', 'a@example.net'));
    h.feed(line.request('rcpt-to', 'ok@example.com'));
    await h.advance(0);
    assert.ok(h.written.includes(result('rcpt-to', 'proceed')), h.written.join('\n'));
    assert.deepEqual(outline(recorded.events), [
      'step-ran connect #0 continue',
      'decision connect end proceed',
      'step-ran ehlo #1 decide',
      'decision ehlo decide reject',
      'decision ehlo end proceed',
      'decision mail-from none proceed',
      'step-ran rcpt-to #2 error:connect',
      'step-ran rcpt-to #3 decide',
      'step-ran rcpt-to #4 error:connect',
      'step-ran rcpt-to #5 accept',
      'fault rcpt-to #2',
      'decision rcpt-to accept proceed',
      'dry-run rcpt-to #3 decide',
      'dry-run rcpt-to #4 error',
    ]);
    assert.deepEqual(started, [`${SID} #0`, `${SID} #1`, `${SID} #2`, `${SID} #3`, `${SID} #4`, `${SID} #5`]);
  });

  test('the decision carries what its log line says: sent, note, the evaluation, the client', () => {
    const recorded = recordEvents();
    const h = new HostHarness(rules([chain('main', [{ action: reject(DENY), phase: 'connect' }])]), { events: recorded.sink });
    h.feed(line.connect(), line.request('connect', 'mx.example.net|192.0.2.7'));
    const decision = recorded.events.find((e) => e.type === 'decision');
    assert.ok(decision?.type === 'decision');
    const logged = h.log.records.find((r) => r.msg === 'decision');
    assert.ok(logged !== undefined);
    // A reject at connect is sent as a disconnect, with a note (protocol/smtpd-rules.ts).
    assert.deepEqual(decision.sent, { type: 'disconnect', reply: DENY });
    assert.equal(decision.note, logged.fields['note']);
    assert.equal(decision.client, logged.fields['client']);
    assert.equal(decision.evaluation?.step?.span.line, 2);
    assert.equal(`${FILE}:${decision.evaluation?.step?.span.line}`, logged.fields['rule']);
  });

  test('session events: an early talker smtpd dropped, an eviction, a request of an unknown session', () => {
    const recorded = recordEvents();
    const h = new HostHarness(rules([chain('main', [{ action: reject(DENY), phase: 'mail-from' }])]), { events: recorded.sink, limits: { maxSessions: 1 } });
    h.feed(line.connect(SID));
    h.feed(line.report('protocol-server', SID, '500 5.5.1 Invalid command: Pipelining not supported'), line.disconnect(SID));
    h.feed(line.connect(SID), line.connect(SID2), line.request('mail-from', 'a@example.net', SID));
    assert.deepEqual(outline(recorded.events), [`early-talker ${SID}`, `session-evicted ${SID}`, `unknown-session ${SID}`]);
  });

  test('stepRan: the run timed by the host’s measure, outcome or error with its kind; the evaluator sees the same', async () => {
    let now = 0;
    const ran: StepRanEvent[] = [];
    const h = host(
      { stepRan: (e) => ran.push(e) },
      {
        measure: () => now,
        run: () =>
          new Promise<StepOutcome>((resolve) => {
            now += 12.5;
            resolve({ type: 'continue', detail: { answer: 'DUNNO' } });
          }),
      },
    );
    h.feed(line.connect(), line.request('connect', 'localhost|127.0.0.1'));
    await h.advance(100);
    h.feed(line.request('ehlo', 'good.example'), line.report('tx-begin', SID, 'a1b2c3d4'), line.request('mail-from', 'a@example.net'));
    h.feed(line.request('rcpt-to', 'b@example.com'));
    await h.advance(0);
    const policyRun = ran.find((e) => e.step.index === 2);
    assert.ok(policyRun !== undefined);
    assert.equal(policyRun.ms, 12.5);
    assert.equal(policyRun.request, 'rcpt-to');
    assert.equal(policyRun.sessionId, SID);
    assert.deepEqual(policyRun.result, { ok: true, outcome: { type: 'continue', detail: { answer: 'DUNNO' } } });
    assert.ok(h.written.includes(result('rcpt-to', 'proceed')));
  });

  test('without subscribers nothing is wrapped: the planned runner is the service’s own', () => {
    const made: StepRunner[] = [];
    const services = testServices({
      reject: stateless((step) => {
        const runner: StepRunner = { step, run: () => ({ type: 'continue' }) };
        made.push(runner);
        return runner;
      }),
    });
    const compiled = rules([chain('main', [{ action: reject(DENY), phase: 'helo' }])]);
    const bare = buildPlan(compiled, null, 1, { log: silentLogger, services, timings: DEFAULT_TIMINGS, events: { decision: () => {} } });
    assert.ok(bare.ok);
    assert.equal(bare.value.phases.get('helo')?.steps[0]?.runner, made[0]);
    const observed = buildPlan(compiled, null, 1, { log: silentLogger, services, timings: DEFAULT_TIMINGS, events: { stepRan: () => {} } });
    assert.ok(observed.ok);
    assert.notEqual(observed.value.phases.get('helo')?.steps[0]?.runner, made[1]);
  });
});

describe('observeRunner: the one decorator', () => {
  const step = chain('main', [{ action: reject(DENY), phase: 'helo' }]).steps[0] ?? assert.fail();
  const ctx = { facts: facts({ sessionId: SID2 }), phase: 'helo', request: 'ehlo', clock: { now: () => 0, monotonic: () => 0, setTimer: () => ({ cancel: () => {} }) }, signal: new AbortController().signal } as const;

  test('a synchronous answer stays synchronous; a throw is rethrown, a rejection rejected, each reported once', async () => {
    const ran: StepRanEvent[] = [];
    const observer = { stepRan: (e: StepRanEvent) => ran.push(e), measure: () => 0 };
    const outcome: StepOutcome = { type: 'decide', decision: { type: 'reject', reply: DENY } };
    assert.equal(observeRunner({ step, run: () => outcome }, observer).run(ctx), outcome);
    const boom = new Error('boom');
    assert.throws(
      () =>
        observeRunner(
          {
            step,
            run: () => {
              throw boom;
            },
          },
          observer,
        ).run(ctx),
      (e: unknown) => e === boom,
    );
    const timeout = new PolicyError('timeout', 'unix:/run/p.sock', 'no answer');
    await assert.rejects(Promise.resolve(observeRunner({ step, run: () => Promise.reject(timeout) }, observer).run(ctx)), (e: unknown) => e === timeout);
    assert.deepEqual(
      ran.map((e) => [e.sessionId, e.request, e.result]),
      [
        [SID2, 'ehlo', { ok: true, outcome }],
        [SID2, 'ehlo', { ok: false, error: 'boom', errorKind: null }],
        [SID2, 'ehlo', { ok: false, error: timeout.message, errorKind: 'timeout' }],
      ],
    );
  });
});

describe('combineEvents', () => {
  test('a handler no sink has stays absent; one sink’s is its own method (its this); several are called in order', () => {
    class Counting implements RuntimeEvents {
      n = 0;
      decision(): void {
        this.n++;
      }
    }
    const a = new Counting();
    const one = combineEvents(a, {});
    assert.equal(one.stepRan, undefined);
    assert.equal(one.stepStarted, undefined);
    one.decision?.({ type: 'decision', sessionId: SID, client: 'c', request: 'helo', phase: 'helo', kind: 'none', sent: { type: 'proceed' }, note: null, evaluation: null, ms: 0 });
    assert.equal(a.n, 1);
    const order: string[] = [];
    const both = combineEvents({ sessionEvicted: () => order.push('first') }, { sessionEvicted: () => order.push('second') });
    both.sessionEvicted?.({ type: 'session-evicted', sessionId: SID, client: 'c', ageMs: 1 });
    assert.deepEqual(order, ['first', 'second']);
  });
});
