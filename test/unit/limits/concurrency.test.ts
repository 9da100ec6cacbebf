import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admit, release, type Member } from '../../../src/limits/concurrency.js';

const spec = { max: 2, orphanAfterMs: 1000 };

test('at most max sessions at once; a release frees a place; never below zero; orphans expire', () => {
  let m: Member[] = [];
  const step = (id: string, now: number) => {
    const r = admit(spec, m, id, now);
    m = r.members;
    return r.admission;
  };
  assert.deepEqual(step('a', 0), { allowed: true, count: 1 });
  assert.deepEqual(step('b', 0), { allowed: true, count: 2 });
  assert.deepEqual(step('c', 0), { allowed: false, count: 2 });
  m = release(m, 'a', 10);
  m = release(m, 'a', 10);
  m = release(m, 'zz', 10);
  assert.equal(m.length, 1);
  assert.deepEqual(step('c', 10), { allowed: true, count: 2 });
  // b and c never released: at 1000 b is an orphan and forgotten
  assert.deepEqual(step('d', 1000), { allowed: true, count: 2 });
  assert.deepEqual(step('d', 1001), { allowed: true, count: 2 }, 'the same session again renews, not doubles');
});
