import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from '../../../src/runtime/session.js';
import { SessionTable } from '../../../src/runtime/session-table.js';
import { FakeClock } from '../../../src/support/clock.js';
import { emptyPlan as plan, line, reportEvent as ev, SID } from './helpers.js';

describe('SessionTable', () => {
  const id = (n: number) => n.toString(16).padStart(16, '0');
  const HOUR = 3_600_000;

  /** A table whose sessions each saw a line after connecting, as under real traffic. */
  function filled(n: number, maxSessions = n) {
    const clock = new FakeClock();
    const ended: [string, string, number][] = [];
    const t = new SessionTable({ clock, maxSessions, onEnd: (s, why, ageMs) => ended.push([s.id, why, ageMs]) });
    const p = plan();
    for (let i = 1; i <= n; i++) {
      t.add(new Session(id(i), p));
      clock.advance(1000);
      assert.ok(t.get(id(i)), 'its first line');
    }
    return { clock, t, ended, p };
  }

  test('bounded: 100,000 connects without disconnect keep at most maxSessions', () => {
    const clock = new FakeClock();
    const ended: string[] = [];
    const t = new SessionTable({ clock, maxSessions: 50_000, onEnd: (_s, why) => ended.push(why) });
    const p = plan();
    for (let i = 0; i < 100_000; i++) t.add(new Session(id(i), p));
    assert.equal(t.size, 50_000);
    assert.equal(ended.length, 50_000);
    assert.ok(ended.every((w) => w === 'evicted'));
    assert.equal(t.get(id(0)), undefined, 'the oldest went first');
    assert.ok(t.get(id(49_999)) === undefined && t.get(id(50_000)) !== undefined);
    assert.ok(t.get(id(99_999)));
  });

  test('a session with no line for 2 hours is still there, with its facts (no idle expiry)', () => {
    const clock = new FakeClock();
    const ended: string[] = [];
    const t = new SessionTable({ clock, maxSessions: 10, onEnd: (_s, why) => ended.push(why) });
    const s = new Session(SID, plan());
    s.applyReport(ev(line.connect(SID, '192.0.2.7:60192', 'mx.example.net')));
    t.add(s);
    clock.advance(2 * HOUR);
    assert.equal(clock.pending(), 0, 'the table sets no timer');
    const later = t.get(SID);
    assert.equal(later, s);
    const f = later?.facts('mail-from', 'mail-from', 'a@example.net');
    assert.equal(f?.src, '192.0.2.7');
    assert.equal(f?.rdns, 'mx.example.net');
    assert.equal(f?.local, false);
    assert.deepEqual(ended, []);
  });

  test('full: touching the oldest saves it; the second-oldest is evicted, the newest kept', () => {
    const { t, ended, p } = filled(5);
    assert.ok(t.get(id(1)), 'the oldest is active again');
    t.add(new Session(id(6), p));
    assert.deepEqual(ended.map(([s, why]) => [s, why]), [[id(2), 'evicted']]);
    assert.ok(t.get(id(6)), 'the session that just connected keeps its facts');
    assert.ok(t.get(id(1)));
    assert.equal(t.size, 5);
  });

  test('full and every session active: adding evicts the least recently active, in order', () => {
    const { t, ended, p } = filled(5);
    for (const n of [3, 1, 5, 2, 4]) assert.ok(t.get(id(n)));
    assert.deepEqual(t.idsByRecency(), [3, 1, 5, 2, 4].map(id));
    for (let n = 6; n <= 10; n++) t.add(new Session(id(n), p));
    assert.deepEqual(
      ended.map(([s]) => s),
      [3, 1, 5, 2, 4].map(id),
    );
    assert.deepEqual(t.idsByRecency(), [6, 7, 8, 9, 10].map(id));
  });

  test('the last-looked-up fast path still counts as activity', () => {
    const { t, ended, p } = filled(3, 4);
    // 3 was looked up last; a new session becomes the tail without a lookup.
    t.add(new Session(id(4), p));
    assert.deepEqual(t.idsByRecency(), [1, 2, 3, 4].map(id));
    assert.ok(t.get(id(3)), 'found through the remembered entry');
    assert.deepEqual(t.idsByRecency(), [1, 2, 4, 3].map(id));
    for (const n of [5, 6, 7]) t.add(new Session(id(n), p));
    assert.deepEqual(ended.map(([s]) => s), [1, 2, 4].map(id));
  });

  test('an evicted session is reported with its age', () => {
    const { clock, t, ended, p } = filled(2);
    clock.advance(10_000);
    t.add(new Session(id(3), p));
    // Session 1 was added at 0, session 3 at 12 s.
    assert.deepEqual(ended, [[id(1), 'evicted', 12_000]]);
  });

  test('connect/disconnect churn on a quiet server: the table goes from one session to none and back', () => {
    // What this churn costs (O(1) per session whatever the cap, where lru-cache refilled
    // its cap-sized arrays every time) is measured by bench/tools/session-churn.mjs.
    const clock = new FakeClock();
    const ended: string[] = [];
    const t = new SessionTable({ clock, maxSessions: 50_000, onEnd: (s) => ended.push(s.id) });
    const p = plan();
    for (let i = 0; i < 20_000; i++) {
      t.add(new Session(id(i), p));
      assert.equal(t.size, 1);
      t.delete(id(i));
      assert.equal(t.size, 0);
    }
    assert.deepEqual(t.idsByRecency(), []);
    assert.equal(ended.length, 20_000, 'every session ended once');
  });

  test('deleting from the head, middle and tail keeps the order consistent', () => {
    const { t, p } = filled(5);
    t.delete(id(1));
    t.delete(id(3));
    t.delete(id(5));
    assert.deepEqual(t.idsByRecency(), [id(2), id(4)]);
    assert.ok(t.get(id(2)));
    t.add(new Session(id(6), p));
    assert.deepEqual(t.idsByRecency(), [4, 2, 6].map(id));
    t.clear();
    assert.deepEqual(t.idsByRecency(), []);
    t.add(new Session(id(7), p));
    assert.deepEqual(t.idsByRecency(), [id(7)]);
  });

  test('delete reports disconnect, replace reports replaced, clear reports cleared', () => {
    const clock = new FakeClock();
    const ended: string[] = [];
    const t = new SessionTable({ clock, maxSessions: 10, onEnd: (_s, why) => ended.push(why) });
    const p = plan();
    t.add(new Session(id(1), p));
    t.add(new Session(id(1), p));
    t.add(new Session(id(2), p));
    assert.equal(t.size, 2);
    assert.deepEqual(t.idsByRecency(), [id(1), id(2)]);
    assert.ok(t.delete(id(2)));
    t.clear();
    assert.deepEqual(ended, ['replaced', 'disconnect', 'cleared']);
  });

  test('options are validated', () => {
    const clock = new FakeClock();
    assert.throws(() => new SessionTable({ clock, maxSessions: 0, onEnd: () => {} }), RangeError);
    assert.throws(() => new SessionTable({ clock, maxSessions: 1.5, onEnd: () => {} }), RangeError);
  });
});
