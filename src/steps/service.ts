/**
 * What the runtime asks of a step kind: a service that makes the runner of
 * each step and keeps what the runners share (policy-server connections,
 * greylist stores, the socket-table watcher, the pay-once memory) across
 * rules versions. A reload that keeps `postgrey unix:/run/postgrey.sock`
 * keeps its connections; `retain` says which rules are now current.
 *
 * Each kind's run.ts (or its definition file, for the kinds without I/O)
 * gives a ServiceSpec; steps/services.ts lists them once and wires them.
 */
import type { DnsListEvents } from '../model/dns-lists.js';
import type { PolicyConnector } from '../policy/connection.js';
import type { PolicyClientSettings } from '../policy/registry.js';
import type { CounterStoresOptions, GreylistStoresOptions } from '../store/registry.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import type { SocketWatcherOptions } from '../support/proc-net-tcp-watch.js';
import type { CompiledRules, StepKind, StepOf } from '../model/plan.js';
import type { StepRunner } from '../model/runner.js';
import type { DnsblServiceDeps } from './dnsbl/run.js';
import type { PauseEvents } from './pause/run.js';
import type { RspamdServiceDeps } from './rspamd/run.js';

/** Makes the runner of one step; called once per step per rules version. */
export type RunnerFactory<K extends StepKind> = (step: StepOf<K>) => StepRunner;

export interface StepService<K extends StepKind = StepKind> {
  /** A throw gives the step a failing runner and a log line (the step answers per its on-error), never a crash. */
  readonly factory: RunnerFactory<K>;
  /**
   * `rules` are now current (startup, then every reload): open what they use,
   * retire what they no longer name. Sessions still running under older rules
   * may use a retired resource again (the services revive or reopen it).
   */
  retain(rules: CompiledRules): void;
  /** stdin EOF: close everything. */
  close(): Promise<void>;
}

/** What the services are made from: the runtime's clock and log, and the stand-ins tests give. */
export interface ServiceDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /** process.platform: the kernel socket table behind `pregreet` is watched on `linux` only. */
  readonly platform: string;
  /** Observers (metrics). */
  readonly events?: { readonly pause?: PauseEvents; readonly dnsLists?: DnsListEvents };
  readonly pause?: {
    /** Listener ports with implicit TLS (--smtps-ports); default {465}. */
    readonly smtpsPorts?: ReadonlySet<number>;
    /** The watcher's reader and interval (tests). */
    readonly watcher?: Partial<Pick<SocketWatcherOptions, 'read' | 'intervalMs'>>;
  };
  /** A scripted policy server (tests). Default: real sockets. */
  readonly policy?: { readonly connect?: PolicyConnector; readonly settings?: PolicyClientSettings };
  readonly greylist?: {
    /** Opens a store by URL (tests: an in-memory one). Default: SQLite or Redis by the URL. */
    readonly open?: GreylistStoresOptions['open'];
    /** Host name in the X-Greylist header. Default: os.hostname(). */
    readonly hostname?: string;
    /** filter-rules version in the X-Greylist header. Default: package.json's. */
    readonly version?: string;
    /** Minutes east of UTC for the header date. Default: the local zone at that date. */
    readonly utcOffsetMinutes?: (epochMs: number) => number;
  };
  readonly limit?: {
    /** Opens a counter store by URL (tests: a fake). Default: memory, SQLite or Redis by the URL. */
    readonly open?: CounterStoresOptions['open'];
    /** Names this host's sessions in a shared counter store. Default: os.hostname(). */
    readonly hostname?: string;
  };
  /** The DNS lists' transport (tests: a fake or a test server) and cache bound. Default: node:dns, 100 000 entries. */
  readonly dns?: Omit<DnsblServiceDeps, 'clock' | 'log' | 'events'>;
  /** rspamd's MTA-Name and HTTP request function (tests). Default: os.hostname(), node:http. */
  readonly rspamd?: Omit<RspamdServiceDeps, 'clock' | 'log'>;
}

/** How a kind's service is made. */
export interface ServiceSpec<K extends StepKind = StepKind> {
  readonly kind: K;
  /** It asks another process or a store: `--offline` stubs it, and the `test` tool lists its runs. */
  readonly external: boolean;
  readonly createService: (deps: ServiceDeps) => StepService<K>;
}

/** One service per kind. */
export type ServiceMap = { readonly [K in StepKind]: StepService<K> };

/** Every kind's service, and `retain`/`close` reaching all of them. */
export type StepServices = ServiceMap & {
  retain(rules: CompiledRules): void;
  close(): Promise<void>;
};

/** A service with nothing to keep: each runner stands alone. */
export function stateless<K extends StepKind>(factory: RunnerFactory<K>): StepService<K> {
  return { factory, retain: () => {}, close: () => Promise.resolve() };
}

/** The step's kind has no implementation in this build (or setting up its runner failed). */
export class StepUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepUnavailableError';
  }
}
