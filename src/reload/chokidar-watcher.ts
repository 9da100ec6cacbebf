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
 * name: once that directory is gone, or replaced, nothing more is heard. The
 * kernel says so on the old watch (an event naming the directory itself), and
 * the identity (inode and birth time) of each watched directory is also checked
 * twice a second — a few stat calls — for what that event cannot tell (a
 * directory that did not exist yet). Either way the directory is watched again.
 *
 * Setting a watch is asynchronous (chokidar stats and reads the directory
 * first), and a write made before it is set makes no event at all — under
 * load that window is long enough for `ln -sfn` followed by an edit of the new
 * target, or for an edit right after a reload named a list in a new directory.
 * So every directory gets a chokidar instance of its own, whose `ready` says
 * that its watch is set, and at that moment its files are reported once more:
 * the reloader reads them after the watch exists and compares content hashes,
 * so a write made in the window is reloaded and one that did not happen costs
 * a read. Nothing is missed whatever the timing.
 *
 * No `awaitWriteFinish`: the reloader's debounce already waits for a quiet
 * period after the *last* event, and every write to a file produces an event,
 * so a half-written file is not read unless the writer pauses longer than the
 * quiet period — and then the content hash and compile catch it and the next
 * write triggers another pass. `awaitWriteFinish` would only add a second,
 * polling delay on top of the debounce.
 */
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Watcher, WatcherFactory, WatchEvent, WatchEventKind } from './watcher.js';

export interface ChokidarWatcherOptions {
  readonly onError?: (error: Error) => void;
  /** Called once, when chokidar has scanned the initial directories. */
  readonly onReady?: () => void;
  /**
   * Called each time a directory is watched anew after the start (it appeared,
   * was replaced, a link into it moved, or setPaths added it): its watch is set
   * and its files have just been reported. Tests wait for it; nothing needs it.
   */
  readonly onArmed?: (dir: string) => void;
  /** Resolves symlinks; default fs.realpathSync (null on any error). */
  readonly realPath?: RealPath;
  /** What tells one directory from the next at the same path; default inode and birth time. */
  readonly dirIdentity?: DirIdentity;
}

/** The real path, or null when there is none yet (missing file, dangling link). */
export type RealPath = (path: string) => string | null;
/** The identity of the directory at a path, or null when there is none. */
export type DirIdentity = (path: string) => string | null;

/** The targets of one watcher, grouped by directory. */
interface WatchSet {
  /** Our files, named as the reloader names them. */
  readonly files: ReadonlySet<string>;
  /**
   * Every path whose events count, and the file of ours it stands for: each file
   * itself, and the real file behind it when it is (or lies under) a symlink.
   */
  readonly aliases: ReadonlyMap<string, string>;
  /**
   * Each directory of a path in `aliases`, with what its watch depends on: its
   * aliases and where each resolved to. A change of it means a new watch (a
   * per-file watch set through a link stays on the old target otherwise).
   */
  readonly dirs: ReadonlyMap<string, string>;
}

/** How often the watched directories are checked for having appeared, gone or been replaced. */
const DIR_CHECK_MS = 500;
/** `ready` resolves after this long even if chokidar never says so (the reloader waits for it). */
const READY_LIMIT_MS = 2000;

/**
 * The inode, and the birth time, since Linux hands a just-freed inode to the
 * next directory created. Where birth times are not kept they read as 0, and
 * where they are coarse (a clock tick) `rm -rf d; mkdir d` can give the very
 * same identity: then the event the old watch gets for its own directory is
 * what tells (see `selfEvent`).
 */
const identityOf: DirIdentity = (path) => {
  try {
    const st = statSync(path);
    return st.isDirectory() ? `${st.ino}:${st.birthtimeMs}` : null;
  } catch {
    return null;
  }
};

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
  const reals = new Map<string, string | null>();
  for (const f of files) aliases.set(f, f);
  for (const f of files) {
    const real = realPath(f);
    reals.set(f, real);
    if (real !== null && !aliases.has(real)) aliases.set(real, f);
  }
  const entries = new Map<string, string[]>();
  for (const [alias, file] of aliases) {
    const dir = dirname(alias);
    const list = entries.get(dir) ?? [];
    list.push(`${alias}\0${reals.get(file) ?? ''}`);
    entries.set(dir, list);
  }
  const dirs = new Map([...entries].map(([dir, list]) => [dir, list.sort().join('\n')]));
  return { files, aliases, dirs };
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

/** One chokidar instance, watching one directory (and the files of ours in it). */
interface Instance {
  readonly fsw: FSWatcher;
  /** Resolves at chokidar's `ready`, or when the instance is closed first. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** A directory of ours and the watches on it. */
interface DirState {
  readonly dir: string;
  /** What `WatchSet.dirs` said when the newest instance was started. */
  signature: string;
  /** The directory's identity when the newest instance was started; null: it did not exist. */
  identity: string | null;
  /**
   * Live instances, oldest first. A new one is started before the old ones are
   * closed (at its `ready`), so there is no moment without a watch when there
   * was one.
   */
  readonly instances: Instance[];
}

export function createChokidarWatcher(
  paths: readonly string[],
  onEvent: (event: WatchEvent) => void,
  options: ChokidarWatcherOptions = {},
): Watcher {
  const realPath = options.realPath ?? realPathOf;
  const dirIdentity = options.dirIdentity ?? identityOf;
  let current = watchSetOf(paths, realPath);
  let closed = false;
  const states = new Map<string, DirState>();

  /** Report an event on `path` (any alias) as one on the file it stands for. */
  const report = (path: string, kind: WatchEventKind): void => {
    if (closed) return;
    const file = current.aliases.get(path);
    if (file === undefined) return;
    onEvent({ path: file, kind });
    // A link may point elsewhere now, or its target may have been replaced.
    apply(watchSetOf(current.files, realPath));
  };

  const reportDir = (dir: string, kind: WatchEventKind): void => {
    for (const path of [...current.aliases.keys()]) if (dirname(path) === dir) report(path, kind);
  };

  /**
   * Start a chokidar instance on `state.dir`. At its `ready` the older ones are
   * closed and, unless `initial`, the directory's files are reported: whatever
   * was written before the watch was set is then read (see the header).
   */
  function arm(state: DirState, kind: WatchEventKind, initial: boolean): Instance {
    const { dir } = state;
    // Everything in the directory except our files is ignored, so chokidar sets
    // no per-file watch on the neighbours of /etc/mail/rules. Reads `current`
    // on every call: changes take effect at once.
    const ignored = (path: string): boolean => path !== dir && !(dirname(path) === dir && current.aliases.has(path));
    const fsw: FSWatcher = watch(dir, {
      ignored,
      ignoreInitial: true,
      depth: 0,
      // Do not keep the process alive: the filter exits when smtpd closes stdin.
      persistent: false,
      // Folds unlink+add within 100 ms into one `change`, and ignores editor swap files.
      atomic: true,
      followSymlinks: true,
    });
    let settle: () => void = () => {};
    const ready = new Promise<void>((r) => {
      settle = r;
    });
    const instance: Instance = {
      fsw,
      ready,
      close: () => {
        settle();
        return fsw.close();
      },
    };
    fsw.on('all', (event, path) => {
      const abs = resolve(path);
      if (abs === dir) {
        // The directory itself went: see what is there now.
        if (event === 'unlinkDir') recheckSoon(dir, true);
        return;
      }
      const k = eventKind(event);
      if (k !== null) report(abs, k);
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
      if (watchedPathOf(details) !== dir) return; // a per-file watch: chokidar reports those
      if (typeof name !== 'string' || name === '') {
        reportDir(dir, 'change');
        return;
      }
      const path = resolve(dir, name);
      if (current.aliases.has(path)) report(path, 'change');
      // An event about the watched directory itself (Linux names it by its own
      // basename): removed, moved away or replaced, and this watch may be dead
      // even if a new directory with the same identity stands there now. An
      // entry that merely shares the directory's name costs a new watch.
      if (name === basename(dir)) recheckSoon(dir, true);
    });
    fsw.on('error', (error) => {
      if (!closed) options.onError?.(error instanceof Error ? error : new Error(String(error)));
    });
    fsw.once('ready', () => {
      settle();
      if (closed || state.instances.at(-1) !== instance) return; // superseded: the newer one reports
      if (dirIdentity(dir) !== state.identity) {
        // Replaced while the watch was being set: which one is watched is unknown.
        recheckSoon(dir, false);
        return;
      }
      for (const old of state.instances.splice(0, state.instances.length - 1)) void old.close();
      if (initial) return;
      reportDir(dir, kind);
      options.onArmed?.(dir);
    });
    state.instances.push(instance);
    return instance;
  }

  function disarm(state: DirState): void {
    for (const old of state.instances.splice(0)) void old.close();
  }

  /**
   * Compare the directory with what its watch was set on. Gone: drop the watch,
   * report its files. Appeared, replaced, or `force` (the old watch heard its
   * own directory go): watch it anew.
   */
  function recheck(dir: string, force: boolean): void {
    const state = states.get(dir);
    if (closed || state === undefined) return;
    const now = dirIdentity(dir);
    if (now === null) {
      const had = state.identity !== null || state.instances.length > 0;
      state.identity = null;
      disarm(state);
      if (had) reportDir(dir, 'unlink');
      return;
    }
    if (now === state.identity && !force) return;
    const appeared = state.identity === null;
    state.identity = now;
    arm(state, appeared ? 'add' : 'change', false);
  }

  /**
   * Directories to recheck once the current burst of events is handled (true:
   * forced). The kernel's events for one removal (the directory deleted, its
   * watch dropped) arrive together and make one new watch, not two.
   */
  const rechecks = new Map<string, boolean>();
  function recheckSoon(dir: string, force: boolean): void {
    if (rechecks.size === 0) {
      setImmediate(() => {
        const due = [...rechecks];
        rechecks.clear();
        for (const [d, f] of due) recheck(d, f);
      });
    }
    rechecks.set(dir, (rechecks.get(dir) ?? false) || force);
  }

  /** Make `next` the watch set: watch what is new or changed, drop what is gone. */
  function apply(next: WatchSet, initial = false): void {
    if (closed) return;
    current = next;
    for (const [dir, state] of [...states]) {
      if (next.dirs.has(dir)) continue;
      disarm(state);
      states.delete(dir);
    }
    for (const [dir, signature] of next.dirs) {
      const state = states.get(dir);
      if (state === undefined) {
        const fresh: DirState = { dir, signature, identity: dirIdentity(dir), instances: [] };
        states.set(dir, fresh);
        if (fresh.identity !== null) arm(fresh, 'change', initial);
      } else if (state.signature !== signature) {
        state.signature = signature;
        if (state.identity !== null) arm(state, 'change', false);
      }
    }
  }

  apply(current, true);
  const initialReady = Promise.all([...states.values()].flatMap((s) => s.instances.map((i) => i.ready)));
  if (options.onReady) void initialReady.then(options.onReady);
  const ready = new Promise<void>((resolve) => {
    const limit = setTimeout(resolve, READY_LIMIT_MS);
    limit.unref();
    void initialReady.then(() => {
      clearTimeout(limit);
      resolve();
    });
  });

  const dirCheck = setInterval(() => {
    for (const dir of [...states.keys()]) recheck(dir, false);
  }, DIR_CHECK_MS);
  // Never keeps the process alive (the filter exits when smtpd closes stdin).
  dirCheck.unref();

  return {
    ready,
    setPaths(next: readonly string[]): void {
      apply(watchSetOf(next, realPath));
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(dirCheck);
      const all = [...states.values()].flatMap((s) => s.instances.splice(0));
      states.clear();
      await Promise.all(all.map((i) => i.close()));
    },
  };
}

/** createChokidarWatcher as a WatcherFactory for startReloader. */
export const chokidarWatcherFactory: WatcherFactory = (paths, handlers) =>
  createChokidarWatcher(paths, (event) => handlers.onEvent(event), { onError: (error) => handlers.onError(error) });
