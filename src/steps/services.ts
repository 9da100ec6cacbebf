/**
 * Every step kind's service, listed once, and the one way they are wired:
 * the CLI calls `createServices` once (the real sockets, stores and socket
 * table); tests give stand-ins through `replace` or the deps; a host built
 * without services gets `hostDefaultServices`. The services keep their
 * shared state (connections, open stores, the watcher, the pay-once memory)
 * across reloads; `retain` tells each which rules are current.
 */
import type { CompiledRules, StepKind } from '../model/plan.js';
import type { StepOutcome, StepRunner } from '../model/runner.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { createAcceptRunner } from './accept.js';
import { KINDS } from './catalogue.js';
import { createDisconnectRunner } from './disconnect.js';
import { dnsblService } from './dnsbl/run.js';
import { greylistService } from './greylist/run.js';
import { createJunkRunner } from './junk.js';
import { createScoreRunner } from './score.js';
import { createScoreHeaderRunner } from './score-header.js';
import { limitService } from './limit/run.js';
import { pauseService, plainPauseService } from './pause/run.js';
import { policyService } from './policy/run.js';
import { createRejectRunner } from './reject.js';
import { dkimSignService } from './dkim-sign/run.js';
import { rspamdService } from './rspamd/run.js';
import { spfService } from './spf/run.js';
import {
  stateless,
  StepUnavailableError,
  type RunnerFactory,
  type ServiceDeps,
  type ServiceMap,
  type ServiceSpec,
  type StepService,
  type StepServices,
} from './service.js';

/** A kind without I/O: its runners stand alone, nothing to keep or close. */
function pure<K extends StepKind>(kind: K, factory: RunnerFactory<K>): ServiceSpec<K> {
  return { kind, external: false, createService: () => stateless(factory) };
}

/** One service per compiled kind (KINDS); a kind without an entry does not compile. */
export const SERVICES = {
  pause: pauseService,
  accept: pure('accept', createAcceptRunner),
  reject: pure('reject', createRejectRunner),
  disconnect: pure('disconnect', createDisconnectRunner),
  junk: pure('junk', createJunkRunner),
  policy: policyService,
  greylist: greylistService,
  dnsbl: dnsblService,
  score: pure('score', createScoreRunner),
  'score-header': pure('score-header', createScoreHeaderRunner),
  spf: spfService,
  rspamd: rspamdService,
  'dkim-sign': dkimSignService,
  limit: limitService,
} as const satisfies { readonly [K in StepKind]: ServiceSpec<K> };

export type ServiceReplacements = Partial<{ readonly [K in StepKind]: StepService<K> }>;

export interface CreateServicesOptions {
  /** Kinds that ask another process or a store (`external`) are not asked: their steps go on, noting `offline`. */
  readonly offline?: boolean;
  /** Stand-ins for some kinds (tests); the others are made from the deps. */
  readonly replace?: ServiceReplacements;
}

/** The kinds in catalogue order: retain and close go through them so. */
function kinds(): StepKind[] {
  return Object.keys(KINDS) as StepKind[];
}

/** The map as one StepServices: `retain` and `close` reach every service, in catalogue order. */
export function servicesOf(map: ServiceMap): StepServices {
  const all = kinds().map((kind) => map[kind] as StepService);
  return {
    ...map,
    retain(rules: CompiledRules) {
      for (const service of all) service.retain(rules);
    },
    async close() {
      await Promise.all(all.map((service) => service.close()));
    },
  };
}

/** Builds each kind's entry of a ServiceMap; the mapped type keeps `make(kind)` tied to its kind. */
function mapOf(make: <K extends StepKind>(kind: K) => StepService<K>): ServiceMap {
  const entries = kinds().map((kind) => [kind, make(kind)] as const);
  return Object.fromEntries(entries) as unknown as ServiceMap;
}

const BY_KIND: { readonly [K in StepKind]: ServiceSpec<K> } = SERVICES;

function specOf<K extends StepKind>(kind: K): ServiceSpec<K> {
  const spec = BY_KIND[kind] as ServiceSpec<K> | undefined;
  // Reachable only by bypassing the types: a kind catalogued without a service.
  if (spec === undefined) throw new Error(`step kind ${kind} has no service (steps/services.ts)`);
  return spec;
}

/** `--offline`: the step is not asked and goes on, as a policy server saying DUNNO would, and says it was not asked. */
export function offlineService<K extends StepKind>(): StepService<K> {
  return stateless((step): StepRunner => ({ step, run: (): StepOutcome => ({ type: 'continue', detail: { offline: true } }) }));
}

/** The services of every kind, made once per process. */
export function createServices(deps: ServiceDeps, options: CreateServicesOptions = {}): StepServices {
  const replace: ServiceReplacements = options.replace ?? {};
  return servicesOf(
    mapOf(<K extends StepKind>(kind: K): StepService<K> => {
      const given = replace[kind] as StepService<K> | undefined;
      if (given !== undefined) return given;
      const spec = specOf(kind);
      return options.offline === true && spec.external ? offlineService<K>() : spec.createService(deps);
    }),
  );
}

/** A kind this build cannot run: setting up its step fails, and the step answers per its on-error. */
function unavailableService<K extends StepKind>(kind: K): StepService<K> {
  return stateless(() => {
    throw new StepUnavailableError(`${kind} steps are not available in this build`);
  });
}

/**
 * The services of a host built without any (unit tests, the tools' built-in
 * kinds): the kinds without I/O, pauses that only wait (no early-talker
 * watch, no pay-once memory), and the external kinds unavailable. `replace`
 * puts stand-ins in.
 */
export function hostDefaultServices(clock: Clock, log: Logger, replace: ServiceReplacements = {}): StepServices {
  // No socket table to watch: the pauses here only wait.
  const deps: ServiceDeps = { clock, log, platform: 'none' };
  return servicesOf(
    mapOf(<K extends StepKind>(kind: K): StepService<K> => {
      const given = replace[kind] as StepService<K> | undefined;
      if (given !== undefined) return given;
      if (kind === 'pause') return plainPauseService() as unknown as StepService<K>;
      const spec = specOf(kind);
      return spec.external ? unavailableService(kind) : spec.createService(deps);
    }),
  );
}
