/**
 * The watch behind `pregreet`: during a pause, the connection's row in the
 * kernel's socket table (one shared read per tick for every paused session,
 * src/support/proc-net-tcp-watch.ts) says whether the client sent bytes
 * before the banner or hung up. One watcher per process, on Linux; elsewhere
 * none, and pregreet pauses are plain pauses.
 */
import type { SessionFacts } from '../../model/plan.js';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import type { Endpoints } from '../../support/proc-net-tcp.js';
import { SocketTableWatcher, type ConnectionEvent, type SocketWatcherOptions, type WatchHandle } from '../../support/proc-net-tcp-watch.js';

/** The socket-table watcher as the pause uses it. */
export interface ConnectionWatcher {
  watch(endpoints: Endpoints, listener: (event: ConnectionEvent) => void): WatchHandle | null;
}

export interface WatcherDeps {
  /** The real clock (the watcher ticks on it). */
  readonly clock: Clock;
  readonly log: Logger;
  /** The socket tables exist on `linux` only. */
  readonly platform: string;
  /** Override the watcher's reader and interval (tests). */
  readonly watcher?: Partial<Pick<SocketWatcherOptions, 'read' | 'intervalMs'>>;
}

/** The process's watcher, or null where there is no socket table to watch. */
export function socketWatcherFor(deps: WatcherDeps): SocketTableWatcher | null {
  if (deps.platform !== 'linux') return null;
  return new SocketTableWatcher({
    clock: deps.clock,
    ...deps.watcher,
    onUnavailable: (reason) =>
      deps.log.warn({ reason }, 'cannot read the kernel socket table; pauses with pregreet run without the early-talker check for now'),
  });
}

/** The session's row in the socket table, or null when it has none to watch (the local socket, an unknown address). */
export function endpointsOf(f: SessionFacts): Endpoints | null {
  if (f.local || f.srcPort === null || f.destPort === null || f.src === '' || f.dest === '') return null;
  return { src: f.src, srcPort: f.srcPort, dest: f.dest, destPort: f.destPort };
}
