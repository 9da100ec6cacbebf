/**
 * `pause DURATION`: wait, then go on with the next step. Used at connect it
 * delays smtpd's banner (protocol.md §7.1). The wait is a timer on the
 * injected clock, never a blocking sleep: thousands of sessions can be
 * paused at once. Aborted (timer cancelled) when the session disconnects or
 * the request's deadline passes.
 */
import type { CompiledStep, StepAction } from '../dsl/plan.js';
import type { StepContext, StepOutcome, StepRunner } from './types.js';

export type PauseStep = CompiledStep & { readonly action: Extract<StepAction, { kind: 'pause' }> };

export class StepAbortedError extends Error {
  constructor(reason: unknown) {
    super(`step aborted: ${reason instanceof Error ? reason.message : String(reason)}`);
    this.name = 'StepAbortedError';
  }
}

export function createPauseRunner(step: PauseStep): StepRunner {
  const durationMs = step.action.durationMs;
  const done: StepOutcome = { type: 'continue', detail: { pausedMs: durationMs } };
  return {
    step,
    run(ctx: StepContext): StepOutcome | Promise<StepOutcome> {
      if (durationMs <= 0) return done;
      if (ctx.signal.aborted) return Promise.reject(new StepAbortedError(ctx.signal.reason));
      return new Promise<StepOutcome>((resolve, reject) => {
        const onAbort = (): void => {
          timer.cancel();
          reject(new StepAbortedError(ctx.signal.reason));
        };
        const timer = ctx.clock.setTimer(durationMs, () => {
          ctx.signal.removeEventListener('abort', onAbort);
          resolve(done);
        });
        ctx.signal.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
