/**
 * `pause DURATION [pregreet disconnect ["REPLY"] | pregreet log] [pay-once DURATION]`:
 * what compiles to what, and the mistakes the checker reports.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PREGREET_DEFAULT_REPLY } from '../../../../src/steps/pause/define.js';
import { codes, compile, compileOk, onlyChain } from '../../dsl/helpers.js';

function pauseAction(source: string) {
  const step = onlyChain(compileOk(source)).steps[0];
  assert.ok(step);
  assert.equal(step.action.kind, 'pause');
  return step.action;
}

describe('pause options: pregreet and pay-once', () => {
  test('a plain pause compiles exactly as before (no option fields)', () => {
    assert.deepEqual(pauseAction('chain c = pause 3s'), { kind: 'pause', durationMs: 3000 });
  });

  test('pregreet disconnect: the default reply, postscreen-like 554', () => {
    assert.deepEqual(pauseAction('chain c = pause 3s pregreet disconnect'), {
      kind: 'pause',
      durationMs: 3000,
      pregreet: { action: 'disconnect', reply: PREGREET_DEFAULT_REPLY },
    });
    assert.match(PREGREET_DEFAULT_REPLY, /^554 5\.5\.1 /);
  });

  test('pregreet disconnect with a reply of ours; pregreet log; pay-once', () => {
    assert.deepEqual(pauseAction('chain c = pause 3s pregreet disconnect "421 4.7.0 slow down" pay-once 1h'), {
      kind: 'pause',
      durationMs: 3000,
      pregreet: { action: 'disconnect', reply: '421 4.7.0 slow down' },
      payOnceMs: 3_600_000,
    });
    assert.deepEqual(pauseAction('chain c = pause 2s pay-once 10m pregreet log'), {
      kind: 'pause',
      durationMs: 2000,
      pregreet: { action: 'log', reply: PREGREET_DEFAULT_REPLY },
      payOnceMs: 600_000,
    });
  });

  test('options mix with when/at/on-error in any order, and the next step still parses', () => {
    const chain = onlyChain(
      compileOk('list t = { 192.0.2.0/24 }\nchain c = pause 3s when not src in t pregreet disconnect at connect then reject "550 5.7.1 no" when helo ~ /x/'),
    );
    assert.equal(chain.steps.length, 2);
    assert.equal(chain.steps[0]?.action.kind, 'pause');
    assert.equal(chain.steps[0]?.phase, 'connect');
    assert.ok(chain.steps[0]?.when);
  });

  test('E046: pregreet on a pause that runs after connect (at, or a later field in when)', () => {
    assert.deepEqual(codes('chain c = pause 3s at helo pregreet disconnect'), ['E046']);
    assert.deepEqual(codes('chain c = pause 3s when helo ~ /x/ pregreet log'), ['E046']);
    const r = compile('chain c = pause 3s at helo pregreet disconnect');
    assert.equal(r.ok, false);
    if (!r.ok) {
      const d = r.diagnostics[0];
      assert.equal(d?.span.column, 28, 'points at the pregreet keyword');
      assert.match(d?.message ?? '', /connect/);
    }
  });

  test('pay-once works at any phase', () => {
    assert.deepEqual(codes('chain c = pause 3s at helo pay-once 1h'), []);
  });

  test('pay-once range and form: 1s … 30d (E020, E021)', () => {
    assert.deepEqual(codes('chain c = pause 3s pay-once 500ms'), ['E021']);
    assert.deepEqual(codes('chain c = pause 3s pay-once 31d'), ['E021']);
    assert.deepEqual(codes('chain c = pause 3s pay-once 30d'), []);
    assert.deepEqual(codes('chain c = pause 3s pay-once 1.5h'), ['E020']);
  });

  test('the reply is checked like any reply (E030, E031)', () => {
    assert.deepEqual(codes('chain c = pause 3s pregreet disconnect "250 ok"'), ['E030']);
    assert.deepEqual(codes('chain c = pause 3s pregreet disconnect "554 a\\r\\nb"'), ['E031']);
  });

  test('only pause takes them (E043), each at most once (E044)', () => {
    assert.deepEqual(codes('chain c = junk pregreet disconnect'), ['E043']);
    assert.deepEqual(codes('chain c = greylist pay-once 1h'), ['E043']);
    assert.deepEqual(codes('chain c = pause 3s pregreet log pregreet disconnect'), ['E044']);
  });

  test('syntax: pregreet needs disconnect or log; log takes no reply', () => {
    assert.deepEqual(codes('chain c = pause 3s pregreet'), ['E004']);
    assert.deepEqual(codes('chain c = pause 3s pregreet log "554 x"'), ['E004']);
    assert.deepEqual(codes('chain c = pause 3s pay-once'), ['E004']);
  });

  test('the new words are reserved', () => {
    const found = codes('list log = { 192.0.2.1 }\nchain c = accept when src in log');
    assert.ok(found.length > 0 && found.every((c) => c === 'E004'), found.join(' '));
  });
});
