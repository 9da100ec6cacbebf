import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRegex } from '../../../src/support/regex.js';

describe('compileRegex (RE2)', () => {
  test('matches anywhere unless anchored; `i` makes it case-insensitive', () => {
    const r = compileRegex('dsl', '');
    assert.ok(r.ok);
    assert.equal(r.value.test('host.dsl.example'), true);
    assert.equal(r.value.test('host.DSL.example'), false);
    const i = compileRegex('^mail\\.', 'i');
    assert.ok(i.ok);
    assert.equal(i.value.test('MAIL.example'), true);
    assert.equal(i.value.test('xmail.example'), false);
  });

  test('backreferences are refused with an explanation', () => {
    const r = compileRegex('(a)\\1', '');
    assert.ok(!r.ok);
    assert.match(r.error, /backreferences \(\\1\) are not supported/);
  });

  test('lookahead and lookbehind are refused with an explanation', () => {
    for (const p of ['(?=a)b', '(?!a)b', '(?<=a)b', '(?<!a)b']) {
      const r = compileRegex(p, '');
      assert.ok(!r.ok, p);
      assert.match(r.error, /lookaround/, p);
    }
  });

  test('an escaped backslash before a digit is not a backreference', () => {
    const r = compileRegex('\\\\1', '');
    assert.ok(r.ok);
    assert.equal(r.value.test('a\\1'), true);
  });

  test('malformed patterns and unknown flags are errors, not exceptions', () => {
    const bad = compileRegex('[abc', '');
    assert.ok(!bad.ok);
    assert.match(bad.error, /invalid regex/);
    const flag = compileRegex('a', 'g');
    assert.ok(!flag.ok);
    assert.match(flag.error, /flag "g"/);
  });

  test('a catastrophic pattern on a 50k hostile input returns promptly and correctly', () => {
    const r = compileRegex('^(a+)+$', '');
    assert.ok(r.ok);
    const hostile = `${'a'.repeat(50_000)}!`;
    const started = process.hrtime.bigint();
    assert.equal(r.value.test(hostile), false);
    assert.equal(r.value.test('a'.repeat(50_000)), true);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(ms < 1000, `took ${ms} ms`);
  });
});
