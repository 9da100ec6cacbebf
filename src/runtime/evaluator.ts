/**
 * Runs the steps of one phase for one request, in chain order:
 *  - a step whose `when` is false is skipped;
 *  - `continue` goes on (a pause is a continue after a timer), collecting headers;
 *  - `decide` ends the phase with that decision;
 *  - `accept` ends the phase with proceed (the caller applies the scope);
 *  - a throw, a rejection or a missed step deadline becomes the step's
 *    on-error: `tempfail` decides the phase's tempfail, `proceed` goes on;
 *  - after the last step: proceed;
 *  - a `dry-run` step is evaluated but never acts: what it would have done
 *    (or its failure) is noted in `dryRuns` and the chain goes on as if its
 *    condition were false; a dry-run pause is not even started.
 *
 * Synchronous fast path: as long as steps answer synchronously the result is
 * returned synchronously — no promise, no timer, no AbortController.
 */
import type { FilterDecision, StepContext, StepDetail, StepOutcome } from '../actions/types.js';
import type { CompiledStep, SessionFacts } from '../dsl/plan.js';
import { tempfailDecision } from '../protocol/format.js';
import type { FilterPhase, RulePhase } from '../protocol/phases.js';
import type { Clock } from '../support/clock.js';
import type { PlannedStep } from './plan.js';

export interface StepFault {
  readonly step: CompiledStep;
  readonly error: string;
  readonly timedOut: boolean;
}

/** What a dry-run step would have done. It did not: the evaluation went on past it. */
export interface DryRunHit {
  readonly step: CompiledStep;
  /**
   * `pause`: would have waited; `continue`: would not have ended the phase;
   * `accept`/`decide`: would have ended it (see `decision`); `error`: the
   * step failed, which in dry-run never tempfails.
   */
  readonly would: 'pause' | 'continue' | 'accept' | 'decide' | 'error';
  /** The decision it would have sent, for `decide`. */
  readonly decision: FilterDecision | null;
  /** Headers it would have added. */
  readonly addHeaders: readonly string[];
  /** What the step reported (server answer, latency, pause length, …). */
  readonly detail: StepDetail;
  readonly error: string | null;
}

export interface Evaluation {
  /** `decide`: a step (or a fault with on-error tempfail) decided; `accept`: a step accepted; `end`: no step decided. */
  readonly kind: 'decide' | 'accept' | 'end';
  readonly decision: FilterDecision;
  /** The step that decided or accepted (or whose fault decided); null for `end`. */
  readonly step: CompiledStep | null;
  /** The fault behind a tempfail decision, when that is what decided. */
  readonly fault: StepFault | null;
  /** Every fault, including those that went on (on-error proceed). */
  readonly faults: readonly StepFault[];
  readonly addHeaders: readonly string[];
  /** Details the steps reported, merged (server answer, paused ms, …). Dry-run steps' are in `dryRuns`. */
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
  /** The dry-run steps that ran, in order. */
  readonly dryRuns: readonly DryRunHit[];
  /** The facts the steps were judged on (for explaining the decision in the log). */
  readonly facts: SessionFacts;
  /** How long `step` took when it answered asynchronously (a server's or store's latency); null otherwise. */
  readonly stepMs: number | null;
}

export interface EvaluationJob {
  readonly steps: readonly PlannedStep[];
  readonly facts: SessionFacts;
  readonly phase: RulePhase;
  readonly request: FilterPhase;
  readonly clock: Clock;
  /** The request's signal (disconnect, watchdog). */
  readonly signal: AbortSignal;
  /** Called before a step runs (its `when` held). */
  readonly onStep?: (step: CompiledStep) => void;
}

export class StepTimeoutError extends Error {
  constructor(ms: number) {
    super(`step did not answer within ${ms} ms`);
    this.name = 'StepTimeoutError';
  }
}

const PROCEED: FilterDecision = { type: 'proceed' };

interface Progress {
  readonly facts: SessionFacts;
  readonly faults: StepFault[];
  dryRuns: DryRunHit[] | null;
  addHeaders: string[] | null;
  detail: Record<string, string | number | boolean | null> | null;
}

export function evaluate(job: EvaluationJob): Evaluation | Promise<Evaluation> {
  return runFrom(job, 0, { facts: job.facts, faults: [], dryRuns: null, addHeaders: null, detail: null });
}

function runFrom(job: EvaluationJob, start: number, progress: Progress): Evaluation | Promise<Evaluation> {
  const baseContext: StepContext = {
    facts: job.facts,
    phase: job.phase,
    request: job.request,
    clock: job.clock,
    signal: job.signal,
  };
  for (let i = start; i < job.steps.length; i++) {
    const planned = job.steps[i] as PlannedStep;
    const step = planned.step;
    let outcome: StepOutcome | Promise<StepOutcome>;
    try {
      if (step.when !== null && !step.when(job.facts)) continue;
      if (step.dryRun === true && step.action.kind === 'pause') {
        noteDryRun(progress, { step, would: 'pause', decision: null, addHeaders: NONE, detail: { pausedMs: step.action.durationMs }, error: null });
        continue;
      }
      job.onStep?.(step);
      if (planned.deadlineMs === null) {
        outcome = planned.runner.run(baseContext);
      } else {
        return runAsyncStep(job, i, planned, progress);
      }
    } catch (error) {
      const end = fault(job, step, error, false, progress);
      if (end !== null) return end;
      continue;
    }
    if (isPromiseLike(outcome)) {
      // A runner of a "synchronous" kind went async (a custom runner): still honour a deadline.
      return settle(job, i, planned, outcome, null, progress, job.clock.monotonic());
    }
    const end = apply(step, outcome, progress);
    if (end !== null) return end;
  }
  return finish('end', PROCEED, null, null, progress);
}

function runAsyncStep(job: EvaluationJob, i: number, planned: PlannedStep, progress: Progress): Evaluation | Promise<Evaluation> {
  // Each async step gets its own signal: aborting a timed-out step must not
  // abort the steps after it (on-error proceed), but the request's abort
  // (disconnect, watchdog) reaches every step.
  const controller = new AbortController();
  const onRequestAbort = (): void => controller.abort(job.signal.reason);
  if (job.signal.aborted) controller.abort(job.signal.reason);
  else job.signal.addEventListener('abort', onRequestAbort, { once: true });
  const cleanup = (): void => job.signal.removeEventListener('abort', onRequestAbort);
  const started = job.clock.monotonic();
  let outcome: StepOutcome | Promise<StepOutcome>;
  try {
    outcome = planned.runner.run({
      facts: job.facts,
      phase: job.phase,
      request: job.request,
      clock: job.clock,
      signal: controller.signal,
    });
  } catch (error) {
    cleanup();
    const end = fault(job, planned.step, error, false, progress);
    return end ?? runFrom(job, i + 1, progress);
  }
  if (!isPromiseLike(outcome)) {
    cleanup();
    return apply(planned.step, outcome, progress) ?? runFrom(job, i + 1, progress);
  }
  return settle(job, i, planned, outcome, { controller, cleanup }, progress, started);
}

function settle(
  job: EvaluationJob,
  i: number,
  planned: PlannedStep,
  outcome: Promise<StepOutcome>,
  own: { controller: AbortController; cleanup: () => void } | null,
  progress: Progress,
  started: number,
): Promise<Evaluation> {
  const deadlineMs = planned.deadlineMs ?? 0;
  return new Promise<StepOutcome>((resolve, reject) => {
    const timer =
      deadlineMs > 0
        ? job.clock.setTimer(deadlineMs, () => {
            const error = new StepTimeoutError(deadlineMs);
            own?.controller.abort(error);
            reject(error);
          })
        : null;
    outcome.then(
      (value) => {
        timer?.cancel();
        resolve(value);
      },
      (error: unknown) => {
        timer?.cancel();
        reject(error);
      },
    );
  }).then(
    (value) => {
      own?.cleanup();
      const end = apply(planned.step, value, progress);
      return end === null ? runFrom(job, i + 1, progress) : timed(end, job.clock.monotonic() - started);
    },
    (error: unknown) => {
      own?.cleanup();
      const end = fault(job, planned.step, error, error instanceof StepTimeoutError, progress);
      return end === null ? runFrom(job, i + 1, progress) : timed(end, job.clock.monotonic() - started);
    },
  );
}

/** Apply a step's outcome: the final Evaluation if it ends the phase, null to go on. */
function apply(step: CompiledStep, outcome: StepOutcome, progress: Progress): Evaluation | null {
  if (step.dryRun === true) {
    noteDryRun(progress, {
      step,
      would: outcome.type,
      decision: outcome.type === 'decide' ? outcome.decision : null,
      addHeaders: outcome.type === 'continue' ? (outcome.addHeaders ?? NONE) : NONE,
      detail: outcome.detail ?? {},
      error: null,
    });
    return null;
  }
  if (outcome.detail !== undefined) progress.detail = { ...progress.detail, ...outcome.detail };
  switch (outcome.type) {
    case 'continue':
      if (outcome.addHeaders !== undefined && outcome.addHeaders.length > 0) {
        (progress.addHeaders ??= []).push(...outcome.addHeaders);
      }
      return null;
    case 'accept':
      return finish('accept', PROCEED, step, null, progress);
    case 'decide':
      return finish('decide', outcome.decision, step, null, progress);
  }
}

function fault(job: EvaluationJob, step: CompiledStep, error: unknown, timedOut: boolean, progress: Progress): Evaluation | null {
  const f: StepFault = { step, error: error instanceof Error ? error.message : String(error), timedOut };
  if (step.dryRun === true) {
    // A dry-run step must never change the answer: its on-error does not apply.
    noteDryRun(progress, { step, would: 'error', decision: null, addHeaders: NONE, detail: { timedOut }, error: f.error });
    return null;
  }
  progress.faults.push(f);
  switch (step.onError) {
    case 'proceed':
      return null;
    case 'tempfail':
      return finish('decide', tempfailDecision(job.request), step, f, progress);
  }
}

function finish(
  kind: Evaluation['kind'],
  decision: FilterDecision,
  step: CompiledStep | null,
  f: StepFault | null,
  progress: Progress,
): Evaluation {
  return {
    kind,
    decision,
    step,
    fault: f,
    faults: progress.faults,
    addHeaders: progress.addHeaders ?? [],
    detail: progress.detail ?? {},
    dryRuns: progress.dryRuns ?? NONE_DRY,
    facts: progress.facts,
    stepMs: null,
  };
}

/** The deciding step answered asynchronously after `ms`. */
function timed(evaluation: Evaluation, ms: number): Evaluation {
  return { ...evaluation, stepMs: Math.round(ms * 10) / 10 };
}

const NONE: readonly string[] = [];
const NONE_DRY: readonly DryRunHit[] = [];

function noteDryRun(progress: Progress, hit: DryRunHit): void {
  (progress.dryRuns ??= []).push(hit);
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
