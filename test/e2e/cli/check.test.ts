/**
 * `filter-rules check RULES-FILE`, run as a user would: the built CLI in a child
 * process. Exit 0 when the file is valid (warnings allowed), 1 when not, and each
 * problem located as FILE:LINE:COL with 1-based numbers. Needs no root and no smtpd.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FILTER_MAIN, PROJECT_ROOT } from '../harness/env.js';

function check(file: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [FILTER_MAIN, 'check', file], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('filter-rules check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'filter-rules-check-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('every shipped rules file is valid', () => {
    const files = readdirSync(join(PROJECT_ROOT, 'rules')).filter((f) => f.endsWith('.rules'));
    assert.ok(files.includes('example-antispam.rules'), `rules/ holds ${files.join(', ')}`);
    for (const f of files) {
      const r = check(join(PROJECT_ROOT, 'rules', f));
      assert.equal(r.code, 0, `${f}:\n${r.out}`);
      assert.doesNotMatch(r.out, /error\[/, f);
    }
  });

  test('an undefined list is an error at its place, with a did-you-mean', () => {
    const file = join(dir, 'bad-list.rules');
    writeFileSync(file, ['list trusted = { 127.0.0.0/8 }', 'chain antispam =', '    accept when src in trustd', '    then pause 3s', ''].join('\n'));
    const r = check(file);
    assert.equal(r.code, 1, r.out);
    // `trustd` starts on line 3, column 24.
    assert.ok(r.out.includes('bad-list.rules:3:24: error['), r.out);
    assert.match(r.out, /did you mean "trusted"/, r.out);
  });

  test('a misspelt step keyword is a syntax error at its place, with a did-you-mean', () => {
    const file = join(dir, 'bad-step.rules');
    writeFileSync(file, ['chain antispam =', '    pause 3s', '    then rejct "550 5.7.1 no"', ''].join('\n'));
    const r = check(file);
    assert.equal(r.code, 1, r.out);
    // `rejct` starts on line 3, column 10.
    assert.ok(r.out.includes('bad-step.rules:3:10: error['), r.out);
    assert.match(r.out, /did you mean "reject"/, r.out);
  });

  test('a missing file is an error naming the file, not a crash', () => {
    const file = join(dir, 'no-such.rules');
    const r = check(file);
    assert.notEqual(r.code, 0, r.out);
    assert.ok(r.out.includes('no-such.rules'), r.out);
    assert.doesNotMatch(r.out, /^\s+at .*\.js:\d+/m, 'a stack trace was printed');
  });
});
