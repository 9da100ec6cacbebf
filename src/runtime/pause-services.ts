/**
 * Adds the pause step's services to the step services: the socket-table
 * watcher behind `pregreet` (one per process, Linux; null elsewhere) and the
 * pay-once memory. Both outlive reloads, like the policy clients and the
 * greylist stores.
 */
import { createPauseRunnerFactory, PayOnceMemory, type PauseEvents } from '../actions/pause-checks.js';
import type { StepServices } from '../actions/registry.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { SocketTableWatcher, type SocketWatcherOptions } from '../support/proc-net-tcp-watch.js';

export interface PauseServiceDeps {
  /** The real clock (the watcher ticks on it). */
  readonly clock: Clock;
  readonly log: Logger;
  readonly events?: PauseEvents;
  /** Override the watcher's reader and interval (tests). */
  readonly watcher?: Partial<Pick<SocketWatcherOptions, 'read' | 'intervalMs'>>;
  /** Platform: the socket tables exist on Linux only. Default process.platform. */
  readonly platform?: string;
  /** Listener ports with implicit TLS (--smtps-ports); default {465}. */
  readonly smtpsPorts?: ReadonlySet<number>;
}

export function withPauseChecks(services: StepServices, deps: PauseServiceDeps): StepServices {
  const linux = (deps.platform ?? process.platform) === 'linux';
  const watcher = linux
    ? new SocketTableWatcher({
        clock: deps.clock,
        ...deps.watcher,
        onUnavailable: (reason) =>
          deps.log.warn({ reason }, 'cannot read the kernel socket table; pauses with pregreet run without the early-talker check for now'),
      })
    : null;
  const factory = createPauseRunnerFactory({
    clock: deps.clock,
    log: deps.log,
    watcher,
    payOnce: new PayOnceMemory(deps.clock),
    ...(deps.smtpsPorts !== undefined ? { smtpsPorts: deps.smtpsPorts } : {}),
    ...(deps.events !== undefined ? { events: deps.events } : {}),
  });
  return {
    factories: { ...services.factories, pause: factory },
    retain: (rules) => services.retain(rules),
    async close() {
      watcher?.close();
      await services.close();
    },
  };
}
