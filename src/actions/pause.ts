/**
 * `pause DURATION`: wait, then go on with the next step. Used at connect it
 * delays smtpd's banner (protocol.md §7.1). The wait is a timer on the
 * injected clock, never a blocking sleep: thousands of sessions can be
 * paused at once. Aborted (timer cancelled) when the session disconnects or
 * the request's deadline passes.
 *
 * The wait counts from when smtpd sent the request (its timestamp), not from
 * when the filter got to it: after a burst of connections the last requests
 * may have queued for a while, and that time the client has already waited.
 * A timestamp that cannot be right (ahead of our clock, or far behind) is
 * ignored and the full pause applies.
 *
 * Cost matters here (S3 of the benchmarks: 10,000 sessions paused at once):
 * one promise and one timer per pause, and the abort is followed through the
 * context's `onAbort` callback when the runtime provides it, so that no
 * AbortSignal (an EventTarget) is made for the request.
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

/** Subscribe to the context's abort, with the cheap callback when there is one (also used by pause-checks.ts). */
export function onAbort(ctx: StepContext, listener: (reason: unknown) => void): () => void {
  if (ctx.onAbort !== undefined) return ctx.onAbort(listener);
  const signal = ctx.signal;
  if (signal.aborted) {
    listener(signal.reason);
    return () => {};
  }
  const handler = (): void => listener(signal.reason);
  signal.addEventListener('abort', handler, { once: true });
  return () => signal.removeEventListener('abort', handler);
}

/**
 * How far behind smtpd's timestamp the filter may plausibly be. Beyond it the
 * timestamp is taken as wrong (a clock step, a replayed line) rather than as
 * a backlog, and the full pause applies.
 */
export const MAX_TRUSTED_LAG_MS = 60_000;

/** How much of the pause the client has already waited when the request is read. */
export function alreadyWaitedMs(ctx: StepContext, durationMs: number): number {
  if (ctx.requestedAt === undefined) return 0;
  const lag = ctx.clock.now() - ctx.requestedAt;
  if (!(lag >= 0 && lag <= MAX_TRUSTED_LAG_MS)) return 0;
  return Math.min(lag, durationMs);
}

export function createPauseRunner(step: PauseStep): StepRunner {
  const durationMs = step.action.durationMs;
  const done: StepOutcome = { type: 'continue', detail: { pausedMs: durationMs } };
  return {
    step,
    run(ctx: StepContext): StepOutcome | Promise<StepOutcome> {
      const remainingMs = durationMs - alreadyWaitedMs(ctx, durationMs);
      if (remainingMs <= 0) return done;
      return new Promise<StepOutcome>((resolve, reject) => {
        let unsubscribe: (() => void) | null = null;
        const timer = ctx.clock.setTimer(remainingMs, () => {
          unsubscribe?.();
          resolve(done);
        });
        // Called at once when already aborted: the timer is then cancelled before it can fire.
        unsubscribe = onAbort(ctx, (reason) => {
          timer.cancel();
          reject(new StepAbortedError(reason));
        });
      });
    },
  };
}
