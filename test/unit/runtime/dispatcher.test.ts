import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolWriter } from '../../../src/protocol/writer.js';
import { DeadlineError, Dispatcher, SessionGoneError } from '../../../src/runtime/dispatcher.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger } from '../../../src/support/log.js';
import { SID, SID2, TOKEN } from './helpers.js';

function setup(): { d: Dispatcher; out: string[]; clock: FakeClock; log: RecordingLogger } {
  const out: string[] = [];
  const log = new RecordingLogger();
  const clock = new FakeClock();
  const writer = new ProtocolWriter({
    sink: { write: (c) => (out.push(...String(c).split('\n').filter(Boolean)), true), once: () => undefined },
    log,
    schedule: (fn) => fn(),
  });
  return { d: new Dispatcher({ writer, clock, log }), out, clock, log };
}

const ref = (sessionId = SID, phase: 'connect' | 'rcpt-to' = 'connect') => ({ sessionId, token: TOKEN[phase], phase });
const PROCEED = { type: 'proceed' } as const;

describe('Dispatcher', () => {
  test('answers a pending request exactly once; a second answer is ignored and logged', () => {
    const { d, out, log } = setup();
    const p = d.open(ref(), 10_000);
    assert.equal(d.size, 1);
    assert.equal(p.answer(PROCEED), true);
    assert.equal(p.answer({ type: 'reject', reply: '550 5.7.1 no' }), false);
    assert.deepEqual(out, [`filter-result|${SID}|${TOKEN.connect}|proceed`]);
    assert.equal(d.size, 0);
    assert.ok(log.records.some((r) => r.msg === 'second answer to a request ignored'));
  });

  test('pending requests are keyed by (session, token): the same token in two sessions is two requests', () => {
    const { d, out } = setup();
    const a = d.open(ref(SID), 10_000);
    const b = d.open(ref(SID2), 10_000);
    assert.equal(d.size, 2);
    b.answer({ type: 'disconnect', reply: '421 4.7.0 bye' });
    a.answer(PROCEED);
    assert.deepEqual(out, [
      `filter-result|${SID2}|${TOKEN.connect}|disconnect|421 4.7.0 bye`,
      `filter-result|${SID}|${TOKEN.connect}|proceed`,
    ]);
  });

  test('disconnect cancels pending work without answering; a late answer writes nothing', () => {
    const { d, out } = setup();
    const p = d.open(ref(), 10_000);
    const reasons: unknown[] = [];
    p.signal.addEventListener('abort', () => reasons.push(p.signal.reason));
    assert.equal(d.dropSession(SID), 1);
    assert.equal(p.state, 'cancelled');
    assert.ok(reasons[0] instanceof SessionGoneError);
    assert.equal(p.answer(PROCEED), false);
    assert.deepEqual(out, []);
    assert.equal(d.dropSession(SID), 0);
  });

  test('a reused session id: the late answer of the old session never reaches the new one', () => {
    const { d, out } = setup();
    const old = d.open(ref(SID, 'rcpt-to'), 10_000);
    d.dropSession(SID); // link-disconnect
    const fresh = d.open(ref(SID, 'connect'), 10_000); // same id, new session, other token
    old.answer({ type: 'reject', reply: '451 4.7.1 late' });
    assert.deepEqual(out, [], 'the old answer would carry a stale token: smtpd would exit');
    fresh.answer(PROCEED);
    assert.deepEqual(out, [`filter-result|${SID}|${TOKEN.connect}|proceed`]);
  });

  test('the watchdog answers the tempfail when nobody answered in time, then aborts the work', () => {
    const { d, out, clock, log } = setup();
    const p = d.open(ref(SID, 'rcpt-to'), 5000);
    const c = d.open(ref(SID2, 'connect'), 5000);
    clock.advance(4999);
    assert.deepEqual(out, []);
    clock.advance(1);
    assert.deepEqual(out, [
      `filter-result|${SID}|${TOKEN['rcpt-to']}|reject|451 4.3.0 Temporary failure, please try again later`,
      `filter-result|${SID2}|${TOKEN.connect}|disconnect|421 4.3.0 Temporary failure, please try again later`,
    ]);
    assert.ok(p.signal.aborted && p.signal.reason instanceof DeadlineError);
    assert.equal(p.answer(PROCEED), false, 'the evaluation finishing later changes nothing');
    assert.equal(c.state, 'answered');
    assert.equal(out.length, 2);
    assert.equal(log.records.filter((r) => r.msg === 'request not answered in time; sent the fallback').length, 2);
  });

  test('answering cancels the watchdog', () => {
    const { d, out, clock } = setup();
    d.open(ref(), 5000).answer(PROCEED);
    clock.advance(10_000);
    assert.equal(out.length, 1);
    assert.equal(clock.pending(), 0);
  });

  test('a new request for an open (session, token) drops the stale one unanswered', () => {
    const { d, out, log } = setup();
    const stale = d.open(ref(), 10_000);
    d.answerNow(ref(), PROCEED);
    assert.equal(stale.state, 'cancelled');
    stale.answer(PROCEED);
    assert.equal(out.length, 1);
    assert.ok(log.records.some((r) => r.level === 'error'));
  });

  test('dropAll forgets everything (stdin EOF)', () => {
    const { d, out, clock } = setup();
    for (let i = 0; i < 5; i++) d.open(ref(`${i}`.padStart(16, '0')), 1000);
    d.dropAll();
    assert.equal(d.size, 0);
    clock.advance(2000);
    assert.deepEqual(out, []);
  });
});
