/**
 * Time as a dependency. Production code never calls Date.now() or setTimeout
 * directly; it takes a Clock, so tests drive time with FakeClock and never sleep.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock milliseconds since the epoch (for stored timestamps). */
  now(): number;
  /** Monotonic milliseconds (for durations and deadlines). */
  monotonic(): number;
  /** Run `fn` once after `ms` milliseconds. */
  setTimer(ms: number, fn: () => void): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    // A pending pause or deadline must not keep the process alive after stdin EOF.
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

interface FakeTimer {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that only moves when told to. `advance` fires due timers in order. */
export class FakeClock implements Clock {
  private current: number;
  private readonly wallOffset: number;
  private timers: FakeTimer[] = [];
  private seq = 0;

  constructor(startWallMs = Date.UTC(2026, 10, 25, 12, 0, 0)) {
    this.current = 0;
    this.wallOffset = startWallMs;
  }

  now(): number {
    return this.wallOffset + this.current;
  }

  monotonic(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: FakeTimer = { due: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Number of timers still waiting. */
  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Move time forward by `ms`, firing every timer that falls due, in due order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const next = this.timers
        .filter((t) => !t.cancelled && t.due <= target)
        .sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (!next) break;
      this.current = next.due;
      next.cancelled = true;
      this.timers = this.timers.filter((t) => !t.cancelled);
      next.fn();
    }
    this.current = target;
  }
}
