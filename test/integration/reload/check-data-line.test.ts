/**
 * `filter-rules check` says which steps need the message lines (data-line): smtpd
 * takes that registration only when it starts the filter, so such a step added by a
 * hot reload needs an smtpd restart (the reload itself logs W008 and says so). The
 * note is information, not a warning: the file stays valid, exit status 0.
 *
 * Runs the built CLI as a user would; no smtpd needed.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FILTER_MAIN } from './smtpd-sim.js';

function check(file: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [FILTER_MAIN, 'check', ...args, file], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('filter-rules check: steps that need data-line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'filter-rules-check-dataline-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, lines: readonly string[]): string => {
    const file = join(dir, name);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };

  test('each such step is named with its place and chain, and the restart rule is spelt out', () => {
    const file = write('headers.rules', [
      'chain inbound =',
      '    pause 1s',
      '    then postgrey unix:/run/postgrey/postgrey.sock',
      'chain submission =',
      '    greylist delay 1m store "sqlite:/var/lib/filter-rules/g.db" header',
    ]);
    const r = check(file);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /headers\.rules: valid\n/);
    assert.doesNotMatch(r.out, /warning/);
    assert.match(r.out, /^note: 2 steps need the message lines \(smtpd's data-line phase\), to add headers:$/m);
    assert.ok(r.out.includes(`  ${file}:3:10: postgrey at rcpt-to (chain "inbound")\n`), r.out);
    assert.ok(r.out.includes(`  ${file}:5:5: greylist at rcpt-to (chain "submission")\n`), r.out);
    assert.match(r.out, /hot reload cannot ask later/);
    assert.match(r.out, /until smtpd is restarted\.\n$/);
  });

  test('with --chain, steps of the other chains still count: the filter registers for the whole file', () => {
    const file = write('two.rules', ['chain inbound =', '    pause 1s', 'chain submission =', '    policy tcp:127.0.0.1:10023 at mail-from']);
    const r = check(file, '--chain', 'inbound');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^note: 1 step needs the message lines/m);
    assert.ok(r.out.includes(`${file}:4:5: policy at mail-from (chain "submission")`), r.out);
  });

  test('no note when no step adds headers (greylisting without `header` does not)', () => {
    const file = write('plain.rules', [
      'chain inbound =',
      '    pause 1s',
      '    then reject "550 5.7.1 no" when helo ~ /^localhost$/',
      '    then greylist delay 1m store "sqlite:/var/lib/filter-rules/g.db"',
    ]);
    const r = check(file);
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /note:|data-line/, r.out);
  });

  test('invalid rules: only the problems, no note', () => {
    const file = write('bad.rules', ['chain inbound =', '    postgrey unix:/run/postgrey/postgrey.sock', '    then rejct "550 5.7.1 no"']);
    const r = check(file);
    assert.equal(r.code, 1, r.out);
    assert.doesNotMatch(r.out, /note:/, r.out);
  });
});
