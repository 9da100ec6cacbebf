/**
 * ConnectionGate on a fake clock: commands wait for a connection being made
 * (bounded in time, in number, and by their caller's abort), and fail at once
 * once an attempt has failed, until a connection is ready again.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionGate } from '../../../src/store/connection-gate.js';
import { FakeClock } from '../../../src/support/clock.js';

function gate(maxWaitMs = 2000, maxWaiting = 3): { g: ConnectionGate; clock: FakeClock } {
  const clock = new FakeClock();
  return { g: new ConnectionGate({ clock, maxWaitMs, maxWaiting }), clock };
}

/** Where a promise stands, after the microtasks that settle it have run. */
async function state(p: Promise<void>): Promise<'pending' | 'resolved' | string> {
  let out: string = 'pending';
  p.then(
    () => (out = 'resolved'),
    (e: unknown) => (out = e instanceof Error ? e.message : String(e)),
  );
  await new Promise((r) => setImmediate(r));
  return out;
}

/** An abort the test fires by hand, shaped like StepContext.onAbort. */
function abortable(): { onAbort: (l: (reason: unknown) => void) => () => void; fire: (reason: unknown) => void; listeners: () => number } {
  const ls = new Set<(reason: unknown) => void>();
  return {
    onAbort: (l) => {
      ls.add(l);
      return () => ls.delete(l);
    },
    fire: (reason) => [...ls].forEach((l) => l(reason)),
    listeners: () => ls.size,
  };
}

describe('ConnectionGate', () => {
  test('at start a command waits for the connection, and goes on when it is ready', async () => {
    const { g, clock } = gate();
    assert.equal(g.state, 'connecting');
    const a = g.whenReady();
    const b = g.whenReady();
    clock.advance(1999);
    assert.equal(await state(a), 'pending');
    assert.equal(g.waiting, 2);
    g.ready();
    assert.equal(await state(a), 'resolved');
    assert.equal(await state(b), 'resolved');
    assert.equal(g.waiting, 0);
    assert.equal(clock.pending(), 0, 'no timer left behind');
  });

  test('the first attempt fails (refused): the waiters fail with the reason, and later commands at once', async () => {
    const { g } = gate();
    const a = g.whenReady();
    g.failed('connect ECONNREFUSED 127.0.0.1:6379');
    assert.equal(await state(a), 'not connected (connect ECONNREFUSED 127.0.0.1:6379)');
    assert.equal(g.state, 'down');
    // The reconnect attempts that follow do not make it wait again: it is down.
    g.closed();
    assert.equal(await state(g.whenReady()), 'not connected (connect ECONNREFUSED 127.0.0.1:6379)');
    assert.equal(g.waiting, 0);
    g.ready();
    assert.equal(g.state, 'ready');
  });

  test('an attempt that closes before it is ready failed', async () => {
    const { g } = gate();
    const a = g.whenReady();
    g.closed();
    assert.equal(await state(a), 'not connected (connection closed before it was ready)');
    assert.equal(g.state, 'down');
  });

  test('a working connection closed cleanly (idle timeout): commands wait for the reconnect', async () => {
    const { g } = gate();
    g.ready();
    g.closed();
    assert.equal(g.state, 'connecting');
    const a = g.whenReady();
    assert.equal(await state(a), 'pending');
    g.ready();
    assert.equal(await state(a), 'resolved');
  });

  test('a working connection that failed (reset): the reconnect is not waited for', async () => {
    const { g } = gate();
    g.ready();
    g.failed('read ECONNRESET');
    g.closed();
    assert.equal(await state(g.whenReady()), 'not connected (read ECONNRESET)');
  });

  test('waits end maxWaitMs into the making; after that, commands fail at once until ready', async () => {
    const { g, clock } = gate(500);
    const a = g.whenReady();
    clock.advance(300);
    // A later command waits only for the rest of the window.
    const b = g.whenReady();
    clock.advance(199);
    assert.equal(await state(a), 'pending');
    assert.equal(await state(b), 'pending');
    clock.advance(1);
    assert.equal(await state(a), 'not connected after 500 ms (connecting)');
    assert.equal(await state(b), 'not connected after 500 ms (connecting)');
    assert.equal(g.waiting, 0);
    // Still connecting (a Redis loading its data, SYNs dropped): no more waiting.
    assert.equal(await state(g.whenReady()), 'not connected after 500 ms (connecting)');
    clock.advance(10_000);
    assert.equal(await state(g.whenReady()), 'not connected after 500 ms (connecting)');
    assert.equal(clock.pending(), 0);
    g.ready();
    // The next clean close opens a new window.
    g.closed();
    const c = g.whenReady();
    clock.advance(499);
    assert.equal(await state(c), 'pending');
    g.ready();
    assert.equal(await state(c), 'resolved');
  });

  test("a wait ends with its caller's abort (the step's deadline), and unsubscribes when it ends otherwise", async () => {
    const { g, clock } = gate();
    const abort = abortable();
    const a = g.whenReady(abort.onAbort);
    assert.equal(abort.listeners(), 1);
    abort.fire(new Error('step deadline of 11000 ms passed'));
    assert.equal(await state(a), 'gave up waiting for the connection: step deadline of 11000 ms passed');
    assert.equal(g.waiting, 0);
    assert.equal(clock.pending(), 0);

    const other = abortable();
    const b = g.whenReady(other.onAbort);
    g.ready();
    assert.equal(await state(b), 'resolved');
    assert.equal(other.listeners(), 0, 'unsubscribed once ready');
  });

  test('an abort that already happened ends the wait at once', async () => {
    const { g, clock } = gate();
    const a = g.whenReady((l) => {
      l('session gone');
      return () => {};
    });
    assert.equal(await state(a), 'gave up waiting for the connection: session gone');
    assert.equal(g.waiting, 0);
    assert.equal(clock.pending(), 0);
  });

  test('at most maxWaiting commands wait; the next fail at once', async () => {
    const { g } = gate(2000, 3);
    const waiting = [g.whenReady(), g.whenReady(), g.whenReady()];
    assert.equal(await state(g.whenReady()), 'not connected yet, and 3 commands already wait for the connection');
    g.ready();
    for (const w of waiting) assert.equal(await state(w), 'resolved');
  });

  test('close: the waiters fail, and every later command; later events change nothing', async () => {
    const { g, clock } = gate();
    const a = g.whenReady();
    g.close();
    assert.equal(await state(a), 'the store is closed');
    g.ready();
    g.closed();
    assert.equal(g.state, 'closed');
    assert.equal(await state(g.whenReady()), 'the store is closed');
    assert.equal(clock.pending(), 0);
  });

  test('options are validated', () => {
    const clock = new FakeClock();
    assert.throws(() => new ConnectionGate({ clock, maxWaitMs: -1, maxWaiting: 1 }), /maxWaitMs/);
    assert.throws(() => new ConnectionGate({ clock, maxWaitMs: 1, maxWaiting: Number.NaN }), /maxWaiting/);
  });
});
