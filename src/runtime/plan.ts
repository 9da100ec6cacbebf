/**
 * An ActivePlan is one rules version made runnable: the chosen chain, a
 * StepRunner per step, and the time budgets of each phase. Immutable once
 * built. A session keeps the plan that was current when it started, so a
 * reload changes new sessions only.
 */
import type { CompiledChain, CompiledRules, CompiledStep, StepKind, StepOf } from '../model/plan.js';
import { startupLine } from '../model/describe.js';
import type { StepDetail, StepRunner } from '../model/runner.js';
import { RULE_PHASES, type RulePhase } from '../model/phases.js';
import { kindOf } from '../steps/catalogue.js';
import { StepUnavailableError, type RunnerFactory, type StepServices } from '../steps/service.js';
import type { DryRunSkipped } from '../steps/spec.js';
import type { Logger } from '../support/log.js';
import { err, ok, type Result } from '../support/result.js';
import type { RuntimeEvents } from './events.js';
import { observeRunner } from './observed-runner.js';
import { selectChain } from '../model/select-chain.js';

export { StepUnavailableError } from '../steps/service.js';

export interface PlannedStep {
  readonly step: CompiledStep;
  readonly runner: StepRunner;
  /** Deadline of one run of the step, or null for steps that always answer synchronously (or are skipped). */
  readonly deadlineMs: number | null;
  /**
   * The step ends by a timer of its own (pause): the evaluator sets no
   * deadline timer for it. Its deadline still counts in the request's
   * watchdog, which catches a pause that never ends (a bug). One timer less
   * per paused session matters with thousands paused at once.
   */
  readonly selfTimed: boolean;
  /** It holds the client up (a pause): a session that ran it counts as paused for the early-talker log. */
  readonly delaysClient: boolean;
  /** A dry-run step its kind does not run (a pause does not wait): what it notes instead. Null: it runs. */
  readonly dryRunSkip: { readonly would: DryRunSkipped; readonly detail: StepDetail } | null;
}

/** A commit step whose runner reads the message at the client's `.` (message-hold.ts). */
export interface MessageStep {
  readonly planned: PlannedStep;
  readonly readMessage: NonNullable<StepRunner['readMessage']>;
  /** The reading's deadline: the kind's own time plus the step margin. */
  readonly deadlineMs: number;
}

export interface PhasePlan {
  readonly steps: readonly PlannedStep[];
  /** False when every step answers synchronously: no promise, timer or abort scope per request. */
  readonly mayBeAsync: boolean;
  /** A step that holds the client up is among the steps (the session then notes whether one ran, for the early-talker log). */
  readonly delaysClient: boolean;
  /**
   * Watchdog for a whole request: the sum of the step deadlines plus a margin.
   * Step deadlines already turn a hung step into its on-error; the watchdog
   * only catches bugs (an evaluation that never settles).
   */
  readonly budgetMs: number;
}

export interface ActivePlan {
  readonly generation: number;
  readonly rules: CompiledRules;
  readonly chain: CompiledChain;
  readonly phases: ReadonlyMap<RulePhase, PhasePlan>;
  /** Some step of the chain watches the client for early talk (a pause with pregreet): the smtps-port guess matters. */
  readonly watchesEarlyTalk: boolean;
  /** The runners whose kind starts work at connect (`startsAtConnect`), in chain order. */
  readonly startsAtConnect: readonly StepRunner[];
  /** The commit steps that read the message, in chain order: when there are any, sessions hold their messages. */
  readonly messageSteps: readonly MessageStep[];
}

export interface PlanTimings {
  /** Added to each async step's own time (pause length, policy timeout). */
  readonly stepMarginMs: number;
  /** Added to the sum of step deadlines for the request watchdog. */
  readonly requestMarginMs: number;
  /** Deadline of async steps that state no timeout of their own (greylist, extra kinds). */
  readonly defaultAsyncStepMs: number;
}

export const DEFAULT_TIMINGS: PlanTimings = { stepMarginMs: 1000, requestMarginMs: 2000, defaultAsyncStepMs: 10_000 };

export interface PlanDeps {
  readonly log: Logger;
  /** Each kind's service makes the runners of its steps. */
  readonly services: StepServices;
  readonly timings: PlanTimings;
  /** With a `stepRan` handler, every runner is observed (observed-runner.ts); without, runners run bare. */
  readonly events?: RuntimeEvents;
  /** The monotonic clock that times observed runs (milliseconds). Default: performance.now. */
  readonly measure?: () => number;
}

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
  const byKind: { readonly [J in StepKind]: { readonly factory: RunnerFactory<J> } | undefined } = services;
  return byKind[kind]?.factory;
}

/**
 * The runner of one step, made by its kind's service. A factory that throws
 * (a store that cannot be set up, a kind this build lacks) gives a failing
 * runner with a log line: the step answers per its on-error (tempfail or
 * proceed), and the filter goes on.
 */
export function createRunner<K extends StepKind>(step: StepOf<K>, services: StepServices, log: Logger): StepRunner {
  const kind: K = step.action.kind;
  const where = `${step.span.file}:${step.span.line}`;
  try {
    const factory = factoryOf(services, kind);
    if (factory === undefined) throw new StepUnavailableError(`${kind} steps are not available in this build`);
    return factory(step);
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

/** A step as the runtime runs it: its runner and what its kind's definition says about time, dry-run and the client. */
function planStep(step: CompiledStep, deps: PlanDeps, observe: ((runner: StepRunner) => StepRunner) | null): PlannedStep {
  const kind = kindOf(step.action.kind);
  const skip = step.dryRun === true && kind.dryRun !== 'run' ? kind.dryRun.skip(step.action) : null;
  const timing = kind.timing;
  // Synchronous: the kind always answers at once, this action does (a zero pause), or the step is skipped.
  const waits = timing.mode === 'async' && skip === null && (timing.isAsync?.(step.action) ?? true);
  const own = timing.mode !== 'async' ? 0 : timing.deadlineMs === 'default' ? deps.timings.defaultAsyncStepMs : timing.deadlineMs(step.action);
  const runner = createRunner(step, deps.services, deps.log);
  return {
    step,
    // A failing runner too: its runs are runs that failed, and a subscriber waiting for each run's end gets it.
    runner: observe === null ? runner : observe(runner),
    deadlineMs: waits ? own + deps.timings.stepMarginMs : null,
    selfTimed: timing.mode === 'async' && timing.selfTimed,
    delaysClient: kind.delaysClient,
    dryRunSkip: skip,
  };
}

export function buildPlan(
  rules: CompiledRules,
  chainName: string | null,
  generation: number,
  deps: PlanDeps,
): Result<ActivePlan, string> {
  const chain = selectChain(rules, chainName);
  if (!chain.ok) return err(chain.error);
  // Only services built around their type can lack a kind: a wiring mistake, refused before any session.
  const missing = chain.value.steps.find((step) => factoryOf(deps.services, step.action.kind) === undefined);
  if (missing !== undefined) return err(`no service for step kind ${missing.action.kind}`);
  const events = deps.events;
  const measure = deps.measure ?? (() => performance.now());
  // Called as the subscriber's method (its `this`), as every other handler is.
  const observe = events?.stepRan === undefined ? null : (runner: StepRunner) => observeRunner(runner, { stepRan: (e) => events.stepRan?.(e), measure });
  const phases = new Map<RulePhase, PhasePlan>();
  for (const phase of RULE_PHASES) {
    const compiled = chain.value.stepsByPhase.get(phase);
    if (compiled === undefined || compiled.length === 0) continue;
    const steps = compiled.map((step) => planStep(step, deps, observe));
    const asyncSteps = steps.filter((s) => s.deadlineMs !== null);
    phases.set(phase, {
      steps,
      mayBeAsync: asyncSteps.length > 0,
      delaysClient: steps.some((s) => s.delaysClient),
      budgetMs: asyncSteps.reduce((sum, s) => sum + (s.deadlineMs ?? 0), 0) + deps.timings.requestMarginMs,
    });
  }
  const watchesEarlyTalk = chain.value.steps.some((step) => kindOf(step.action.kind).watchesEarlyTalk?.(step.action) ?? false);
  const startsAtConnect = [...phases.values()]
    .flatMap((p) => p.steps)
    .filter((s) => kindOf(s.step.action.kind).startsAtConnect === true && s.dryRunSkip === null)
    .sort((a, b) => a.step.index - b.step.index)
    .map((s) => s.runner);
  const messageSteps = (phases.get('commit')?.steps ?? []).flatMap((planned): MessageStep[] => {
    const read = planned.runner.readMessage;
    if (read === undefined) return [];
    const own = kindOf(planned.step.action.kind).readsMessage;
    const ms = own === undefined ? deps.timings.defaultAsyncStepMs : own.deadlineMs(planned.step.action);
    return [{ planned, readMessage: (ctx) => read.call(planned.runner, ctx), deadlineMs: ms + deps.timings.stepMarginMs }];
  });
  return ok({ generation, rules, chain: chain.value, phases, watchesEarlyTalk, startsAtConnect, messageSteps });
}

/** A one-line description of each step, for the startup log. */
export function describeSteps(chain: CompiledChain): string[] {
  return chain.steps.map(startupLine);
}
