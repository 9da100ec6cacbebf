/**
 * The chokidar adapter on a real file system, for the set-ups where watching the
 * file's own directory is not enough:
 *  - the rules file is a symlink, and the file it points to is edited, or the link
 *    is switched to another target (release directories, /etc/alternatives style);
 *  - the directory holding the rules file is removed and created again, or does not
 *    exist yet when the filter starts (a deploy that replaces the whole directory).
 * Each must still produce an event for the rules file's own path. Real time is
 * unavoidable: the tests wait for events with a deadline, never for fixed periods.
 *
 * Setting a watch takes chokidar a few file-system round trips, longer under
 * load, and a write made before it is set makes no event. So nothing here waits
 * for a watch "to be surely set": a change is either reported whatever the
 * timing (the watcher reports a directory's files again once its new watch is
 * set — the tests that write inside the event callback pin that down), or the
 * test waits for `onArmed`, which says the watch is set.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChokidarWatcher, type ChokidarWatcherOptions } from '../../../src/reload/chokidar-watcher.js';
import type { Watcher, WatchEvent } from '../../../src/reload/watcher.js';
import { waitFor } from '../../e2e/harness/wait.js';

const TIMEOUT_MS = 8000;

describe('chokidar watcher: symlinks and directories that come and go', () => {
  let base = '';
  let watcher: Watcher | null = null;
  let events: WatchEvent[] = [];
  /** Directories watched anew (onArmed), in order. */
  let armed: string[] = [];
  /** Runs inside the watcher's event callback, before the watcher acts on the event. */
  let onEventHook: ((event: WatchEvent) => void) | null = null;

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'filter-rules-links-'));
    events = [];
    armed = [];
    onEventHook = null;
  });
  afterEach(async () => {
    await watcher?.close();
    watcher = null;
    rmSync(base, { recursive: true, force: true });
  });

  /** Starts watching `paths`; resolves when chokidar has scanned. */
  async function watchPaths(paths: readonly string[], extra: ChokidarWatcherOptions = {}): Promise<Watcher> {
    await new Promise<void>((ready) => {
      watcher = createChokidarWatcher(
        paths,
        (e) => {
          events.push(e);
          onEventHook?.(e);
        },
        { onReady: ready, onArmed: (d) => armed.push(d), onError: (e) => assert.fail(e), ...extra },
      );
    });
    assert.ok(watcher !== null);
    return watcher;
  }

  /** Waits until `dir` is watched anew, counting only arms after the first `from`. */
  async function armedAgain(dir: string, from: number): Promise<void> {
    await waitFor(() => armed.slice(from).includes(dir), {
      what: `a new watch on ${dir}`,
      timeoutMs: TIMEOUT_MS,
      intervalMs: 10,
      explain: () => `armed: ${JSON.stringify(armed)}; events: ${JSON.stringify(events.slice(-5))}`,
    });
  }

  /** Runs `change`, then waits for an event naming `path`. */
  async function expectEvent(path: string, what: string, change: () => void): Promise<void> {
    const from = events.length;
    change();
    await waitFor(() => events.slice(from).some((e) => e.path === path), {
      what: `an event for ${path} after: ${what}`,
      timeoutMs: TIMEOUT_MS,
      intervalMs: 10,
      explain: () => `events: ${JSON.stringify(events.slice(from))}; armed: ${JSON.stringify(armed)}`,
    });
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
    const from = armed.length;
    await expectEvent(file, 'directory and file created again', () => {
      mkdirSync(dir);
      writeFileSync(file, 'v2\n');
    });
    await expectEvent(file, 'edit in place in the new directory', () => writeFileSync(file, 'v3\n'));
    // And later edits, once the new watch is set, by the watch itself.
    await armedAgain(dir, from);
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
    await armedAgain(dir, 0);
    await expectEvent(file, 'a later edit', () => writeFileSync(file, 'v3\n'));
  });

  test('the rules directory moved away and a new one put in its place', async () => {
    const dir = join(base, 'etc');
    const file = join(dir, 'rules.conf');
    mkdirSync(dir);
    writeFileSync(file, 'v1\n');
    await watchPaths([file]);
    await expectEvent(file, 'mv etc etc.old', () => renameSync(dir, `${dir}.old`));
    const from = armed.length;
    await expectEvent(file, 'mv etc.new etc', () => {
      mkdirSync(`${dir}.new`);
      writeFileSync(join(`${dir}.new`, 'rules.conf'), 'v2\n');
      renameSync(`${dir}.new`, dir);
    });
    await expectEvent(file, 'edit in place in the new directory', () => writeFileSync(file, 'v3\n'));
    // And later edits, once the new watch is set, by the watch itself.
    await armedAgain(dir, from);
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
    await armedAgain(dir, 0);
    await expectEvent(file, 'a later edit', () => writeFileSync(file, 'z\n'));
  });

  // The next tests make the change at the worst moment, deterministically: inside
  // the event callback, before the watcher has even started setting the new
  // watch. Whatever the load, such a write can only be seen by reading the file
  // after the watch is set.

  test('the new target edited the moment the link switch is reported: still an event', async () => {
    for (const v of ['r1', 'r2']) {
      mkdirSync(join(base, 'releases', v), { recursive: true });
      writeFileSync(join(base, 'releases', v, 'rules.conf'), `${v}\n`);
    }
    mkdirSync(join(base, 'etc'));
    const link = join(base, 'etc', 'rules.conf');
    symlinkSync(join(base, 'releases', 'r1', 'rules.conf'), link);
    await watchPaths([link]);
    let afterEdit = -1;
    onEventHook = () => {
      onEventHook = null;
      writeFileSync(join(base, 'releases', 'r2', 'rules.conf'), 'r2 edited\n');
      afterEdit = events.length;
    };
    await expectEvent(link, 'link switched', () => {
      symlinkSync(join(base, 'releases', 'r2', 'rules.conf'), `${link}.new`);
      renameSync(`${link}.new`, link);
    });
    await waitFor(() => afterEdit >= 0 && events.slice(afterEdit).some((e) => e.path === link), {
      what: 'an event for the edit made before the new target was watched',
      timeoutMs: TIMEOUT_MS,
      intervalMs: 10,
      explain: () => `events: ${JSON.stringify(events)}; armed: ${JSON.stringify(armed)}`,
    });
    await armedAgain(join(base, 'releases', 'r2'), 0);
    await expectEvent(link, 'the new target edited again', () => writeFileSync(join(base, 'releases', 'r2', 'rules.conf'), 'r2 v3\n'));
  });

  test('setPaths naming a file in a directory not watched yet, and the file written at once: an event', async () => {
    mkdirSync(join(base, 'etc'));
    mkdirSync(join(base, 'lists'));
    const rules = join(base, 'etc', 'rules.conf');
    const list = join(base, 'lists', 'blocked.list');
    writeFileSync(rules, 'v1\n');
    writeFileSync(list, 'a\n');
    const w = await watchPaths([rules]);
    // What the reloader does: it read the list, compiled, applied, then asks for
    // the list to be watched; an edit landing meanwhile must not be lost.
    await expectEvent(list, 'setPaths, then an edit in the same tick', () => {
      w.setPaths([rules, list]);
      writeFileSync(list, 'a\nb\n');
    });
    await armedAgain(join(base, 'lists'), 0);
    await expectEvent(list, 'a later edit', () => writeFileSync(list, 'a\nb\nc\n'));
  });

  test('a directory replaced by one the identity check cannot tell apart: the old watch hearing its directory go re-arms it', async () => {
    // Where birth times are coarse (a clock tick) or not kept, `rm -rf; mkdir`
    // can give the same inode and birth time. Here the identity never changes
    // at all, so only the removed directory's own event can say it was replaced.
    const sameIdentity = (path: string): string | null => {
      try {
        return statSync(path).isDirectory() ? 'a directory' : null;
      } catch {
        return null;
      }
    };
    const dir = join(base, 'etc');
    const file = join(dir, 'rules.conf');
    mkdirSync(dir);
    writeFileSync(file, 'v1\n');
    await watchPaths([file], { dirIdentity: sameIdentity });
    await expectEvent(file, 'rm -rf, mkdir, write in one go', () => {
      rmSync(dir, { recursive: true });
      mkdirSync(dir);
      writeFileSync(file, 'v2\n');
    });
    await armedAgain(dir, 0);
    await expectEvent(file, 'a later edit', () => writeFileSync(file, 'v3\n'));
    await expectEvent(file, 'and another', () => writeFileSync(file, 'v4\n'));
  });
});
