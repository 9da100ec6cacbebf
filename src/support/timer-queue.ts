/**
 * Many timers on one: a Clock whose setTimer keeps its timers in a binary
 * heap and arms a single timer of the underlying clock for the earliest one.
 * Ten thousand paused sessions then cost ten thousand heap entries, not ten
 * thousand runtime timers, and a FakeClock in tests sees one timer at a time.
 * Cancelled entries are removed lazily (compacted when they dominate).
 */
import type { Clock, TimerHandle } from './clock.js';

/** A timer in the heap, and its own handle (no closure per timer). */
class Entry implements TimerHandle {
  constructor(
    readonly due: number,
    readonly seq: number,
    public fn: (() => void) | null,
    private readonly queue: TimerQueue,
  ) {}

  cancel(): void {
    if (this.fn === null) return;
    this.fn = null;
    this.queue.noteCancelled();
  }
}

export class TimerQueue implements Clock {
  private heap: Entry[] = [];
  private seq = 0;
  private cancelled = 0;
  private armed: { due: number; handle: TimerHandle } | null = null;

  constructor(private readonly base: Clock) {}

  now(): number {
    return this.base.now();
  }

  monotonic(): number {
    return this.base.monotonic();
  }

  /** Timers waiting (not cancelled). */
  get size(): number {
    return this.heap.length - this.cancelled;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const entry = new Entry(this.base.monotonic() + Math.max(0, ms), this.seq++, fn, this);
    this.push(entry);
    // Arming is needed only when this timer is the new earliest one.
    if (this.armed === null || entry.due < this.armed.due) this.arm();
    return entry;
  }

  /** An entry was cancelled (called by Entry.cancel). */
  noteCancelled(): void {
    this.cancelled++;
    if (this.cancelled > 64 && this.cancelled * 2 > this.heap.length) this.compact();
  }

  /** Cancel everything (shutdown). */
  clear(): void {
    for (const e of this.heap) e.fn = null;
    this.heap = [];
    this.cancelled = 0;
    this.armed?.handle.cancel();
    this.armed = null;
  }

  private fire(): void {
    this.armed = null;
    const now = this.base.monotonic();
    let firstError: { error: unknown } | null = null;
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.due > now) break;
      this.pop();
      const fn = top.fn;
      if (fn === null) {
        this.cancelled--;
        continue;
      }
      top.fn = null;
      try {
        fn();
      } catch (error) {
        // Keep the queue consistent and the other timers running; surface the first error afterwards.
        firstError ??= { error };
      }
    }
    this.arm();
    if (firstError !== null) throw firstError.error;
  }

  private arm(): void {
    this.dropCancelledTop();
    const top = this.heap[0];
    if (top === undefined) {
      this.armed?.handle.cancel();
      this.armed = null;
      return;
    }
    if (this.armed !== null && this.armed.due <= top.due) return;
    this.armed?.handle.cancel();
    const delay = Math.max(0, top.due - this.base.monotonic());
    this.armed = { due: top.due, handle: this.base.setTimer(delay, () => this.fire()) };
  }

  private dropCancelledTop(): void {
    while (this.heap[0] !== undefined && this.heap[0].fn === null) {
      this.pop();
      this.cancelled--;
    }
  }

  /** Drop the cancelled entries and rebuild the heap in place, in O(n). */
  private compact(): void {
    const live = this.heap.filter((e) => e.fn !== null);
    this.heap = live;
    this.cancelled = 0;
    for (let i = (live.length >> 1) - 1; i >= 0; i--) this.siftDown(i, live[i] as Entry);
  }

  private push(entry: Entry): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, h[parent] as Entry)) break;
      h[i] = h[parent] as Entry;
      i = parent;
    }
    h[i] = entry;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    this.siftDown(0, last);
  }

  /** Put `entry` at `i` and move it down to its place. */
  private siftDown(start: number, entry: Entry): void {
    const h = this.heap;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && before(h[r] as Entry, h[l] as Entry) ? r : l;
      if (!before(h[child] as Entry, entry)) break;
      h[i] = h[child] as Entry;
      i = child;
    }
    h[i] = entry;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}
