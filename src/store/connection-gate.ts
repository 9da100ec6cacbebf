/**
 * ConnectionGate: what a Redis command does when the connection is not ready.
 *
 * The client runs without ioredis's offline queue (it would queue without
 * bound while Redis is down, and the SMTP client is waiting). Without it a
 * command fails at once whenever the connection is not ready, which made the
 * first checks after every start fail (`451 4.3.0`) in the 10–20 ms before the
 * connection was up. So the gate tells the two cases apart:
 *
 *   - a connection is being made and nothing has failed yet (at start, or
 *     after a working connection closed cleanly, e.g. Redis's idle `timeout`):
 *     the command waits for 'ready', in a small bounded list, no longer than
 *     its caller's abort (the step's deadline) and only within the first
 *     `maxWaitMs` of the making: a connection that takes longer (a host that
 *     drops SYNs, a Redis still loading its data) counts as down, so checks
 *     then fail at once instead of each waiting `maxWaitMs`;
 *   - a connection attempt failed (refused, timed out, reset, dropped by us)
 *     and none has succeeded since: Redis is down, the command fails at once.
 *
 * The store feeds it ioredis's events; it decides and keeps the waiters. It
 * does not know ioredis: the store asks it only when the client's status is
 * not 'ready', and a command that passes the gate is sent by the store.
 */
import type { Clock, TimerHandle } from '../support/clock.js';

export type GateState =
  /** A connection is being made and has not failed (also: ready was seen, the close is on its way). */
  | 'connecting'
  | 'ready'
  /** A connection attempt failed since the last 'ready': fail fast. */
  | 'down'
  /** The store was closed, or the client gave up reconnecting. */
  | 'closed';

export interface ConnectionGateOptions {
  readonly clock: Clock;
  /** Longest a command waits for a connection in progress, whatever its caller allows. */
  readonly maxWaitMs: number;
  /** Commands that may wait at once; the next ones fail at once. */
  readonly maxWaiting: number;
}

/** Subscribes to the caller's abort (the step's deadline, a disconnect); returns an unsubscribe. */
export type AbortSubscription = (listener: (reason: unknown) => void) => () => void;

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: TimerHandle;
  unsubscribe: () => void;
}

const reasonText = (reason: unknown): string => (reason instanceof Error ? reason.message : String(reason));

export class ConnectionGate {
  private stateValue: GateState = 'connecting';
  private lastFailure = 'not connected yet';
  /** When the current 'connecting' began (clock.monotonic()). */
  private connectingSince: number;
  /** A wait timed out in this making: the window is over (timers and the clock may disagree by a millisecond). */
  private windowOver = false;
  private readonly waiters = new Set<Waiter>();
  private readonly clock: Clock;
  private readonly maxWaitMs: number;
  private readonly maxWaiting: number;

  constructor(options: ConnectionGateOptions) {
    for (const [name, v] of [['maxWaitMs', options.maxWaitMs], ['maxWaiting', options.maxWaiting]] as const) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`ConnectionGate: ${name} must be a non-negative number, got ${v}`);
    }
    this.clock = options.clock;
    this.maxWaitMs = options.maxWaitMs;
    this.maxWaiting = options.maxWaiting;
    this.connectingSince = this.clock.monotonic();
  }

  get state(): GateState {
    return this.stateValue;
  }

  /** Commands waiting for the connection (for tests and status). */
  get waiting(): number {
    return this.waiters.size;
  }

  /**
   * The caller found the connection not ready. Resolves when it is (waiting
   * while a connection is being made); rejects at once when Redis is down,
   * the making has lasted `maxWaitMs` already, the gate is closed or too
   * many commands wait; rejects when the making reaches `maxWaitMs` or
   * `onAbort` fires first.
   */
  whenReady(onAbort?: AbortSubscription): Promise<void> {
    let leftMs: number;
    switch (this.stateValue) {
      case 'down':
        return Promise.reject(new Error(`not connected (${this.lastFailure})`));
      case 'closed':
        return Promise.reject(new Error('the store is closed'));
      case 'connecting':
        leftMs = this.windowOver ? 0 : this.connectingSince + this.maxWaitMs - this.clock.monotonic();
        break;
      case 'ready':
        // ioredis changed its status before its event reached us: the close is on its way.
        leftMs = this.maxWaitMs;
        break;
    }
    const slow = `not connected after ${this.maxWaitMs} ms (connecting)`;
    if (leftMs <= 0) return Promise.reject(new Error(slow));
    if (this.waiters.size >= this.maxWaiting) {
      return Promise.reject(new Error(`not connected yet, and ${this.waiters.size} commands already wait for the connection`));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: this.clock.setTimer(leftMs, () => {
          if (this.stateValue === 'connecting') this.windowOver = true;
          this.drop(waiter, new Error(slow));
        }),
        unsubscribe: () => {},
      };
      this.waiters.add(waiter);
      if (onAbort !== undefined) {
        // May call back at once (already aborted): the waiter is registered by then.
        waiter.unsubscribe = onAbort((reason) => this.drop(waiter, new Error(`gave up waiting for the connection: ${reasonText(reason)}`)));
      }
    });
  }

  /** ioredis 'ready': let every waiter go. */
  ready(): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'ready';
    this.settleAll(null);
  }

  /** ioredis 'error' (connect refused or timed out, reset, a reply we refused): Redis is down until 'ready'. */
  failed(reason: string): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'down';
    this.lastFailure = reason;
    this.settleAll(new Error(`not connected (${reason})`));
  }

  /**
   * ioredis 'close'. A working connection that closed (without an error
   * first) is being made again: commands may wait for it. An attempt that
   * closed before it was ready failed.
   */
  closed(): void {
    switch (this.stateValue) {
      case 'ready':
        this.stateValue = 'connecting';
        this.connectingSince = this.clock.monotonic();
        this.windowOver = false;
        return;
      case 'connecting':
        this.failed('connection closed before it was ready');
        return;
      case 'down':
      case 'closed':
        return;
    }
  }

  /** The store is closing, or ioredis ended (no more reconnects): every waiter fails, and every later command. */
  close(): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.settleAll(new Error('the store is closed'));
  }

  private settleAll(error: Error | null): void {
    const all = [...this.waiters];
    this.waiters.clear();
    for (const w of all) {
      w.timer.cancel();
      w.unsubscribe();
      if (error === null) w.resolve();
      else w.reject(error);
    }
  }

  private drop(waiter: Waiter, error: Error): void {
    if (!this.waiters.delete(waiter)) return;
    waiter.timer.cancel();
    waiter.unsubscribe();
    waiter.reject(error);
  }
}
