/**
 * StepAction.kind → the StepRunner that runs it: each kind's service
 * (steps/services.ts) makes the runner of its steps. A factory that throws
 * (a store that cannot be set up, a kind this build lacks) gives a failing
 * runner with a log line: the runtime applies the step's on-error (tempfail
 * or proceed). Until issue 11 stage 10b, when the runtime reads each kind's
 * timing.
 */
import type { CompiledStep, StepKind, StepOf } from '../model/plan.js';
import type { StepRunner } from '../model/runner.js';
import { StepUnavailableError, type RunnerFactory, type StepServices } from '../steps/service.js';
import type { Logger } from '../support/log.js';

export { StepUnavailableError } from '../steps/service.js';

function unavailable(step: CompiledStep, error: Error): StepRunner {
  return {
    step,
    run: () => {
      throw error;
    },
  };
}

/** The factory of `kind`, typed by it (undefined only when the services bypass their type). */
function factoryOf<K extends StepKind>(services: StepServices, kind: K): RunnerFactory<K> | undefined {
  const service: { readonly [J in StepKind]: { readonly factory: RunnerFactory<J> } | undefined } = services;
  return service[kind]?.factory;
}

export function createRunner(step: CompiledStep, services: StepServices, log: Logger): StepRunner {
  const kind = step.action.kind;
  const where = `${step.span.file}:${step.span.line}`;
  const factory = factoryOf(services, kind);
  try {
    if (factory === undefined) throw new StepUnavailableError(`${kind} steps are not available in this build`);
    return factory(step as StepOf<typeof kind>);
  } catch (error) {
    if (error instanceof StepUnavailableError) {
      log.error({ rule: where, step: kind, onError: step.onError }, `${error.message}; the step will answer per its on-error`);
      return unavailable(step, error);
    }
    const reason = `cannot set up the ${kind} step: ${error instanceof Error ? error.message : String(error)}`;
    log.error({ rule: where, step: kind, onError: step.onError }, reason);
    return unavailable(step, new StepUnavailableError(reason));
  }
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
