/**
 * The pause with pregreet and pay-once, against a fake socket-table watcher
 * and a FakeClock: early talkers are refused (or logged), clients that hang
 * up end the pause, quiet clients wait the full pause and then pay once.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPauseRunnerFactory, PayOnceMemory, type PauseEnd } from '../../../../src/steps/pause/run.js';
import { type ConnectionWatcher } from '../../../../src/steps/pause/pregreet.js';
import type { PauseStep } from '../../../../src/steps/pause/run.js';
import type { StepContext, StepOutcome } from '../../../../src/model/runner.js';
import type { CompiledStep, SessionFacts } from '../../../../src/model/plan.js';
import { createRunner } from '../../../../src/runtime/plan.js';
import { FakeClock } from '../../../../src/support/clock.js';
import { RecordingLogger, silentLogger } from '../../../../src/support/log.js';
import type { Endpoints } from '../../../../src/support/proc-net-tcp.js';
import type { ConnectionEvent } from '../../../../src/support/proc-net-tcp-watch.js';
import { stateless } from '../../../../src/steps/service.js';
import { facts, settle, testServices } from '../../runtime/helpers.js';
import { nameAndText } from '../compiled.js';

const REPLY = '554 5.5.1 Protocol error: data sent before the greeting';

function pauseStep(over: Partial<PauseStep['action']> = {}): PauseStep {
  const action: PauseStep['action'] = { kind: 'pause', durationMs: 3000, ...over };
  return {
    index: 1,
    action,
    ...nameAndText(action),
    phase: 'connect',
    when: null,
    whenText: null,
    span: { file: '/etc/mail/r.rules', line: 4, column: 5, endLine: 4, endColumn: 30 },
    onError: 'tempfail',
  };
}

/** A watcher the test drives by hand. */
class FakeWatcher implements ConnectionWatcher {
  readonly watched: Array<{ endpoints: Endpoints; listener: (e: ConnectionEvent) => void; cancelled: boolean }> = [];
  refuse = false;
  watch(endpoints: Endpoints, listener: (e: ConnectionEvent) => void) {
    if (this.refuse) return null;
    const entry = { endpoints, listener, cancelled: false };
    this.watched.push(entry);
    return { cancel: () => void (entry.cancelled = true) };
  }
  emit(event: ConnectionEvent, i = this.watched.length - 1): void {
    const w = this.watched[i];
    assert.ok(w && !w.cancelled, 'a live watch');
    w.listener(event);
  }
}

function setup(opts: { watcher?: FakeWatcher | null; log?: RecordingLogger } = {}) {
  const clock = new FakeClock();
  const fake = opts.watcher ?? new FakeWatcher();
  const watcher = opts.watcher === null ? null : fake;
  const events: string[] = [];
  const ends: PauseEnd[] = [];
  const factory = createPauseRunnerFactory({
    clock,
    log: opts.log ?? silentLogger,
    watcher,
    payOnce: new PayOnceMemory(clock),
    events: {
      started: () => events.push('started'),
      ended: (_s, end, ms) => {
        ends.push(end);
        events.push(`ended:${end}:${ms}`);
      },
      skipped: () => events.push('skipped'),
      earlyTalker: (_s, action, bytes) => events.push(`talker:${action}:${bytes}`),
    },
  });
  return { clock, watcher: fake, events, ends, factory };
}

function ctx(clock: FakeClock, f: Partial<SessionFacts> = {}, signal = new AbortController().signal): StepContext {
  return { facts: facts({ src: '198.51.100.7', srcPort: 50001, dest: '192.0.2.1', destPort: 25, ...f }), phase: 'connect', request: 'connect', clock, signal };
}

/** Run and record the outcome when it settles. */
function start(runner: { run: (c: StepContext) => StepOutcome | Promise<StepOutcome> }, c: StepContext) {
  const box: { outcome: StepOutcome | null; error: unknown } = { outcome: null, error: null };
  const r = runner.run(c);
  if (r instanceof Promise) r.then((o) => (box.outcome = o), (e: unknown) => (box.error = e));
  else box.outcome = r;
  return box;
}

describe('pause with pregreet', () => {
  test('a quiet client waits the full pause; the watch covers its exact address pair and ends with the pause', async () => {
    const { clock, watcher, events, factory } = setup();
    const box = start(factory(pauseStep({ pregreet: { action: 'disconnect', reply: REPLY } })), ctx(clock));
    assert.deepEqual(watcher.watched[0]?.endpoints, { src: '198.51.100.7', srcPort: 50001, dest: '192.0.2.1', destPort: 25 });
    clock.advance(2999);
    await settle();
    assert.equal(box.outcome, null);
    clock.advance(1);
    await settle();
    assert.deepEqual(box.outcome, { type: 'continue', detail: { pausedMs: 3000 } });
    assert.equal(watcher.watched[0]?.cancelled, true);
    assert.deepEqual(events, ['started', 'ended:waited:3000']);
  });

  test('pregreet disconnect: an early talker is refused at once with the reply', async () => {
    const log = new RecordingLogger();
    const { clock, watcher, events, factory } = setup({ log });
    const box = start(factory(pauseStep({ pregreet: { action: 'disconnect', reply: REPLY } })), ctx(clock));
    clock.advance(600);
    watcher.emit({ kind: 'talked', bytes: 12 });
    await settle();
    assert.deepEqual(box.outcome, {
      type: 'decide',
      decision: { type: 'disconnect', reply: REPLY },
      detail: { pregreet: 'talked', bytes: 12, pausedMs: 600 },
    });
    assert.equal(watcher.watched[0]?.cancelled, true);
    assert.deepEqual(events, ['started', 'talker:disconnect:12', 'ended:talked:600']);
    // No timer left behind.
    assert.equal(clock.pending(), 0);
  });

  test('pregreet log: the talker is logged and counted, the pause goes on', async () => {
    const log = new RecordingLogger();
    const { clock, watcher, events, factory } = setup({ log });
    const box = start(factory(pauseStep({ pregreet: { action: 'log', reply: REPLY } })), ctx(clock));
    clock.advance(500);
    watcher.emit({ kind: 'talked', bytes: 5 });
    clock.advance(2500);
    await settle();
    assert.deepEqual(box.outcome, { type: 'continue', detail: { pausedMs: 3000, pregreet: 'logged' } });
    assert.deepEqual(events, ['started', 'talker:log:5', 'ended:waited:3000']);
    const line = log.records.find((r) => r.msg?.startsWith('early talker'));
    assert.equal(line?.fields['client'], '198.51.100.7:50001');
    assert.equal(line?.fields['rule'], '/etc/mail/r.rules:4');
  });

  test('a client that hangs up ends the pause early; the chain goes on', async () => {
    const log = new RecordingLogger();
    const { clock, watcher, events, factory } = setup({ log });
    const box = start(factory(pauseStep({ durationMs: 10_000, pregreet: { action: 'disconnect', reply: REPLY } })), ctx(clock));
    clock.advance(750);
    watcher.emit({ kind: 'gone', how: 'closed' });
    await settle();
    assert.deepEqual(box.outcome, { type: 'continue', detail: { pause: 'client-gone', pausedMs: 750 } });
    assert.deepEqual(events, ['started', 'ended:gone:750']);
    assert.ok(log.records.some((r) => r.msg === 'client hung up during the pause; pause ended early'));
    assert.equal(clock.pending(), 0);
  });

  test('an unobservable connection, or no watcher at all: a plain pause', async () => {
    const { clock, watcher, factory } = setup();
    const box = start(factory(pauseStep({ pregreet: { action: 'disconnect', reply: REPLY } })), ctx(clock));
    watcher.emit({ kind: 'unobservable', reason: 'not found' });
    clock.advance(3000);
    await settle();
    assert.deepEqual(box.outcome, { type: 'continue', detail: { pausedMs: 3000 } });

    const log = new RecordingLogger();
    const none = setup({ watcher: null, log });
    const runner = none.factory(pauseStep({ pregreet: { action: 'disconnect', reply: REPLY } }));
    none.factory(pauseStep({ pregreet: { action: 'log', reply: REPLY } }));
    assert.equal(log.records.filter((r) => r.level === 'warn').length, 1, 'warned once');
    const b2 = start(runner, ctx(none.clock));
    none.clock.advance(3000);
    await settle();
    assert.deepEqual(b2.outcome, { type: 'continue', detail: { pausedMs: 3000 } });
  });

  test('counts from the timestamp smtpd gave the request, like the plain pause', async () => {
    const { clock, watcher, events, factory } = setup();
    const c = { ...ctx(clock), requestedAt: clock.now() - 1000 };
    const box = start(factory(pauseStep({ pregreet: { action: 'disconnect', reply: REPLY } })), c);
    assert.equal(watcher.watched.length, 1);
    clock.advance(1999);
    await settle();
    assert.equal(box.outcome, null);
    clock.advance(1);
    await settle();
    assert.deepEqual(box.outcome, { type: 'continue', detail: { pausedMs: 3000 } });
    assert.deepEqual(events, ['started', 'ended:waited:3000']);
    // Queued for longer than the pause: no wait, no watch.
    const late = factory(pauseStep({ pregreet: { action: 'disconnect', reply: REPLY } })).run({ ...ctx(clock), requestedAt: clock.now() - 5000 });
    assert.deepEqual(late, { type: 'continue', detail: { pausedMs: 3000 } });
    assert.equal(watcher.watched.length, 1);
  });

  test('the local socket is never watched', async () => {
    const { clock, watcher, factory } = setup();
    start(factory(pauseStep({ pregreet: { action: 'disconnect', reply: REPLY } })), ctx(clock, { local: true, src: '', srcPort: null, dest: '', destPort: null }));
    assert.equal(watcher.watched.length, 0);
  });

  test('disconnect (abort) cancels the timer and the watch, and rejects', async () => {
    const { clock, watcher, events, factory } = setup();
    const ac = new AbortController();
    const box = start(factory(pauseStep({ pregreet: { action: 'disconnect', reply: REPLY } })), ctx(clock, {}, ac.signal));
    clock.advance(100);
    ac.abort(new Error('session gone'));
    await settle();
    assert.match(String(box.error), /aborted/);
    assert.equal(watcher.watched[0]?.cancelled, true);
    assert.equal(clock.pending(), 0);
    assert.deepEqual(events, ['started', 'ended:aborted:100']);
  });

  test('events after the pause ended are ignored (one outcome only)', async () => {
    const { clock, watcher, factory } = setup();
    const box = start(factory(pauseStep({ pregreet: { action: 'disconnect', reply: REPLY } })), ctx(clock));
    const w = watcher.watched[0];
    clock.advance(3000);
    await settle();
    w?.listener({ kind: 'talked', bytes: 3 });
    await settle();
    assert.deepEqual(box.outcome, { type: 'continue', detail: { pausedMs: 3000 } });
  });
});

describe('pause with pay-once', () => {
  test('a client that sat through the pause skips it until pay-once runs out', async () => {
    const { clock, events, factory } = setup();
    const runner = factory(pauseStep({ payOnceMs: 3_600_000 }));
    const first = start(runner, ctx(clock));
    clock.advance(3000);
    await settle();
    assert.deepEqual(first.outcome, { type: 'continue', detail: { pausedMs: 3000 } });
    // Next connection from the same address: no wait, synchronously.
    assert.deepEqual(runner.run(ctx(clock, { srcPort: 50002 })), { type: 'continue', detail: { pause: 'paid-once', pausedMs: 0 } });
    // Another address still waits.
    assert.ok(runner.run(ctx(clock, { src: '198.51.100.8' })) instanceof Promise);
    clock.advance(3000 + 3_600_000);
    await settle();
    assert.ok(runner.run(ctx(clock)) instanceof Promise, 'paid an hour ago: pays again');
    assert.ok(events.includes('skipped'));
  });

  test('an early talker (even one only logged) and a client that hung up do not earn it', async () => {
    const { clock, watcher, factory } = setup();
    const logged = factory(pauseStep({ payOnceMs: 3_600_000, pregreet: { action: 'log', reply: REPLY } }));
    start(logged, ctx(clock));
    watcher.emit({ kind: 'talked', bytes: 1 });
    clock.advance(3000);
    await settle();
    assert.ok(logged.run(ctx(clock)) instanceof Promise);

    const gone = factory(pauseStep({ payOnceMs: 3_600_000, pregreet: { action: 'disconnect', reply: REPLY } }));
    start(gone, ctx(clock, { src: '198.51.100.9' }));
    watcher.emit({ kind: 'gone', how: 'vanished' });
    await settle();
    assert.ok(gone.run(ctx(clock, { src: '198.51.100.9' })) instanceof Promise);
  });

  test('the memory is shared by the factory: a runner rebuilt on reload remembers', async () => {
    const { clock, factory } = setup();
    start(factory(pauseStep({ payOnceMs: 60_000 })), ctx(clock));
    clock.advance(3000);
    await settle();
    const rebuilt = factory(pauseStep({ payOnceMs: 60_000 }));
    assert.equal(rebuilt.run(ctx(clock)) instanceof Promise, false);
  });

  test('PayOnceMemory: bounded, least recently used dropped first', () => {
    const clock = new FakeClock();
    const m = new PayOnceMemory(clock, 2);
    m.remember('a', 1000);
    m.remember('b', 1000);
    m.remember('c', 1000);
    assert.equal(m.size, 2);
    assert.equal(m.paidWithin('a', 1000), false);
    assert.equal(m.paidWithin('c', 1000), true);
    clock.advance(1000);
    assert.equal(m.paidWithin('c', 1000), false);
    assert.throws(() => new PayOnceMemory(clock, 0), /max/);
  });
});

describe('plain pauses through the factory', () => {
  test('are the plain timer, with start and end reported', async () => {
    const { clock, events, factory } = setup();
    const box = start(factory(pauseStep()), ctx(clock));
    clock.advance(3000);
    await settle();
    assert.deepEqual(box.outcome, { type: 'continue', detail: { pausedMs: 3000 } });
    assert.deepEqual(events, ['started', 'ended:waited:3000']);
  });

  test('the registry uses the service given, the plain pause of a host without services otherwise', async () => {
    const { clock, watcher, factory } = setup();
    const step = pauseStep({ pregreet: { action: 'disconnect', reply: REPLY } }) as CompiledStep;
    createRunner(step, testServices({ pause: stateless(factory) }), silentLogger).run(ctx(clock));
    assert.equal(watcher.watched.length, 1);
    createRunner(step, testServices(), silentLogger).run(ctx(clock));
    assert.equal(watcher.watched.length, 1, 'without the service nothing is watched');
  });
});
