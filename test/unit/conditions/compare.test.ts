/**
 * The compare form of a test (`score >= 2.5`, issue 12): a row that takes
 * `compare` reads its value as a number; the four operators hold as
 * arithmetic says, at the boundary too; decimals, signs and whole numbers
 * are read, and anything else is E074 at the number; a field that takes no
 * compare is E073 at the test.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compareNumber, type CompareFit } from '../../../src/conditions/fields.js';
import { conditionText } from '../../../src/dsl/predicates.js';
import { SCORE_SCALE, SessionScore } from '../../../src/model/score.js';
import { compile, compileOk, condition, facts, onlyChain } from '../dsl/helpers.js';

function scored(...points: number[]): SessionScore {
  const s = new SessionScore();
  points.forEach((p, i) => s.add(`step${i}`, `s${i}`, Math.round(p * SCORE_SCALE), 'session'));
  return s;
}

describe('the compare form', () => {
  test('each operator, below, at and above the threshold', () => {
    const truth: Record<string, [boolean, boolean, boolean]> = {
      '>=': [false, true, true],
      '>': [false, false, true],
      '<=': [true, true, false],
      '<': [true, false, false],
    };
    for (const [op, [below, at, above]] of Object.entries(truth)) {
      const p = condition(`score ${op} 2.5`);
      assert.equal(p(facts({ score: scored(2) })), below, `2 ${op} 2.5`);
      assert.equal(p(facts({ score: scored(2, 0.5) })), at, `2.5 ${op} 2.5`);
      assert.equal(p(facts({ score: scored(3) })), above, `3 ${op} 2.5`);
    }
  });

  test('decimals add up exactly: 0.1 + 0.2 meets 0.3', () => {
    assert.equal(condition('score >= 0.3')(facts({ score: scored(0.1, 0.2) })), true);
    assert.equal(condition('score <= 0.3')(facts({ score: scored(0.1, 0.2) })), true);
  });

  test('negative thresholds and signs; no score is 0', () => {
    assert.equal(condition('score < -1')(facts({ score: scored(-2) })), true);
    assert.equal(condition('score < -1')(facts({ score: scored(-1) })), false);
    assert.equal(condition('score >= +0')(facts()), true);
    assert.equal(condition('score > 0')(facts()), false);
    assert.equal(condition('not score >= 5 and score >= 1')(facts({ score: scored(3) })), true);
  });

  test('the condition text and the field it reads', () => {
    const [step] = onlyChain(compileOk('chain c = accept when score >= 2.5 or score < -1')).steps;
    assert.equal(step?.whenText, 'score >= 2.5 or score < -1');
    assert.deepEqual(step?.whenFields, ['score']);
    assert.equal(step?.phase, 'connect');
  });

  test('E074 at the number for what is not a plain decimal', () => {
    for (const bad of ['3s', '1.2.3', '1e3', '2.', '0x10', '-']) {
      const r = compile(`chain c = accept when score >= ${bad}`);
      if (bad === '-') {
        assert.equal(r.ok, false, 'a lone sign is a syntax error');
        continue;
      }
      assert.ok(!r.ok, bad);
      const [d] = r.diagnostics;
      assert.equal(d?.code, 'E074', bad);
      assert.equal(d?.message, `"${bad}" is not a number: \`>=\` and the like compare with a score such as 5 or 2.5`);
      assert.equal(d?.span.column, 'chain c = accept when score >= '.length + 1, bad);
    }
  });

  test('E073 on a field that is not a number, at the test', () => {
    const r = compile('chain c = accept when helo >= 2');
    assert.ok(!r.ok);
    assert.equal(r.diagnostics[0]?.code, 'E073');
    assert.equal(r.diagnostics[0]?.span.column, 'chain c = accept when '.length + 1);
  });

  test('a row may ask for whole numbers at or above a minimum', () => {
    const count: CompareFit = { read: () => 3, wants: 'a count such as 10', integer: true, min: 0 };
    assert.deepEqual(compareNumber('10', count), { ok: true, value: 10 });
    assert.deepEqual(compareNumber('2.5', count), { ok: false, message: '"2.5" is not a whole number: `>=` and the like compare with a count such as 10' });
    assert.deepEqual(compareNumber('-1', count), { ok: false, message: '"-1" is below 0: `>=` and the like compare with a count such as 10' });
  });

  test('conditionText writes the number as it was written', () => {
    const r = compileOk('chain c = accept when score > +1.50');
    assert.equal(onlyChain(r).steps[0]?.whenText, 'score > +1.50');
    assert.equal(typeof conditionText, 'function');
  });
});
