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
 * Symlinks: a rules file that is a link (to a file kept elsewhere, a
 * release directory, /etc/alternatives-style) changes when its *target* is
 * edited, and the link's own directory sees nothing of that. So the real path
 * behind each file is watched too (its directory, like any other), an event
 * there counts for the file, and the real paths are resolved again after every
 * event, so swapping the link to another target moves the watch with it.
 *
 * Directories come and go too: a deploy removes the whole directory and writes
 * it again, or moves a new one in place of the old (`mv etc etc.old; mv
 * etc.new etc`). A watch belongs to the directory it was set on, not to its
 * name: once that directory is gone, or replaced, nothing more is heard. So the
 * identity (inode and birth time) of each watched directory is checked twice a
 * second — a few stat calls — and a directory that (re)appeared is watched
 * again, with an event for each of our files in it.
 *
 * No `awaitWriteFinish`: the reloader's debounce already waits for a quiet
 * period after the *last* event, and every write to a file produces an event,
 * so a half-written file is not read unless the writer pauses longer than the
 * quiet period — and then the content hash and compile catch it and the next
 * write triggers another pass. `awaitWriteFinish` would only add a second,
 * polling delay on top of the debounce.
 */
import { realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Watcher, WatcherFactory, WatchEvent, WatchEventKind } from './watcher.js';

export interface ChokidarWatcherOptions {
  readonly onError?: (error: Error) => void;
  /** Called once, when chokidar has scanned the initial directories. */
  readonly onReady?: () => void;
  /** Resolves symlinks; default fs.realpathSync (null on any error). */
  readonly realPath?: RealPath;
}

/** The targets of one watcher, grouped by directory (what chokidar is given). */
interface WatchSet {
  /** Our files, named as the reloader names them. */
  readonly files: ReadonlySet<string>;
  /**
   * Every path whose events count, and the file of ours it stands for: each file
   * itself, and the real file behind it when it is (or lies under) a symlink.
   */
  readonly aliases: ReadonlyMap<string, string>;
  /** The directories of every path in `aliases`: what chokidar watches. */
  readonly dirs: ReadonlySet<string>;
}

/** How often the watched directories are checked for having been removed or replaced. */
const DIR_CHECK_MS = 500;
/** `ready` resolves after this long even if chokidar never says so (the reloader waits for it). */
const READY_LIMIT_MS = 2000;

/**
 * What tells one directory from the next at the same path, or null when there is
 * none: the inode, and the birth time, since Linux hands a just-freed inode to the
 * next directory created (where birth times are not kept they read as 0, or as the
 * change time — then a changed directory merely gets its watch set again).
 */
function identityOf(path: string): string | null {
  try {
    const st = statSync(path);
    return st.isDirectory() ? `${st.ino}:${st.birthtimeMs}` : null;
  } catch {
    return null;
  }
}

/** The real path, or null when there is none yet (missing file, dangling link). */
export type RealPath = (path: string) => string | null;

const realPathOf: RealPath = (path) => {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
};

function watchSetOf(paths: Iterable<string>, realPath: RealPath): WatchSet {
  const files = new Set([...paths].map((p) => resolve(p)));
  const aliases = new Map<string, string>();
  for (const f of files) aliases.set(f, f);
  for (const f of files) {
    const real = realPath(f);
    if (real !== null && !aliases.has(real)) aliases.set(real, f);
  }
  const dirs = new Set([...aliases.keys()].map((p) => dirname(p)));
  return { files, aliases, dirs };
}

function sameKeys<K>(a: ReadonlyMap<K, unknown> | ReadonlySet<K>, b: ReadonlyMap<K, unknown> | ReadonlySet<K>): boolean {
  if (a.size !== b.size) return false;
  for (const k of a.keys()) if (!b.has(k)) return false;
  return true;
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
  const realPath = options.realPath ?? realPathOf;
  let current = watchSetOf(paths, realPath);
  // Everything in a watched directory except our files (and the directories
  // themselves) is ignored, so chokidar sets no per-file watch on the neighbours
  // of /etc/mail/rules. Reads `current` on every call: changes take effect at once.
  const ignored = (path: string): boolean => !current.aliases.has(path) && !current.dirs.has(path);

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

  let closed = false;
  /** The identity each watched directory had when its watch was set; null: it did not exist. */
  const armed = new Map<string, string | null>([...current.dirs].map((d) => [d, identityOf(d)]));
  const dirCheck = setInterval(() => checkDirectories(), DIR_CHECK_MS);
  // Never keeps the process alive (the filter exits when smtpd closes stdin).
  dirCheck.unref();

  /** Report an event on `path` (any alias) as one on the file it stands for. */
  const report = (path: string, kind: WatchEventKind): void => {
    const file = current.aliases.get(path);
    if (file === undefined) return;
    onEvent({ path: file, kind });
    // A link may point elsewhere now, or its target may have been replaced.
    apply(watchSetOf(current.files, realPath));
  };

  fsw.on('all', (event, path) => {
    const abs = resolve(path);
    if (event === 'unlinkDir' && armed.has(abs)) {
      // Gone: whatever appears at this path next is another directory.
      armed.set(abs, null);
      return;
    }
    const kind = eventKind(event);
    if (kind !== null) report(abs, kind);
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
      report(resolve(dir, name), 'change');
      return;
    }
    for (const path of [...current.aliases.keys()]) if (dirname(path) === dir) report(path, 'change');
  });
  fsw.on('error', (error) => {
    options.onError?.(error instanceof Error ? error : new Error(String(error)));
  });
  if (options.onReady) fsw.once('ready', options.onReady);
  const ready = new Promise<void>((resolve) => {
    const limit = setTimeout(resolve, READY_LIMIT_MS);
    limit.unref();
    fsw.once('ready', () => {
      clearTimeout(limit);
      resolve();
    });
  });

  /** Directories watched anew at the last check: their files are reported once more at the next. */
  let rearmed: string[] = [];

  /** Watch again every directory of ours that appeared, or was replaced, since its watch was set. */
  function checkDirectories(): void {
    if (closed) return;
    // chokidar sets a new watch asynchronously: a write between rearmDirectory()
    // and that moment made no event. Reporting the files again half a second
    // later covers it (the reloader compares contents, so this costs nothing).
    for (const dir of rearmed.splice(0)) {
      for (const path of [...current.aliases.keys()]) if (dirname(path) === dir) report(path, 'change');
    }
    for (const [dir, was] of [...armed]) {
      const now = identityOf(dir);
      if (now === was) continue;
      armed.set(dir, now);
      if (now !== null) rearmDirectory(dir);
      // Gone: chokidar reported its files as unlinked; nothing to watch until it is back.
    }
  }

  // A directory of ours (re)appeared: its old watch, if any, died with the old
  // directory. Watch it anew. Files written in it before the new watch is set
  // produced no event, so report every target in it; the reloader's content hash
  // drops the ones that did not change.
  function rearmDirectory(dir: string): void {
    const inside = [...current.aliases.keys()].filter((p) => dirname(p) === dir);
    fsw.unwatch([dir, ...inside]);
    fsw.add([dir, ...inside]);
    rearmed.push(dir);
    for (const path of inside) report(path, 'add');
  }

  /** Make `next` the watch set: watch what is new, drop what is gone. */
  function apply(next: WatchSet): void {
    if (closed) return;
    const prev = current;
    if (sameKeys(prev.aliases, next.aliases) && [...next.aliases].every(([p, f]) => prev.aliases.get(p) === f)) return;
    current = next;
    const dirsAdded = [...current.dirs].filter((d) => !prev.dirs.has(d));
    const dirsRemoved = [...prev.dirs].filter((d) => !current.dirs.has(d));
    // Files are named explicitly too: a new file in a directory already watched
    // was ignored at scan time and has no per-file watch (in-place writes would
    // be missed), and `add` lifts the ignore that `unwatch` put on a file dropped earlier.
    const pathsAdded = [...current.aliases.keys()].filter((p) => !prev.aliases.has(p));
    const pathsRemoved = [...prev.aliases.keys()].filter((p) => !current.aliases.has(p));
    if (pathsRemoved.length > 0 || dirsRemoved.length > 0) fsw.unwatch([...pathsRemoved, ...dirsRemoved]);
    if (dirsAdded.length > 0 || pathsAdded.length > 0) fsw.add([...dirsAdded, ...pathsAdded]);
    for (const d of dirsRemoved) armed.delete(d);
    for (const d of dirsAdded) armed.set(d, identityOf(d));
  }

  return {
    ready,
    setPaths(next: readonly string[]): void {
      apply(watchSetOf(next, realPath));
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(dirCheck);
      await fsw.close();
    },
  };
}

/** createChokidarWatcher as a WatcherFactory for startReloader. */
export const chokidarWatcherFactory: WatcherFactory = (paths, handlers) =>
  createChokidarWatcher(paths, (event) => handlers.onEvent(event), { onError: (error) => handlers.onError(error) });
