/**
 * The one runner decorator: a step's runs reported as `stepRan` events
 * (events.ts), with how long each took and what it answered or threw. The
 * runners themselves know nothing of it; buildPlan applies it only when a
 * subscriber wants `stepRan`, so a plain filter runs the runners bare.
 *
 * It changes nothing of the run: a synchronous answer stays synchronous (the
 * evaluator's fast path), a throw is rethrown, a rejection rejected, the same
 * outcome returned. The event is sent when the run ends, before the
 * evaluator sees the outcome.
 */
import type { SessionFacts } from '../model/plan.js';
import type { MessageContext, StepContext, StepOutcome, StepRunner } from '../model/runner.js';
import type { StepRanEvent } from './events.js';

export interface RunObserver {
  readonly stepRan: (e: StepRanEvent) => void;
  /** A monotonic clock in milliseconds (the host's runtime clock; the tools' performance.now). */
  readonly measure: () => number;
}

/** The error's text, as the evaluator words a fault. */
function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The error's own kind when it carries one (PolicyError.kind), without this layer knowing the type. */
function errorKind(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const kind = (error as Error & { readonly kind?: unknown }).kind;
  return typeof kind === 'string' ? kind : null;
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

export function observeRunner(runner: StepRunner, observer: RunObserver): StepRunner {
  const { step } = runner;
  const { stepRan, measure } = observer;
  const ran = (ctx: StepContext, started: number, result: StepRanEvent['result']): void => {
    stepRan({ type: 'step-ran', sessionId: ctx.facts.sessionId, request: ctx.request, step, ms: measure() - started, result });
  };
  const failed = (ctx: StepContext, started: number, error: unknown): void => {
    ran(ctx, started, { ok: false, error: errorText(error), errorKind: errorKind(error) });
  };
  return {
    step,
    ...(runner.startEarly === undefined ? {} : { startEarly: (facts: SessionFacts) => runner.startEarly?.(facts) }),
    ...(runner.readMessage === undefined ? {} : { readMessage: (ctx: MessageContext) => (runner.readMessage as NonNullable<StepRunner['readMessage']>).call(runner, ctx) }),
    ...(runner.endSession === undefined ? {} : { endSession: (sessionId: string) => runner.endSession?.(sessionId) }),
    run(ctx) {
      const started = measure();
      let result: StepOutcome | Promise<StepOutcome>;
      try {
        result = runner.run(ctx);
      } catch (error) {
        failed(ctx, started, error);
        throw error;
      }
      if (!isPromiseLike(result)) {
        ran(ctx, started, { ok: true, outcome: result });
        return result;
      }
      return result.then(
        (outcome) => {
          ran(ctx, started, { ok: true, outcome });
          return outcome;
        },
        (error: unknown) => {
          failed(ctx, started, error);
          throw error;
        },
      );
    },
  };
}
