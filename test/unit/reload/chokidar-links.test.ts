/**
 * The chokidar adapter on a real file system, for the set-ups where watching the
 * file's own directory is not enough:
 *  - the rules file is a symlink, and the file it points to is edited, or the link
 *    is switched to another target (release directories, /etc/alternatives style);
 *  - the directory holding the rules file is removed and created again, or does not
 *    exist yet when the filter starts (a deploy that replaces the whole directory).
 * Each must still produce an event for the rules file's own path. Real time is
 * unavoidable: the tests wait for events with a deadline, never for fixed periods.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChokidarWatcher } from '../../../src/reload/chokidar-watcher.js';
import type { Watcher, WatchEvent } from '../../../src/reload/watcher.js';

const TIMEOUT_MS = 8000;

describe('chokidar watcher: symlinks and directories that come and go', () => {
  let base = '';
  let watcher: Watcher | null = null;
  let events: WatchEvent[] = [];

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'filter-rules-links-'));
    events = [];
  });
  afterEach(async () => {
    await watcher?.close();
    watcher = null;
    rmSync(base, { recursive: true, force: true });
  });

  /** Starts watching `paths`; resolves when chokidar has scanned. */
  async function watchPaths(paths: readonly string[]): Promise<void> {
    await new Promise<void>((ready) => {
      watcher = createChokidarWatcher(paths, (e) => events.push(e), { onReady: ready, onError: (e) => assert.fail(e) });
    });
  }

  /** Waits until no event arrived for `quietMs` (a directory watched anew reports its files once more). */
  async function settle(quietMs = 700): Promise<void> {
    let seen = events.length;
    let since = Date.now();
    const deadline = since + TIMEOUT_MS;
    while (Date.now() - since < quietMs) {
      if (Date.now() > deadline) assert.fail(`events never stopped: ${JSON.stringify(events.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 20));
      if (events.length !== seen) {
        seen = events.length;
        since = Date.now();
      }
    }
  }

  /** Runs `change`, then waits for an event naming `path`. */
  async function expectEvent(path: string, what: string, change: () => void): Promise<void> {
    const from = events.length;
    change();
    const deadline = Date.now() + TIMEOUT_MS;
    while (!events.slice(from).some((e) => e.path === path)) {
      if (Date.now() > deadline) assert.fail(`no event for ${path} after: ${what}; events: ${JSON.stringify(events.slice(from))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  test('a symlinked rules file: editing the file it points to, in another directory, is an event for the link', async () => {
    mkdirSync(join(base, 'etc'));
    mkdirSync(join(base, 'srv'));
    const target = join(base, 'srv', 'rules.conf');
    const link = join(base, 'etc', 'rules.conf');
    writeFileSync(target, 'v1\n');
    symlinkSync(target, link);
    await watchPaths([link]);
    await expectEvent(link, 'target written in place', () => writeFileSync(target, 'v2\n'));
    await expectEvent(link, 'target replaced by rename', () => {
      writeFileSync(`${target}.tmp`, 'v3\n');
      renameSync(`${target}.tmp`, target);
    });
    await expectEvent(link, 'target written in place after the rename', () => writeFileSync(target, 'v4\n'));
  });

  test('a symlink switched to another release: an event, and the new target is watched from then on', async () => {
    for (const v of ['r1', 'r2']) {
      mkdirSync(join(base, 'releases', v), { recursive: true });
      writeFileSync(join(base, 'releases', v, 'rules.conf'), `${v}\n`);
    }
    mkdirSync(join(base, 'etc'));
    const link = join(base, 'etc', 'rules.conf');
    symlinkSync(join(base, 'releases', 'r1', 'rules.conf'), link);
    await watchPaths([link]);
    await expectEvent(link, 'link switched (ln -s + rename)', () => {
      symlinkSync(join(base, 'releases', 'r2', 'rules.conf'), `${link}.new`);
      renameSync(`${link}.new`, link);
    });
    await expectEvent(link, 'the new target edited in place', () => writeFileSync(join(base, 'releases', 'r2', 'rules.conf'), 'r2 edited\n'));
  });

  test('the rules directory removed and created again: the new file is seen, and so are later edits', async () => {
    const dir = join(base, 'etc');
    const file = join(dir, 'rules.conf');
    mkdirSync(dir);
    writeFileSync(file, 'v1\n');
    await watchPaths([file]);
    await expectEvent(file, 'rm -rf of the directory', () => rmSync(dir, { recursive: true }));
    await expectEvent(file, 'directory and file created again', () => {
      mkdirSync(dir);
      writeFileSync(file, 'v2\n');
    });
    await expectEvent(file, 'edit in place in the new directory', () => writeFileSync(file, 'v3\n'));
    // And later edits, once the new watch is surely set, by the watch itself.
    await settle();
    await expectEvent(file, 'a later edit', () => writeFileSync(file, 'v4\n'));
  });

  test('the rules directory removed and created again at once (Linux reuses the inode)', async () => {
    const dir = join(base, 'etc');
    const file = join(dir, 'rules.conf');
    mkdirSync(dir);
    writeFileSync(file, 'v1\n');
    await watchPaths([file]);
    await expectEvent(file, 'rm -rf, mkdir, write in one go', () => {
      rmSync(dir, { recursive: true });
      mkdirSync(dir);
      writeFileSync(file, 'v2\n');
    });
    await settle();
    await expectEvent(file, 'a later edit', () => writeFileSync(file, 'v3\n'));
  });

  test('the rules directory moved away and a new one put in its place', async () => {
    const dir = join(base, 'etc');
    const file = join(dir, 'rules.conf');
    mkdirSync(dir);
    writeFileSync(file, 'v1\n');
    await watchPaths([file]);
    await expectEvent(file, 'mv etc etc.old', () => renameSync(dir, `${dir}.old`));
    await expectEvent(file, 'mv etc.new etc', () => {
      mkdirSync(`${dir}.new`);
      writeFileSync(join(`${dir}.new`, 'rules.conf'), 'v2\n');
      renameSync(`${dir}.new`, dir);
    });
    await expectEvent(file, 'edit in place in the new directory', () => writeFileSync(file, 'v3\n'));
    // And later edits, once the new watch is surely set, by the watch itself.
    await settle();
    await expectEvent(file, 'a later edit', () => writeFileSync(file, 'v4\n'));
  });

  test('a directory that does not exist yet when watching starts', async () => {
    const dir = join(base, 'later');
    const file = join(dir, 'blocked.list');
    await watchPaths([file]);
    await expectEvent(file, 'directory and file created', () => {
      mkdirSync(dir);
      writeFileSync(file, 'x\n');
    });
    await expectEvent(file, 'edit in place', () => writeFileSync(file, 'y\n'));
    await settle();
    await expectEvent(file, 'a later edit', () => writeFileSync(file, 'z\n'));
  });
});
