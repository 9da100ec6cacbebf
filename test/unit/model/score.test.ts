/**
 * Score arithmetic (issue 12): thousandths, so decimals add exactly; each
 * adder counts once per scope; the transaction part resets, the session
 * part stays; the breakdown a log line shows.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPoints, formatScore, scoreBreakdown, SessionScore } from '../../../src/model/score.js';

describe('session scores', () => {
  test('each key counts once per scope; the transaction part resets, the session part stays', () => {
    const s = new SessionScore();
    assert.equal(s.add('zen', 'zen', 3000, 'session'), true);
    assert.equal(s.add('zen', 'zen', 3000, 'session'), false);
    assert.equal(s.add('rdns', 'no-rdns', 2000, 'session'), true);
    assert.equal(s.add('big', 'big-message', 1500, 'transaction'), true);
    assert.equal(s.add('big', 'big-message', 1500, 'transaction'), false);
    assert.equal(s.total(), 6.5);
    s.resetTransaction();
    assert.equal(s.total(), 5);
    assert.equal(s.add('big', 'big-message', 1500, 'transaction'), true, 'counts again in the next transaction');
    assert.equal(s.total(), 6.5);
  });

  test('negative points and exact decimals', () => {
    const s = new SessionScore();
    s.add('a', 'a', 100, 'session');
    s.add('b', 'b', 200, 'session');
    assert.equal(s.total(), 0.3);
    s.add('dnswl', 'dnswl', -2000, 'session');
    assert.equal(s.total(), -1.7);
  });

  test('the breakdown: total, then each part with its sign, session part first', () => {
    const s = new SessionScore();
    assert.equal(scoreBreakdown(s), '0');
    s.add('t', 'big', 500, 'transaction');
    s.add('zen', 'zen', 3000, 'session');
    s.add('rdns', 'no-rdns', 2000, 'session');
    s.add('helo', 'helo-literal', 2000, 'session');
    assert.equal(scoreBreakdown(s), '7.5 (zen +3, no-rdns +2, helo-literal +2, big +0.5)');
    assert.equal(formatPoints(-1500), '-1.5');
    assert.equal(formatPoints(125), '+0.125');
    assert.equal(formatScore(-500), '-0.5');
    assert.equal(formatScore(0), '0');
  });
});
