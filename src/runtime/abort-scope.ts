/**
 * Cancellation for requests and steps, cheap enough for one per request.
 *
 * An AbortController costs an EventTarget, a listener Map and a Listener
 * object per subscriber: with ten thousand sessions paused at once (two per
 * request: the request's and the step's) that was a good part of the
 * filter's memory and of the time to take the connect burst. An AbortScope
 * keeps plain functions instead, and makes the standard AbortSignal only when
 * a step reads `signal` (a policy or greylist step handing it to a socket).
 */

export type AbortListener = (reason: unknown) => void;

const noop = (): void => {};

export class AbortScope {
  /** A scope that is never aborted: subscribing to it keeps nothing. */
  static readonly never: AbortScope = new AbortScope(true);

  private abortedValue = false;
  private reasonValue: unknown = undefined;
  private listeners: (AbortListener | null)[] | null = null;
  private controller: AbortController | null = null;

  private constructor(private readonly permanent = false) {}

  static create(): AbortScope {
    return new AbortScope();
  }

  get aborted(): boolean {
    return this.abortedValue;
  }

  get reason(): unknown {
    return this.reasonValue;
  }

  /** The standard signal, made on first use (aborted already if the scope is). */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.abortedValue) this.controller.abort(this.reasonValue);
    }
    return this.controller.signal;
  }

  /**
   * Call `listener` once when the scope is aborted (at once if it already
   * is). Returns a function that unsubscribes.
   */
  onAbort(listener: AbortListener): () => void {
    if (this.abortedValue) {
      listener(this.reasonValue);
      return noop;
    }
    if (this.permanent) return noop;
    const listeners = (this.listeners ??= []);
    const slot = listeners.push(listener) - 1;
    return () => {
      if (listeners[slot] === listener) listeners[slot] = null;
    };
  }

  /** Abort with `reason`; listeners run in subscription order. A second call does nothing. */
  abort(reason: unknown): void {
    if (this.abortedValue || this.permanent) return;
    this.abortedValue = true;
    this.reasonValue = reason;
    const listeners = this.listeners;
    this.listeners = null;
    let failure: { error: unknown } | null = null;
    if (listeners !== null) {
      for (const listener of listeners) {
        try {
          listener?.(reason);
        } catch (error) {
          // Every listener still runs (as with an AbortSignal); the first error surfaces afterwards.
          failure ??= { error };
        }
      }
    }
    this.controller?.abort(reason);
    if (failure !== null) throw failure.error;
  }

  /** A scope aborted with this one, and also on its own; `release()` detaches it when done. */
  child(): { scope: AbortScope; release: () => void } {
    const scope = new AbortScope();
    const release = this.onAbort((reason) => scope.abort(reason));
    return { scope, release };
  }
}
