/**
 * StepAction.kind → the StepRunner that runs it. The core kinds live here;
 * `policy` and `greylist` come from other modules through StepServices, so
 * this registry does not depend on their I/O. Without a factory those kinds
 * still answer: their runner fails, and the runtime applies the step's
 * on-error (tempfail or proceed) with a clear log.
 */
import type { CompiledRules, CompiledStep, StepAction, StepKind } from '../dsl/plan.js';
import type { Logger } from '../support/log.js';
import { createAcceptRunner } from './accept.js';
import { createDisconnectRunner } from './disconnect.js';
import { createJunkRunner } from './junk.js';
import { createPauseRunner } from './pause.js';
import { createRejectRunner } from './reject.js';
import type { StepRunner } from './types.js';

export type StepOf<K extends StepKind> = CompiledStep & { readonly action: Extract<StepAction, { kind: K }> };

/** Makes the runner of one step; called once per step per rules version. */
export type RunnerFactory<K extends StepKind> = (step: StepOf<K>) => StepRunner;

/** Factories for the step kinds implemented outside this folder. */
export interface ExtraRunnerFactories {
  readonly policy?: RunnerFactory<'policy'>;
  readonly greylist?: RunnerFactory<'greylist'>;
  /**
   * Pauses with their early-talker watch and pay-once memory (pause-checks.ts).
   * Without it every pause is the plain timer of pause.ts (pregreet and
   * pay-once have no effect).
   */
  readonly pause?: RunnerFactory<'pause'>;
}

/**
 * The step kinds with I/O, and the shared things they use (policy-server
 * connections, greylist stores). Those outlive a rules version: a reload
 * that keeps `postgrey unix:/run/postgrey.sock` keeps its connections.
 */
export interface StepServices {
  readonly factories: ExtraRunnerFactories;
  /**
   * `rules` are now current (startup, then every reload): open what they use,
   * retire what they no longer name. Sessions still running under older rules
   * may use a retired resource again (the services revive or reopen it).
   */
  retain(rules: CompiledRules): void;
  /** stdin EOF: close everything. */
  close(): Promise<void>;
}

/** The step's kind has no implementation in this build (or its factory failed). */
export class StepUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepUnavailableError';
  }
}

function isKind<K extends StepKind>(step: CompiledStep, kind: K): step is StepOf<K> {
  return step.action.kind === kind;
}

function unavailable(step: CompiledStep, reason: string): StepRunner {
  const error = new StepUnavailableError(reason);
  return {
    step,
    run: () => {
      throw error;
    },
  };
}

function fromExtra<K extends 'policy' | 'greylist'>(
  kind: K,
  step: StepOf<K>,
  factory: RunnerFactory<K> | undefined,
  log: Logger,
): StepRunner {
  const where = `${step.span.file}:${step.span.line}`;
  if (factory === undefined) {
    const reason = `${kind} steps are not available in this build`;
    log.error({ rule: where, step: kind, onError: step.onError }, `${reason}; the step will answer per its on-error`);
    return unavailable(step, reason);
  }
  try {
    return factory(step);
  } catch (error) {
    const reason = `cannot set up the ${kind} step: ${error instanceof Error ? error.message : String(error)}`;
    log.error({ rule: where, step: kind, onError: step.onError }, reason);
    return unavailable(step, reason);
  }
}

export function createRunner(step: CompiledStep, extras: ExtraRunnerFactories, log: Logger): StepRunner {
  const kind = step.action.kind;
  switch (kind) {
    case 'pause':
      if (isKind(step, 'pause')) return extras.pause !== undefined ? extras.pause(step) : createPauseRunner(step);
      break;
    case 'accept':
      return createAcceptRunner(step);
    case 'reject':
      if (isKind(step, 'reject')) return createRejectRunner(step);
      break;
    case 'disconnect':
      if (isKind(step, 'disconnect')) return createDisconnectRunner(step);
      break;
    case 'junk':
      return createJunkRunner(step);
    case 'policy':
      if (isKind(step, 'policy')) return fromExtra('policy', step, extras.policy, log);
      break;
    case 'greylist':
      if (isKind(step, 'greylist')) return fromExtra('greylist', step, extras.greylist, log);
      break;
    default: {
      const never: never = kind;
      return unavailable(step, `unknown step kind ${String(never)}`);
    }
  }
  return unavailable(step, `step kind ${kind} does not match its action`);
}

/**
 * Steps whose runner may answer asynchronously. Everything else answers
 * synchronously, which lets the runtime skip promises and timers (fast path).
 */
export function mayBeAsync(step: CompiledStep): boolean {
  switch (step.action.kind) {
    case 'pause':
      // A dry-run pause does not wait (the evaluator never runs it).
      return step.action.durationMs > 0 && step.dryRun !== true;
    case 'policy':
    case 'greylist':
      return true;
    case 'accept':
    case 'reject':
    case 'disconnect':
    case 'junk':
      return false;
  }
}
