/**
 * A list file the rules read is deleted under the running filter (issue 6):
 * the real filter process, its real file watcher. The reload that follows
 * cannot compile (E013, the file is missing): the running rules stay, with
 * the list as it was loaded; the problem is logged with its place. When the
 * file comes back (with new content), the rules are reloaded with it. A
 * rules file emptied or truncated mid-save is refused the same way.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliFilter, waitFor } from './live.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const BLOCKED = 'reject|550 5.7.1 listed';

describe('a list file deleted under the running filter', () => {
  let dir: string;
  let rules: string;
  let list: string;
  let filter: CliFilter;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-listfile-'));
    rules = join(dir, 'antispam.rules');
    list = join(dir, 'blocked.list');
    writeFileSync(list, 'spam.example\n# comment\nbulk.example\n');
    writeFileSync(rules, 'list blocked = file "blocked.list"\nchain main = reject "550 5.7.1 listed" when mail-from in blocked at rcpt-to\n');
    filter = await CliFilter.start([process.execPath, MAIN, rules]);
  });
  after(async () => {
    filter?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const logged = (from: number, re: RegExp): boolean => filter.logs().slice(from).some((l) => re.test(String(l.msg)));

  test('at start the list applies', async () => {
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@spam.example' })).decision, BLOCKED);
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@good.example' })).decision, 'proceed');
  });

  test('deleted: the reload is refused with the file named; the rules and the loaded list keep working', async () => {
    const before = filter.logs().length;
    unlinkSync(list);
    await waitFor(() => logged(before, /^rules reload failed .*antispam\.rules:1:21: error\[E013\]: cannot read list file ".*blocked\.list": no such file/), 10_000, 'the refused reload to be logged');
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@spam.example' })).decision, BLOCKED);
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@bulk.example' })).decision, BLOCKED);
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@good.example' })).decision, 'proceed');
    assert.ok(filter.running);
  });

  test('back with new content: reloaded, the new list applies', async () => {
    writeFileSync(list, 'good.example\n');
    await waitFor(async () => (await filter.rcpt('x@example.org', { from: 'a@good.example' })).decision === BLOCKED, 10_000, 'the new list to apply');
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@spam.example' })).decision, 'proceed');
  });

  test('the rules file cut short by a half-finished save: refused, running rules kept; completed: applied', async () => {
    const before = filter.logs().length;
    writeFileSync(rules, 'list blocked = file "blocked.list"\nchain main = reject "550 5.7.1 listed" when mail-from in');
    await waitFor(() => logged(before, /^rules reload failed .*antispam\.rules:2:\d+: error\[/), 10_000, 'the refused reload to be logged');
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@good.example' })).decision, BLOCKED);
    writeFileSync(rules, 'list blocked = file "blocked.list"\nchain main = reject "550 5.7.1 listed" when mail-from in blocked at rcpt-to then junk at rcpt-to\n');
    await waitFor(async () => (await filter.rcpt('x@example.org', { from: 'a@other.example' })).decision === 'junk', 10_000, 'the completed file to apply');
    assert.ok(logged(0, /^rules reloaded .*new sessions use chain main/));
  });

  test('no invalid line; exits 0 at EOF', async () => {
    assert.deepEqual(filter.invalidLines(), []);
    assert.deepEqual(await filter.end(), { code: 0, signal: null });
  });
});
