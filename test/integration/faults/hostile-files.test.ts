/**
 * Hostile or broken files (issue 10, items 6–8), through the real filter
 * process (`node dist/src/cli/main.js RULES`) and its real file watcher:
 *
 *  - a list file replaced by a FIFO: the reload is refused with a located
 *    error (E060) instead of blocking forever; SIGHUP is refused the same way
 *    (nothing is wedged); once a regular file is back, a save reloads it;
 *  - a FIFO as a list at startup: the filter exits 1 at once with the located
 *    error, instead of hanging before its registration;
 *  - /dev/zero and a 1 GiB sparse file as the list: refused (E060, E061), and
 *    the filter's memory stays low (VmHWM far below the ~600 MB they cost);
 *  - a list file with a secret-looking line that does not parse: the line is
 *    not in the log (reload), in stderr (startup) or in `check`'s output;
 *  - a 1,000,000-line list reloaded: requests are answered while it compiles
 *    (answers read between the reload's "compiling" and "reloaded" log lines).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliFilter, waitFor } from './live.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const BLOCKED = 'reject|550 5.7.1 listed';
const RULES_TEXT = 'list blocked = file "blocked.list"\nchain main = reject "550 5.7.1 listed" when mail-from in blocked at rcpt-to\n';

function workDir(): { dir: string; rules: string; list: string } {
  const dir = mkdtempSync(join(tmpdir(), 'filter-rules-hostile-'));
  const rules = join(dir, 'antispam.rules');
  const list = join(dir, 'blocked.list');
  writeFileSync(rules, RULES_TEXT);
  writeFileSync(list, 'spam.example\n');
  return { dir, rules, list };
}

/**
 * A filter on `w`'s rules, started before the describe block's tests (after `opts.before`,
 * with `opts.args` ahead of the rules file) and handed to `use`; after them it is killed
 * and the work directory removed.
 */
function runFilterAround(
  w: { dir: string; rules: string },
  use: (filter: CliFilter) => void,
  opts: { args?: readonly string[]; before?: () => void } = {},
): void {
  let filter: CliFilter | undefined;
  before(async () => {
    opts.before?.();
    filter = await CliFilter.start([process.execPath, MAIN, ...(opts.args ?? []), w.rules]);
    use(filter);
  });
  after(() => {
    filter?.kill();
    rmSync(w.dir, { recursive: true, force: true });
  });
}

/** Replace `path` by a FIFO (no writer ever comes). */
function fifoAt(path: string): void {
  rmSync(path, { force: true });
  execFileSync('mkfifo', [path]);
}

/** A save as editors do it: a new file renamed over the old name (a FIFO included). */
function save(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

const logged = (filter: CliFilter, from: number, re: RegExp): number => filter.logs().slice(from).filter((l) => re.test(String(l.msg))).length;

describe('a list file replaced by a FIFO under the running filter', () => {
  const w = workDir();
  let filter: CliFilter;
  runFilterAround(w, (f) => (filter = f));

  const E060 = /^rules reload failed .*antispam\.rules:1:21: error\[E060\]: list file ".*blocked\.list" cannot be used: it is a FIFO \(named pipe\), not a regular file/;

  test('the reload is refused with the reference located; the running rules stay', async () => {
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@spam.example' })).decision, BLOCKED);
    const from = filter.logs().length;
    fifoAt(w.list);
    await waitFor(() => logged(filter, from, E060) > 0, 15_000, 'the refused reload to be logged');
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@spam.example' })).decision, BLOCKED);
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@good.example' })).decision, 'proceed');
  });

  test('SIGHUP with the FIFO still there: refused again, not stuck', async () => {
    const from = filter.logs().length;
    filter.signal('SIGHUP');
    await waitFor(() => logged(filter, from, E060) > 0, 15_000, 'the SIGHUP reload to be refused too');
  });

  test('a regular file saved in its place: reloaded and in force; SIGHUP reloads too', async () => {
    save(w.list, 'good.example\n');
    await waitFor(async () => (await filter.rcpt('x@example.org', { from: 'a@good.example' })).decision === BLOCKED, 15_000, 'the new list to apply');
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@spam.example' })).decision, 'proceed');
    const from = filter.logs().length;
    filter.signal('SIGHUP');
    await waitFor(() => logged(filter, from, /^rules reloaded \(SIGHUP\)/) > 0, 15_000, 'the SIGHUP reload');
    assert.deepEqual(filter.invalidLines(), []);
    assert.deepEqual(await filter.end(), { code: 0, signal: null });
  });
});

describe('a FIFO as a list file at startup', () => {
  const w = workDir();
  after(() => rmSync(w.dir, { recursive: true, force: true }));

  test('the filter exits 1 with the located error instead of waiting for a writer', () => {
    fifoAt(w.list);
    // The bound only keeps a regression from hanging the suite; the run takes a fraction of it.
    const r = spawnSync(process.execPath, [MAIN, w.rules], { input: '', encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, null, `the filter hung (killed): ${r.stderr}`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /antispam\.rules:1:21: error\[E060\]: list file ".*blocked\.list" cannot be used: it is a FIFO \(named pipe\), not a regular file/);
    assert.match(r.stderr, /not starting/);
    assert.equal(r.stdout, '', 'nothing on the protocol');
  });

  test('`check` says the same and exits 1', () => {
    const r = spawnSync(process.execPath, [MAIN, 'check', w.rules], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /error\[E060\]/);
  });
});

describe('/dev/zero and a 1 GiB sparse file as the list', () => {
  const w = workDir();
  let filter: CliFilter;
  runFilterAround(w, (f) => (filter = f));

  test('a symlink to /dev/zero: refused as a character device (E060)', async () => {
    const from = filter.logs().length;
    unlinkSync(w.list);
    symlinkSync('/dev/zero', w.list);
    filter.signal('SIGHUP');
    await waitFor(() => logged(filter, from, /antispam\.rules:1:21: error\[E060\]: .*it is a character device/) > 0, 15_000, 'the refusal');
  });

  test('a 1 GiB sparse file: refused from its size (E061) with the limit', async () => {
    const from = filter.logs().length;
    const sparse = join(w.dir, 'sparse');
    writeFileSync(sparse, '');
    truncateSync(sparse, 1024 ** 3);
    renameSync(sparse, w.list);
    filter.signal('SIGHUP');
    await waitFor(() => logged(filter, from, /antispam\.rules:1:21: error\[E061\]: list file ".*blocked\.list" is too large: it is 1 GiB; the limit is 64 MiB/) > 0, 15_000, 'the refusal');
  });

  test('the filter never held much memory, and still runs the old rules', async () => {
    const { hwmKb, rssKb } = filter.memory();
    // Reading either used to take the filter to about 600 MB, for good.
    assert.ok(hwmKb < 200 * 1024, `VmHWM ${hwmKb} kB`);
    assert.ok(rssKb < 200 * 1024, `VmRSS ${rssKb} kB`);
    assert.equal((await filter.rcpt('x@example.org', { from: 'a@spam.example' })).decision, BLOCKED);
    assert.deepEqual(await filter.end(), { code: 0, signal: null });
  });
});

describe('a list file line that does not parse is never shown', () => {
  const SECRET = 'relay.example.com:s3cr3t-P4ssw0rd!';
  const w = workDir();
  let filter: CliFilter;
  runFilterAround(w, (f) => (filter = f));

  test('reload: located, the shape instead of the text, nothing of the secret in the log', async () => {
    const from = filter.logs().length;
    save(w.list, `spam.example\n${SECRET}\n`);
    await waitFor(() => logged(filter, from, /^rules reload failed .*blocked\.list:2:1: error\[E014\]: malformed list item "xxxxx\.xxxxxxx\.xxx:xxxxxx…" \(34 characters\)/) > 0, 15_000, 'the refused reload');
    assert.ok(!filter.stderrText().includes('s3cr3t'), 'the secret reached the log');
    assert.ok(!filter.stderrText().includes('P4ssw0rd'), 'the secret reached the log');
  });

  test('`check` and a start with the file: the same, no secret', () => {
    const check = spawnSync(process.execPath, [MAIN, 'check', w.rules], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(check.status, 1);
    assert.match(check.stdout, /blocked\.list:2:1: error\[E014\]: malformed list item/);
    assert.ok(!check.stdout.includes('s3cr3t') && !check.stderr.includes('s3cr3t'), check.stdout);
    const start = spawnSync(process.execPath, [MAIN, w.rules], { input: '', encoding: 'utf8', timeout: 60_000 });
    assert.equal(start.status, 1);
    assert.match(start.stderr, /blocked\.list:2:1: error\[E014\]/);
    assert.ok(!start.stderr.includes('s3cr3t'), start.stderr);
  });
});

describe('a 1,000,000-line list reloaded under traffic', () => {
  const w = workDir();
  let filter: CliFilter;
  const bigList = (variant: number): string => {
    const lines = new Array<string>(1_000_000);
    for (let i = 0; i < lines.length; i++) lines[i] = `user${i}.${variant}@host${i % 5000}.example`;
    return `${lines.join('\n')}\n`;
  };
  runFilterAround(w, (f) => (filter = f), { args: ['--log-level', 'debug'], before: () => writeFileSync(w.list, bigList(0)) });

  test('requests are answered while the list compiles, and the new list applies', async () => {
    assert.equal((await filter.rcpt('x@example.org', { from: 'user5.0@host5.example' })).decision, BLOCKED);
    writeFileSync(join(w.dir, 'next.list'), bigList(1));
    const reloaded = (): boolean => filter.timeline.some((e) => e.kind === 'log' && /^rules reloaded/.test(e.text));
    renameSync(join(w.dir, 'next.list'), w.list);
    filter.signal('SIGHUP');
    // One session at a time until the reload is done: each is answered only if
    // the filter's event loop gets a turn.
    while (!reloaded()) await filter.rcpt('x@example.org', { from: 'someone@else.example' });
    const at = (re: RegExp): number => filter.timeline.findIndex((e) => e.kind === 'log' && re.test(e.text));
    const compiling = at(/^reload: files read, compiling/);
    const done = at(/^rules reloaded/);
    assert.ok(compiling >= 0 && done > compiling, 'the reload logged its compile and its end');
    const answeredMeanwhile = filter.timeline.slice(compiling, done).filter((e) => e.kind === 'out' && e.text.startsWith('filter-result|')).length;
    // A compile that held the event loop could answer at most the one request in flight.
    assert.ok(answeredMeanwhile >= 3, `${answeredMeanwhile} answers while the list compiled`);
    assert.equal((await filter.rcpt('x@example.org', { from: 'user5.1@host5.example' })).decision, BLOCKED);
    assert.equal((await filter.rcpt('x@example.org', { from: 'user5.0@host5.example' })).decision, 'proceed');
    assert.deepEqual(filter.invalidLines(), []);
  });
});
