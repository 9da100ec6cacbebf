/**
 * Polling with a deadline: the e2e tests wait for conditions (a listening socket, a
 * log line, a delivered file), never for fixed amounts of time.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  readonly timeoutMs: number;
  /** Poll interval; default 50 ms. */
  readonly intervalMs?: number;
  /** Names the condition in the timeout error. */
  readonly what: string;
  /** Extra text for the timeout error (e.g. a log tail), computed only on failure. */
  readonly explain?: () => string;
}

/** Polls `probe` until it returns something other than null/undefined/false. */
export async function waitFor<T>(probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, opts: WaitOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) {
      const extra = opts.explain === undefined ? '' : `\n${opts.explain()}`;
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${extra}`);
    }
    await delay(opts.intervalMs ?? 50);
  }
}
