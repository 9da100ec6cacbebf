import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../helpers.js';

/** Warnings (or errors) of a rules file, as `CODE line:col message`. */
function said(rules: string): string[] {
  const r = compile(rules);
  return (r.ok ? r.warnings : r.diagnostics).map((d) => `${d.code} ${d.span.line}:${d.span.column} ${d.message}`);
}

/** `line:col` of the first `needle` in `rules`, 1-based, as diagnostics count. */
function at(rules: string, needle: string): string {
  const before = rules.slice(0, rules.indexOf(needle)).split('\n');
  return `${before.length}:${(before.at(-1)?.length ?? 0) + 1}`;
}

const NEVER = (field: string) => `\`${field}\` is never known here: no \`spf\` step runs before this one`;
const NO_HELO = '`spf-helo` is never known here: no `spf` step before this one has `check-helo`';

describe('tests of a result no step before them gives (W040, W041)', () => {
  test('spf needs an spf step before it: an earlier phase, or earlier at the same phase', () => {
    assert.deepEqual(said('chain c = spf then reject "550 5.7.23 no" when spf in { fail }'), []);
    assert.deepEqual(said('chain c = spf\n  then greylist when spf in { softfail }'), [], 'at rcpt-to, after the spf at mail-from');
    const after = 'chain c = reject "550 5.7.23 no" when spf in { fail }\n  then spf';
    assert.deepEqual(said(after), [`W040 ${at(after, 'spf in')} ${NEVER('spf')}`]);
    const later = 'chain c = spf at rcpt-to\n  then reject "550 5.7.23 no" when spf in { fail }';
    assert.deepEqual(said(later), [`W040 ${at(later, 'spf in')} ${NEVER('spf')}`], 'the spf runs later');
    const inside = 'chain c = reject "550 5.7.23 no" when not spf in { pass } and mail-from ~ /x/';
    assert.deepEqual(said(inside), [`W040 ${at(inside, 'spf in')} ${NEVER('spf')}`]);
  });

  test('spf-helo needs one with check-helo', () => {
    assert.deepEqual(said('chain c = spf check-helo then reject "550 5.7.23 no" when spf-helo in { fail }'), []);
    const plain = 'chain c = spf then reject "550 5.7.23 no" when spf-helo in { fail }';
    assert.deepEqual(said(plain), [`W041 ${at(plain, 'spf-helo')} ${NO_HELO}`]);
    const none = 'chain c = reject "550 5.7.23 no" when spf-helo in { fail }';
    assert.deepEqual(said(none), [`W040 ${at(none, 'spf-helo')} ${NEVER('spf-helo')}`]);
  });
});
