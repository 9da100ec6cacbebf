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
  /** Listeners, and child scopes (aborted with this one: no closure each). Removed ones are null. */
  private listeners: (AbortListener | AbortScope | null)[] | null = null;
  private controller: AbortController | null = null;
  /** For a child scope: its parent while it follows it, and its place among the parent's listeners. */
  private parent: AbortScope | null = null;
  private slot = -1;

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
          if (listener instanceof AbortScope) listener.abort(reason);
          else listener?.(reason);
        } catch (error) {
          // Every listener still runs (as with an AbortSignal); the first error surfaces afterwards.
          failure ??= { error };
        }
      }
    }
    this.controller?.abort(reason);
    if (failure !== null) throw failure.error;
  }

  /** A scope aborted with this one, and also on its own; `release()` it when done with it. */
  child(): AbortScope {
    const scope = new AbortScope();
    if (this.abortedValue) {
      scope.abort(this.reasonValue);
    } else if (!this.permanent) {
      const listeners = (this.listeners ??= []);
      scope.parent = this;
      scope.slot = listeners.push(scope) - 1;
    }
    return scope;
  }

  /** Stop following the parent (a child scope whose work is done). */
  release(): void {
    const parent = this.parent;
    if (parent === null) return;
    this.parent = null;
    const listeners = parent.listeners;
    if (listeners !== null && listeners[this.slot] === this) listeners[this.slot] = null;
  }

}
