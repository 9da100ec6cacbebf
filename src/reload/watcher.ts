/**
 * What the reloader needs from a file watcher, and nothing more. The chokidar
 * adapter (chokidar-watcher.ts) is the production implementation; unit tests
 * drive a fake, so the reload logic never depends on real file-system timing.
 */

/** What happened to a watched file, as far as the watcher can tell. Informational only. */
export type WatchEventKind = 'add' | 'change' | 'unlink';

export interface WatchEvent {
  /** Absolute path of one of the watched files. */
  readonly path: string;
  readonly kind: WatchEventKind;
}

export interface Watcher {
  /**
   * Replace the set of watched files (absolute paths). Files that do not exist
   * yet are watched for their creation.
   */
  setPaths(paths: readonly string[]): void;
  /** Stop watching. Idempotent. */
  close(): Promise<void>;
  /**
   * Resolves once changes are being reported (chokidar has set its watches). A
   * change made before that makes no event; the reloader compares the files
   * with what it compiled after this, so none is lost. Absent: ready at once.
   */
  readonly ready?: Promise<void>;
}

export interface WatcherHandlers {
  onEvent(event: WatchEvent): void;
  /** A watcher fault (permissions, a vanished directory): logged, never fatal. */
  onError(error: Error): void;
}

export type WatcherFactory = (paths: readonly string[], handlers: WatcherHandlers) => Watcher;
