import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AbortScope } from '../../../src/runtime/abort-scope.js';

describe('AbortScope', () => {
  test('listeners run once, in order, with the reason; later aborts do nothing', () => {
    const scope = AbortScope.create();
    const calls: string[] = [];
    scope.onAbort((r) => calls.push(`a:${String(r)}`));
    scope.onAbort((r) => calls.push(`b:${String(r)}`));
    assert.equal(scope.aborted, false);
    scope.abort('gone');
    scope.abort('again');
    assert.deepEqual(calls, ['a:gone', 'b:gone']);
    assert.equal(scope.aborted, true);
    assert.equal(scope.reason, 'gone');
  });

  test('subscribing to an aborted scope calls the listener at once', () => {
    const scope = AbortScope.create();
    scope.abort('late');
    let seen: unknown = null;
    scope.onAbort((r) => (seen = r));
    assert.equal(seen, 'late');
  });

  test('an unsubscribed listener is not called', () => {
    const scope = AbortScope.create();
    let called = false;
    const off = scope.onAbort(() => (called = true));
    off();
    scope.abort('x');
    assert.equal(called, false);
  });

  test('the AbortSignal is made on demand and follows the scope, before or after the abort', () => {
    const before = AbortScope.create();
    const signal = before.signal;
    assert.equal(signal.aborted, false);
    let fired: unknown = null;
    signal.addEventListener('abort', () => (fired = signal.reason));
    const reason = new Error('disconnect');
    before.abort(reason);
    assert.equal(fired, reason);

    const after = AbortScope.create();
    after.abort(reason);
    assert.equal(after.signal.aborted, true);
    assert.equal(after.signal.reason, reason);
  });

  test('a child is aborted with its parent, on its own without it, and release detaches it', () => {
    const parent = AbortScope.create();
    const a = parent.child();
    const b = parent.child();
    b.abort('own');
    assert.equal(parent.aborted, false, 'a child does not abort its parent');
    const c = parent.child();
    c.release();
    c.release();
    parent.abort('parent');
    assert.equal(a.reason, 'parent');
    assert.equal(b.reason, 'own');
    assert.equal(c.aborted, false, 'released: no longer follows the parent');
    assert.equal(parent.child().reason, 'parent', 'a child of an aborted scope starts aborted');
    assert.equal(AbortScope.never.child().aborted, false);
  });

  test('a throwing listener does not stop the others; its error surfaces afterwards', () => {
    const scope = AbortScope.create();
    const ran: number[] = [];
    scope.onAbort(() => {
      ran.push(1);
      throw new Error('listener bug');
    });
    scope.onAbort(() => ran.push(2));
    const signal = scope.signal;
    assert.throws(() => scope.abort('x'), /listener bug/);
    assert.deepEqual(ran, [1, 2]);
    assert.equal(signal.aborted, true);
  });

  test('never: never aborted, and keeps no listener', () => {
    let called = false;
    const off = AbortScope.never.onAbort(() => (called = true));
    off();
    AbortScope.never.abort('no');
    assert.equal(AbortScope.never.aborted, false);
    assert.equal(called, false);
  });
});
