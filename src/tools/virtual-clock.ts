/**
 * The clock of the offline tools (`test`, `replay`): time moves only when the
 * driver says so, and then straight to the next timer. A `pause 3s` therefore
 * takes no real time, yet runs through the real pause step and timer queue.
 */
import type { Clock, TimerHandle } from '../support/clock.js';

interface Timer {
  readonly due: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

export class VirtualClock implements Clock {
  private current = 0;
  private seq = 0;
  private timers: Timer[] = [];

  /** `startWallMs`: what now() says before any time has passed. */
  constructor(private readonly startWallMs: number) {}

  now(): number {
    return this.startWallMs + this.current;
  }

  monotonic(): number {
    return this.current;
  }

  /** Virtual milliseconds passed so far. */
  get elapsedMs(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: Timer = { due: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Timers waiting. */
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Jump to the earliest timer and fire every timer due then. False when no timer is waiting. */
  runNext(): boolean {
    this.timers = this.timers.filter((t) => !t.cancelled);
    if (this.timers.length === 0) return false;
    const due = Math.min(...this.timers.map((t) => t.due));
    this.current = Math.max(this.current, due);
    for (;;) {
      const next = this.timers
        .filter((t) => !t.cancelled && t.due <= this.current)
        .sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (next === undefined) break;
      next.cancelled = true;
      next.fn();
    }
    this.timers = this.timers.filter((t) => !t.cancelled);
    return true;
  }
}
