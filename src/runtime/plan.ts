/**
 * An ActivePlan is one rules version made runnable: the chosen chain, a
 * StepRunner per step, and the time budgets of each phase. Immutable once
 * built. A session keeps the plan that was current when it started, so a
 * reload changes new sessions only.
 */
import { createRunner, mayBeAsync } from '../actions/registry.js';
import type { CompiledChain, CompiledRules, CompiledStep } from '../dsl/plan.js';
import type { StepRunner } from '../model/runner.js';
import { RULE_PHASES, type RulePhase } from '../protocol/phases.js';
import type { StepServices } from '../steps/service.js';
import type { Logger } from '../support/log.js';
import { err, ok, type Result } from '../support/result.js';
import { selectChain } from './select-chain.js';

export interface PlannedStep {
  readonly step: CompiledStep;
  readonly runner: StepRunner;
  /** Deadline of one run of the step, or null for steps that always answer synchronously. */
  readonly deadlineMs: number | null;
  /**
   * The step ends by a timer of its own (pause): the evaluator sets no
   * deadline timer for it. Its deadline still counts in the request's
   * watchdog, which catches a pause that never ends (a bug). One timer less
   * per paused session matters with thousands paused at once.
   */
  readonly selfTimed: boolean;
}

export interface PhasePlan {
  readonly steps: readonly PlannedStep[];
  /** False when every step answers synchronously: no promise, timer or abort scope per request. */
  readonly mayBeAsync: boolean;
  /** A pause step is among the steps (the session then notes whether one ran, for the early-talker log). */
  readonly hasPause: boolean;
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
}

function stepDeadlineMs(step: CompiledStep, timings: PlanTimings): number | null {
  if (!mayBeAsync(step)) return null;
  const own =
    step.action.kind === 'pause'
      ? step.action.durationMs
      : step.action.kind === 'policy'
        ? step.action.options.timeoutMs
        : timings.defaultAsyncStepMs;
  return own + timings.stepMarginMs;
}

export function buildPlan(
  rules: CompiledRules,
  chainName: string | null,
  generation: number,
  deps: PlanDeps,
): Result<ActivePlan, string> {
  const chain = selectChain(rules, chainName);
  if (!chain.ok) return err(chain.error);
  const phases = new Map<RulePhase, PhasePlan>();
  for (const phase of RULE_PHASES) {
    const compiled = chain.value.stepsByPhase.get(phase);
    if (compiled === undefined || compiled.length === 0) continue;
    const steps = compiled.map(
      (step): PlannedStep => ({
        step,
        runner: createRunner(step, deps.services, deps.log),
        deadlineMs: stepDeadlineMs(step, deps.timings),
        selfTimed: step.action.kind === 'pause',
      }),
    );
    const asyncSteps = steps.filter((s) => s.deadlineMs !== null);
    phases.set(phase, {
      steps,
      mayBeAsync: asyncSteps.length > 0,
      hasPause: steps.some((s) => s.step.action.kind === 'pause'),
      budgetMs: asyncSteps.reduce((sum, s) => sum + (s.deadlineMs ?? 0), 0) + deps.timings.requestMarginMs,
    });
  }
  return ok({ generation, rules, chain: chain.value, phases });
}

/** A one-line description of each step, for the startup log. */
export function describeSteps(chain: CompiledChain): string[] {
  return chain.steps.map((s) => {
    const where = `${s.span.file}:${s.span.line}`;
    const when = s.whenText !== null ? ` when ${s.whenText}` : '';
    return `#${s.index} ${s.dryRun === true ? 'dry-run ' : ''}${s.action.kind} at ${s.phase}${when} (${where})`;
  });
}
