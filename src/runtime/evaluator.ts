/**
 * Runs the steps of one phase for one request, in chain order:
 *  - a step whose `when` is false is skipped;
 *  - `continue` goes on (a pause is a continue after a timer), collecting headers;
 *  - `decide` ends the phase with that decision;
 *  - `accept` ends the phase with proceed (the caller applies the scope);
 *  - a throw, a rejection or a missed step deadline becomes the step's
 *    on-error: `tempfail` decides the phase's tempfail, `proceed` goes on;
 *  - `arm` (a policy server's DEFER_IF_PERMIT / DEFER_IF_REJECT) goes on with
 *    a deferral armed for the rest of this phase, resolved where the phase
 *    ends (`finish`): an armed if-permit answers its 450 instead of a permit
 *    (the end of the chain, an accept, junk); an armed if-reject answers its
 *    450 instead of a later 5xx reject or disconnect; both armed end the
 *    phase at once with the if-permit reply. Postfix's defer_if_permit /
 *    defer_if_reject; the mapping is written down in src/policy/action.ts.
 *    Armed states live in one Run: they never reach another phase or request;
 *  - after the last step: proceed;
 *  - a `dry-run` step is evaluated but never acts: what it would have done
 *    (or its failure) is noted in `dryRuns` and the chain goes on as if its
 *    condition were false; a dry-run pause is not even started.
 *
 * Synchronous fast path: as long as steps answer synchronously the result is
 * returned synchronously — no promise, no timer, no abort scope of its own.
 */
import type { Deferral, StepContext, StepDetail, StepOutcome } from '../model/runner.js';
import type { FilterDecision } from '../model/decision.js';
import type { CompiledStep, SessionFacts } from '../model/plan.js';
import { tempfailDecision } from '../protocol/smtpd-rules.js';
import type { FilterPhase, RulePhase } from '../model/phases.js';
import type { Clock } from '../support/clock.js';
import type { AbortScope } from './abort-scope.js';
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
   * `pause`: would have waited; `score`: would have added to the score;
   * `continue`: would not have ended the phase;
   * `accept`/`decide`: would have ended it (see `decision`); `arm`: would
   * have armed `deferral` (it was not armed); `error`: the step failed,
   * which in dry-run never tempfails.
   */
  readonly would: 'pause' | 'score' | 'continue' | 'accept' | 'decide' | 'arm' | 'error';
  /** The decision it would have sent, for `decide`. */
  readonly decision: FilterDecision | null;
  /** The deferral it would have armed, for `arm`. */
  readonly deferral?: Deferral;
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
  /** An armed deferral replaced the phase's outcome (then `step` is the step that armed it); null otherwise. */
  readonly deferred: DeferredOutcome | null;
}

/** What an armed deferral overruled, for the decision's log line. */
export interface DeferredOutcome {
  readonly by: Deferral['when'];
  /**
   * What the phase would have answered: `proceed` (end of the chain),
   * `accept`, `junk`, a reject/disconnect reply, or `skipped` (both kinds
   * armed: the rest of the phase did not run).
   */
  readonly instead: string;
  /** The step whose outcome was overruled; null at the end of the chain or when skipped. */
  readonly insteadStep: CompiledStep | null;
}

export interface EvaluationJob {
  readonly steps: readonly PlannedStep[];
  readonly facts: SessionFacts;
  readonly phase: RulePhase;
  readonly request: FilterPhase;
  readonly clock: Clock;
  /** The request's abort (disconnect, watchdog). */
  readonly abort: AbortScope;
  /** When smtpd sent the request (its timestamp, wall-clock ms), for steps that wait. */
  readonly requestedAt?: number;
  /** Called before a step runs (its `when` held). */
  readonly onStep?: ((planned: PlannedStep) => void) | undefined;
}

export class StepTimeoutError extends Error {
  constructor(ms: number) {
    super(`step did not answer within ${ms} ms`);
    this.name = 'StepTimeoutError';
  }
}

const PROCEED: FilterDecision = { type: 'proceed' };
const NONE: readonly string[] = Object.freeze([]);
const NONE_DRY: readonly DryRunHit[] = Object.freeze([]);
const NO_FAULTS: readonly StepFault[] = Object.freeze([]);
const NO_DETAIL: Readonly<Record<string, never>> = Object.freeze({});

/** What a step sees. A class, so that the AbortSignal is only made when a step reads it. */
class Context implements StepContext {
  readonly facts: SessionFacts;
  readonly phase: RulePhase;
  readonly request: FilterPhase;
  readonly clock: Clock;
  /** Absent, not undefined, when the job has none (exactOptionalPropertyTypes): `declare` emits no field. */
  declare readonly requestedAt?: number;

  constructor(
    job: EvaluationJob,
    private readonly scope: AbortScope,
  ) {
    this.facts = job.facts;
    this.phase = job.phase;
    this.request = job.request;
    this.clock = job.clock;
    if (job.requestedAt !== undefined) this.requestedAt = job.requestedAt;
  }

  get signal(): AbortSignal {
    return this.scope.signal;
  }

  onAbort(listener: (reason: unknown) => void): () => void {
    return this.scope.onAbort(listener);
  }
}

export function evaluate(job: EvaluationJob): Evaluation | Promise<Evaluation> {
  const run = new Run(job);
  const result = run.from(0);
  if (result !== WAITING) return result;
  return new Promise<Evaluation>((resolve, reject) => run.settleWith(resolve, reject));
}

/** How an evaluation that went asynchronous ends: its Evaluation, or a bug of ours (an exception). */
export interface EvaluationCallbacks {
  readonly done: (evaluation: Evaluation) => void;
  readonly failed: (error: unknown) => void;
}

/**
 * `evaluate` without the promise: the Evaluation when the steps answered
 * synchronously, otherwise null and `later` gets the outcome. Saves the
 * promise and two microtask turns per request when thousands of paused
 * requests end at the same moment.
 */
export function evaluateThen(job: EvaluationJob, later: EvaluationCallbacks): Evaluation | null {
  const run = new Run(job);
  const result = run.from(0);
  if (result !== WAITING) return result;
  run.settleWith(later.done, later.failed);
  return null;
}

/** A step is running asynchronously; the Run resumes when it settles. */
const WAITING = Symbol('waiting');

/** A deferral armed in this phase, and the step that armed it. */
interface Armed {
  readonly reply: string;
  readonly step: CompiledStep;
}

/**
 * One evaluation. Asynchronous steps are followed with callbacks on the
 * step's promise and a deadline timer, and resume the same loop: one promise
 * per evaluation (the one `evaluate` returns), not a chain per step.
 */
class Run {
  private faults: StepFault[] | null = null;
  /** Armed by DEFER_IF_PERMIT: answered instead of a permit. The first one is kept, as Postfix does. */
  private ifPermit: Armed | null = null;
  /** Armed by DEFER_IF_REJECT: answered instead of a later 5xx. */
  private ifReject: Armed | null = null;
  private dryRuns: DryRunHit[] | null = null;
  private addHeaders: string[] | null = null;
  private detail: Record<string, string | number | boolean | null> | null = null;
  /** Shared by the synchronous steps (async steps get one with their own abort scope). */
  private context: Context | null = null;
  private resolve: ((evaluation: Evaluation) => void) | null = null;
  private reject: ((error: unknown) => void) | null = null;

  constructor(private readonly job: EvaluationJob) {}

  settleWith(resolve: (evaluation: Evaluation) => void, reject: (error: unknown) => void): void {
    this.resolve = resolve;
    this.reject = reject;
  }

  /** Run the steps from `start`: the Evaluation, or WAITING while a step runs asynchronously. */
  from(start: number): Evaluation | typeof WAITING {
    const job = this.job;
    for (let i = start; i < job.steps.length; i++) {
      const planned = job.steps[i] as PlannedStep;
      const step = planned.step;
      let outcome: StepOutcome | Promise<StepOutcome>;
      try {
        if (step.when !== null && !step.when(job.facts)) continue;
        if (planned.dryRunSkip !== null) {
          this.noteDryRun({ step, would: planned.dryRunSkip.would, decision: null, addHeaders: NONE, detail: planned.dryRunSkip.detail, error: null });
          continue;
        }
        job.onStep?.(planned);
        if (planned.deadlineMs !== null) {
          const end = this.runAsyncStep(i, planned);
          if (end === null) continue;
          return end;
        }
        outcome = planned.runner.run((this.context ??= new Context(job, job.abort)));
      } catch (error) {
        const end = this.fault(step, error, isTimeout(error));
        if (end !== null) return end;
        continue;
      }
      if (isPromiseLike(outcome)) {
        // A runner of a "synchronous" kind went async (a custom runner): still honour a deadline.
        this.await(i, planned, outcome, null, job.clock.monotonic());
        return WAITING;
      }
      const end = this.apply(step, outcome);
      if (end !== null) return end;
    }
    return this.finish('end', PROCEED, null, null);
  }

  /** null: go on with the next step; WAITING: the step answers later; an Evaluation: it ended the phase. */
  private runAsyncStep(i: number, planned: PlannedStep): Evaluation | typeof WAITING | null {
    // Each async step gets its own abort scope: aborting a timed-out step must
    // not abort the steps after it (on-error proceed), but the request's abort
    // (disconnect, watchdog) reaches every step.
    const own = this.job.abort.child();
    const started = this.job.clock.monotonic();
    let outcome: StepOutcome | Promise<StepOutcome>;
    try {
      outcome = planned.runner.run(new Context(this.job, own));
    } catch (error) {
      own.release();
      return this.fault(planned.step, error, isTimeout(error));
    }
    if (!isPromiseLike(outcome)) {
      own.release();
      return this.apply(planned.step, outcome);
    }
    this.await(i, planned, outcome, own, started);
    return WAITING;
  }

  /** Follow a step's promise, with its deadline; then resume after step `i`. */
  private await(
    i: number,
    planned: PlannedStep,
    outcome: Promise<StepOutcome>,
    own: AbortScope | null,
    started: number,
  ): void {
    const deadlineMs = planned.selfTimed ? 0 : (planned.deadlineMs ?? 0);
    let settled = false;
    const timer =
      deadlineMs > 0
        ? this.job.clock.setTimer(deadlineMs, () => {
            if (settled) return;
            settled = true;
            const error = new StepTimeoutError(deadlineMs);
            own?.release();
            own?.abort(error);
            this.resume(i, () => this.fault(planned.step, error, true), started);
          })
        : null;
    outcome.then(
      (value) => {
        if (settled) return;
        settled = true;
        timer?.cancel();
        own?.release();
        this.resume(i, () => this.apply(planned.step, value), started);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        timer?.cancel();
        own?.release();
        this.resume(i, () => this.fault(planned.step, error, isTimeout(error)), started);
      },
    );
  }

  /** Step `i` settled: `settle` applies it; the phase ends there or goes on with the next step. */
  private resume(i: number, settle: () => Evaluation | null, started: number): void {
    let result: Evaluation | typeof WAITING;
    try {
      const end = settle();
      result = end === null ? this.from(i + 1) : timed(end, this.job.clock.monotonic() - started);
    } catch (error) {
      this.reject?.(error);
      return;
    }
    if (result === WAITING) return;
    try {
      this.resolve?.(result);
    } catch (error) {
      // Only evaluateThen's callback can throw here: the caller's own bug, reported as such.
      this.reject?.(error);
    }
  }

  /** Apply a step's outcome: the final Evaluation if it ends the phase, null to go on. */
  private apply(step: CompiledStep, outcome: StepOutcome): Evaluation | null {
    if (step.dryRun === true) {
      // Reported only: a dry-run step's deferral is never armed.
      this.noteDryRun({
        step,
        would: outcome.type,
        decision: outcome.type === 'decide' ? outcome.decision : null,
        ...(outcome.type === 'arm' ? { deferral: outcome.deferral } : {}),
        addHeaders: outcome.type === 'continue' ? (outcome.addHeaders ?? NONE) : NONE,
        detail: outcome.detail ?? {},
        error: null,
      });
      return null;
    }
    if (outcome.detail !== undefined) this.detail = { ...this.detail, ...outcome.detail };
    switch (outcome.type) {
      case 'continue':
        if (outcome.addHeaders !== undefined && outcome.addHeaders.length > 0) {
          (this.addHeaders ??= []).push(...outcome.addHeaders);
        }
        return null;
      case 'accept':
        return this.finish('accept', PROCEED, step, null);
      case 'decide':
        return this.finish('decide', outcome.decision, step, null);
      case 'arm': {
        const armed: Armed = { reply: outcome.deferral.reply, step };
        if (outcome.deferral.when === 'if-permit') this.ifPermit ??= armed;
        else this.ifReject ??= armed;
        if (this.ifPermit !== null && this.ifReject !== null) {
          // Nothing later can permit (if-permit answers) or bounce (if-reject
          // answers): Postfix's generic_checks stops the list here too.
          return this.evaluation('decide', { type: 'reject', reply: this.ifPermit.reply }, this.ifPermit.step, null, {
            by: 'if-permit',
            instead: 'skipped',
            insteadStep: null,
          });
        }
        return null;
      }
    }
  }

  private fault(step: CompiledStep, error: unknown, timedOut: boolean): Evaluation | null {
    const f: StepFault = { step, error: error instanceof Error ? error.message : String(error), timedOut };
    if (step.dryRun === true) {
      // A dry-run step must never change the answer: its on-error does not apply.
      this.noteDryRun({ step, would: 'error', decision: null, addHeaders: NONE, detail: { timedOut }, error: f.error });
      return null;
    }
    (this.faults ??= []).push(f);
    switch (step.onError) {
      case 'proceed':
        return null;
      case 'tempfail':
        return this.finish('decide', tempfailDecision(this.job.request), step, f);
    }
  }

  /** The phase ends with `decision`, unless a deferral armed in it overrules that. */
  private finish(kind: Evaluation['kind'], decision: FilterDecision, step: CompiledStep | null, f: StepFault | null): Evaluation {
    if (this.ifPermit !== null && letsThrough(kind, decision)) {
      const instead = kind === 'accept' ? 'accept' : decision.type;
      return this.evaluation('decide', { type: 'reject', reply: this.ifPermit.reply }, this.ifPermit.step, f, { by: 'if-permit', instead, insteadStep: step });
    }
    if (this.ifReject !== null && isPermanentRefusal(decision)) {
      // A plain reject even for a 5xx disconnect: Postfix sends the deferral as the reply, and keeps the session.
      return this.evaluation('decide', { type: 'reject', reply: this.ifReject.reply }, this.ifReject.step, f, {
        by: 'if-reject',
        instead: `${decision.type} ${decision.reply}`,
        insteadStep: step,
      });
    }
    return this.evaluation(kind, decision, step, f, null);
  }

  private evaluation(
    kind: Evaluation['kind'],
    decision: FilterDecision,
    step: CompiledStep | null,
    f: StepFault | null,
    deferred: DeferredOutcome | null,
  ): Evaluation {
    return {
      kind,
      decision,
      step,
      fault: f,
      faults: this.faults ?? NO_FAULTS,
      addHeaders: this.addHeaders ?? NONE,
      detail: this.detail ?? NO_DETAIL,
      dryRuns: this.dryRuns ?? NONE_DRY,
      facts: this.job.facts,
      stepMs: null,
      deferred,
    };
  }

  private noteDryRun(hit: DryRunHit): void {
    (this.dryRuns ??= []).push(hit);
  }
}

/** Whether the phase's outcome lets the command through: what DEFER_IF_PERMIT defers. */
function letsThrough(kind: Evaluation['kind'], decision: FilterDecision): boolean {
  if (kind === 'accept') return true;
  switch (decision.type) {
    case 'proceed':
    case 'junk':
    case 'rewrite':
      return true;
    case 'reject':
    case 'disconnect':
      return false;
  }
}

/** A 5xx refusal: what DEFER_IF_REJECT turns into its 450. */
function isPermanentRefusal(decision: FilterDecision): decision is Extract<FilterDecision, { reply: string }> {
  return (decision.type === 'reject' || decision.type === 'disconnect') && decision.reply.startsWith('5');
}

/** The deciding step answered asynchronously after `ms`. */
function timed(evaluation: Evaluation, ms: number): Evaluation {
  return { ...evaluation, stepMs: Math.round(ms * 10) / 10 };
}

/** Our deadline, or a runner's own (a StepDeadlineError: a message reading that timed out). */
function isTimeout(error: unknown): boolean {
  return error instanceof StepTimeoutError || (typeof error === 'object' && error !== null && (error as { timedOut?: unknown }).timedOut === true);
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
