/**
 * The file-system edge of hot reload: chokidar watching the *directories* that
 * hold the rules file and its list files, reporting events for those files only.
 *
 * Why directories and not the files themselves: editors and deploy tools replace
 * files in ways that kill a per-file watch. Write-to-temp-then-rename (vim in
 * most set-ups, sed -i, rsync, Ansible/Puppet/Salt) puts a new inode under the name;
 * delete-then-create leaves nothing to watch for a moment. chokidar watching a
 * bare file only re-arms after a deletion when it is the *only* file watched, so
 * with a rules file plus list files a delete+create would go unnoticed. Watching
 * the parent directory sees every name change; chokidar still keeps a per-file
 * watch for in-place writes and re-arms it when the inode number changes (which
 * is not always enough: see the raw-event safety net below).
 *
 * No `awaitWriteFinish`: the reloader's debounce already waits for a quiet
 * period after the *last* event, and every write to a file produces an event,
 * so a half-written file is not read unless the writer pauses longer than the
 * quiet period — and then the content hash and compile catch it and the next
 * write triggers another pass. `awaitWriteFinish` would only add a second,
 * polling delay on top of the debounce.
 */
import { dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Watcher, WatcherFactory, WatchEvent, WatchEventKind } from './watcher.js';

export interface ChokidarWatcherOptions {
  readonly onError?: (error: Error) => void;
  /** Called once, when chokidar has scanned the initial directories. */
  readonly onReady?: () => void;
}

/** The targets of one watcher, grouped by directory (what chokidar is given). */
interface WatchSet {
  readonly files: ReadonlySet<string>;
  readonly dirs: ReadonlySet<string>;
}

function watchSetOf(paths: readonly string[]): WatchSet {
  const files = new Set(paths.map((p) => resolve(p)));
  const dirs = new Set([...files].map((f) => dirname(f)));
  return { files, dirs };
}

function eventKind(event: string): WatchEventKind | null {
  switch (event) {
    case 'add':
      return 'add';
    case 'change':
      return 'change';
    case 'unlink':
      return 'unlink';
    default:
      // addDir / unlinkDir: never one of our files.
      return null;
  }
}

/** The path of the native watcher a raw event came from (a directory of ours, or a file). */
function watchedPathOf(details: unknown): string | null {
  if (typeof details !== 'object' || details === null || !('watchedPath' in details)) return null;
  const path = details.watchedPath;
  return typeof path === 'string' ? resolve(path) : null;
}

export function createChokidarWatcher(
  paths: readonly string[],
  onEvent: (event: WatchEvent) => void,
  options: ChokidarWatcherOptions = {},
): Watcher {
  let current = watchSetOf(paths);
  // Everything in a watched directory except our files (and the directories
  // themselves) is ignored, so chokidar sets no per-file watch on the neighbours
  // of /etc/mail/rules. Reads `current` on every call: setPaths takes effect at once.
  const ignored = (path: string): boolean => !current.files.has(path) && !current.dirs.has(path);

  const fsw: FSWatcher = watch([...current.dirs], {
    ignored,
    ignoreInitial: true,
    depth: 0,
    // Do not keep the process alive: the filter exits when smtpd closes stdin.
    persistent: false,
    // Folds unlink+add within 100 ms into one `change`, and ignores editor swap files.
    atomic: true,
    followSymlinks: true,
  });
  fsw.on('all', (event, path) => {
    const abs = resolve(path);
    if (event === 'addDir' && current.dirs.has(abs)) {
      rearmDirectory(abs);
      return;
    }
    const kind = eventKind(event);
    if (kind !== null && current.files.has(abs)) onEvent({ path: abs, kind });
  });
  // Safety net under chokidar's own events. chokidar decides whether a replaced
  // file needs a new per-file watch by comparing inode numbers, and Linux hands
  // the inode of a just-deleted file to the file created next: after
  // delete+create (seen every time on ext4 and tmpfs) chokidar keeps a dead watch
  // and misses every later change. The directory's own watch still sees each
  // name event (and, on Linux, writes to its entries), so any raw event naming
  // one of our files counts as a change. Platforms whose directory events carry
  // no name (kqueue) count it for every file of that directory. Duplicates cost
  // nothing: the reloader debounces and compares content hashes.
  fsw.on('raw', (_event, name, details) => {
    const dir = watchedPathOf(details);
    if (dir === null || !current.dirs.has(dir)) return;
    if (typeof name === 'string' && name !== '') {
      const abs = resolve(dir, name);
      if (current.files.has(abs)) onEvent({ path: abs, kind: 'change' });
      return;
    }
    for (const file of current.files) if (dirname(file) === dir) onEvent({ path: file, kind: 'change' });
  });
  fsw.on('error', (error) => {
    options.onError?.(error instanceof Error ? error : new Error(String(error)));
  });
  if (options.onReady) fsw.once('ready', options.onReady);

  // A directory of ours appeared (it did not exist when watched, or was removed
  // and re-created). chokidar found it through its parent, one level too deep
  // for `depth: 0`, so it has no watch of its own: add it again as a root. Files
  // created in it before the new watch is armed produced no event, so report
  // every target in it; the reloader's content hash drops the ones that did not change.
  function rearmDirectory(dir: string): void {
    const files = [...current.files].filter((f) => dirname(f) === dir);
    fsw.add([dir, ...files]);
    for (const path of files) onEvent({ path, kind: 'add' });
  }

  let closed = false;
  return {
    setPaths(next: readonly string[]): void {
      if (closed) return;
      const prev = current;
      current = watchSetOf(next);
      const dirsAdded = [...current.dirs].filter((d) => !prev.dirs.has(d));
      const dirsRemoved = [...prev.dirs].filter((d) => !current.dirs.has(d));
      // Files are named explicitly too: a new file in a directory already watched
      // was ignored at scan time and has no per-file watch (in-place writes would
      // be missed), and `add` lifts the ignore that `unwatch` put on a file dropped earlier.
      const filesAdded = [...current.files].filter((f) => !prev.files.has(f));
      const filesRemoved = [...prev.files].filter((f) => !current.files.has(f));
      if (filesRemoved.length > 0 || dirsRemoved.length > 0) fsw.unwatch([...filesRemoved, ...dirsRemoved]);
      if (dirsAdded.length > 0 || filesAdded.length > 0) fsw.add([...dirsAdded, ...filesAdded]);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await fsw.close();
    },
  };
}

/** createChokidarWatcher as a WatcherFactory for startReloader. */
export const chokidarWatcherFactory: WatcherFactory = (paths, handlers) =>
  createChokidarWatcher(paths, (event) => handlers.onEvent(event), { onError: (error) => handlers.onError(error) });
