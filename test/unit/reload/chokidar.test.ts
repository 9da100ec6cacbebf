/**
 * The chokidar adapter against the real file system, with the real debounce:
 * every way editors and deploy tools save a file must lead to exactly one
 * reload with the complete new content. Real time is unavoidable here; the test
 * waits for conditions (polling, generous timeouts) instead of sleeping for
 * fixed periods, and "exactly one" is checked after the reloader has been quiet
 * for a while.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompiledChain } from '../../../src/model/plan.js';
import { selectChain } from '../../../src/model/select-chain.js';
import { systemClock } from '../../../src/support/clock.js';
import { RecordingLogger } from '../../../src/support/log.js';
import { createChokidarWatcher } from '../../../src/reload/chokidar-watcher.js';
import { startReloader, type Reloader } from '../../../src/reload/reloader.js';
import type { WatcherFactory } from '../../../src/reload/watcher.js';
import { compileStandIn, stubCompiler } from './helpers.js';

const QUIET_MS = 150;
/** How long the reloader must stay quiet before "exactly one" is judged. */
const SETTLE_MS = 700;
const TIMEOUT_MS = 8000;

async function waitFor(what: string, condition: () => boolean, timeoutMs = TIMEOUT_MS): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('chokidar watcher + reloader on a real file system', () => {
  let dir = '';
  let rulesFile = '';
  let listFile = '';
  let reloader: Reloader;
  const log = new RecordingLogger();
  const applied: CompiledChain[] = [];
  let lastActivity = Date.now();
  let version = 0;

  const content = (n: number): string => `list lists/trusted.list\nchain main: pause ${n}; reject 550 no when helo ~ x\n`;
  const appliedPause = (): unknown => applied.at(-1)?.steps[0]?.action;
  const outcomes = (): Record<string, number> => ({ ...reloader.stats.outcomes });

  /** Wait for one more apply with the expected content, then for quiet, and check nothing else happened. */
  async function expectOneReload(change: () => void | Promise<void>, expectedPause: number): Promise<void> {
    const before = outcomes();
    await change();
    await waitFor(`an apply with pause ${expectedPause}`, () => reloader.stats.outcomes.applied > before['applied']!);
    await waitFor(
      'the reloader to settle',
      () => reloader.stats.state === 'idle' && Date.now() - lastActivity >= SETTLE_MS,
      TIMEOUT_MS + SETTLE_MS,
    );
    const now = outcomes();
    assert.equal(now['applied'], before['applied']! + 1, `exactly one reload: ${JSON.stringify({ before, now })}`);
    assert.equal(now['rejected'], 0, 'never read a half-written file');
    assert.equal(now['failed'], 0);
    assert.deepEqual(appliedPause(), { kind: 'pause', durationMs: expectedPause }, 'the complete new content');
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-reload-'));
    mkdirSync(join(dir, 'lists'));
    rulesFile = join(dir, 'rules.conf');
    listFile = join(dir, 'lists', 'trusted.list');
    writeFileSync(join(dir, 'unrelated.txt'), 'x');
    writeFileSync(listFile, '192.0.2.1\n');
    writeFileSync(rulesFile, content(version));
    const initial = compileStandIn(rulesFile, (p) => (p === rulesFile ? content(version) : '192.0.2.1\n'), true);
    assert.ok(initial.ok);

    let ready: () => void = () => {};
    const watcherReady = new Promise<void>((r) => {
      ready = r;
    });
    const factory: WatcherFactory = (paths, handlers) =>
      createChokidarWatcher(
        paths,
        (event) => {
          lastActivity = Date.now();
          handlers.onEvent(event);
        },
        { onError: (e) => handlers.onError(e), onReady: ready },
      );
    const compiler = stubCompiler();
    reloader = startReloader({
      rulesFile,
      initialRules: initial.rules,
      compile: (path, options) => {
        lastActivity = Date.now();
        return compiler.compile(path, options);
      },
      apply: (_rules, chain) => {
        lastActivity = Date.now();
        applied.push(chain);
      },
      selectChain: (rules) => selectChain(rules, null),
      clock: systemClock,
      log,
      watcherFactory: factory,
      dataLineRegistered: true,
      quietMs: QUIET_MS,
    });
    await watcherReady;
    await reloader.whenIdle();
    assert.deepEqual(reloader.stats.watching, [listFile, rulesFile].sort());
  });

  after(async () => {
    await reloader.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('write in place', async () => {
    const v = ++version;
    await expectOneReload(() => writeFileSync(rulesFile, content(v)), v);
  });

  test('write in place in chunks (an editor flushing slowly)', async () => {
    const v = ++version;
    await expectOneReload(async () => {
      const fd = openSync(rulesFile, 'w');
      const text = content(v);
      writeSync(fd, text.slice(0, 20));
      await new Promise((r) => setTimeout(r, 40)); // well inside the quiet period
      writeSync(fd, text.slice(20));
      closeSync(fd);
    }, v);
  });

  test('write a temp file, rename it over (vim, sed -i, config management)', async () => {
    const v = ++version;
    await expectOneReload(() => {
      writeFileSync(`${rulesFile}.tmp`, content(v));
      renameSync(`${rulesFile}.tmp`, rulesFile);
    }, v);
  });

  test('delete, then create', async () => {
    const v = ++version;
    await expectOneReload(() => {
      unlinkSync(rulesFile);
      writeFileSync(rulesFile, content(v));
    }, v);
  });

  test('rsync: write a dotfile, rename it over', async () => {
    const v = ++version;
    await expectOneReload(() => {
      const temp = join(dir, '.rules.conf.Xy9Q2b');
      writeFileSync(temp, content(v));
      renameSync(temp, rulesFile);
    }, v);
  });

  test('vim with backup: rename away, write new, delete backup', async () => {
    const v = ++version;
    await expectOneReload(() => {
      renameSync(rulesFile, `${rulesFile}~`);
      writeFileSync(rulesFile, content(v));
      unlinkSync(`${rulesFile}~`);
    }, v);
  });

  test('delete, then create after longer than the quiet period: waits, then one reload', async () => {
    const v = ++version;
    const before = outcomes();
    unlinkSync(rulesFile);
    await waitFor('the missing-file pass', () => reloader.stats.outcomes.missing === before['missing']! + 1);
    writeFileSync(rulesFile, content(v));
    await waitFor('the apply', () => reloader.stats.outcomes.applied === before['applied']! + 1);
    await waitFor('the reloader to settle', () => reloader.stats.state === 'idle' && Date.now() - lastActivity >= SETTLE_MS);
    const now = outcomes();
    assert.equal(now['applied'], before['applied']! + 1);
    assert.equal(now['missing'], before['missing']! + 1);
    assert.equal(now['rejected'], 0);
    assert.deepEqual(appliedPause(), { kind: 'pause', durationMs: v });
  });

  test('a list file in another directory, replaced by rename', async () => {
    const before = reloader.stats.outcomes.applied;
    writeFileSync(`${listFile}.new`, '192.0.2.1\n198.51.100.7\n');
    renameSync(`${listFile}.new`, listFile);
    await waitFor('the list reload', () => reloader.stats.outcomes.applied === before + 1);
    await waitFor('the reloader to settle', () => reloader.stats.state === 'idle' && Date.now() - lastActivity >= SETTLE_MS);
    assert.equal(reloader.stats.outcomes.applied, before + 1);
    const record = log.records.filter((r) => r.fields['outcome'] === 'applied').at(-1);
    assert.deepEqual(record?.fields['filesChanged'], [listFile]);
  });

  test('rewriting the same content and touching other files reload nothing', async () => {
    const before = outcomes();
    writeFileSync(rulesFile, content(version));
    writeFileSync(join(dir, 'unrelated.txt'), 'y');
    writeFileSync(join(dir, 'lists', 'other.list'), 'z');
    lastActivity = Date.now();
    await waitFor('the reloader to settle', () => reloader.stats.state === 'idle' && Date.now() - lastActivity >= SETTLE_MS);
    assert.equal(reloader.stats.outcomes.applied, before['applied']);
    assert.equal(reloader.stats.outcomes.rejected, 0);
  });
});
