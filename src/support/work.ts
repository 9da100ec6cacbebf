/**
 * Long computations that can be paused: a `Work<T>` is a generator that yields
 * (nothing) at points where stopping for a while is safe, and returns its result.
 * The same code then runs two ways:
 *
 *  - `runToEnd`: straight through, synchronously (startup and `check`: nothing
 *    is being answered yet, and the caller wants the result now);
 *  - `runInSlices`: a slice of at most about `sliceMs` at a time, giving the
 *    event loop back in between (a reload: every filter request that arrives
 *    meanwhile is answered between two slices instead of after the whole
 *    compile — a 1,000,000-line list took 2.65 s in one piece).
 *
 * Producers yield every few hundred items (`Pacer`), so the clock is read
 * rarely and a slice overshoots `sliceMs` by at most one such step.
 */
export type Work<T> = Generator<undefined, T, undefined>;

/** Run `work` to its end without pausing. */
export function runToEnd<T>(work: Work<T>): T {
  for (;;) {
    const step = work.next();
    if (step.done === true) return step.value;
  }
}

export interface SliceOptions {
  /** Longest slice before giving the event loop back, in ms. */
  readonly sliceMs: number;
  /** Monotonic ms (an injected clock's `monotonic`). */
  readonly now: () => number;
  /** Gives the event loop back; resolves when the work may go on. Default: setImmediate (after pending I/O). */
  readonly pause?: () => Promise<void>;
  /** Checked after every pause: an aborted run stops there, rejecting with the signal's reason. */
  readonly signal?: AbortSignal;
}

export const DEFAULT_SLICE_MS = 10;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Run `work` in slices; resolves with its result. */
export async function runInSlices<T>(work: Work<T>, options: SliceOptions): Promise<T> {
  const pause = options.pause ?? nextTurn;
  let sliceStart = options.now();
  try {
    for (;;) {
      const step = work.next();
      if (step.done === true) return step.value;
      if (options.now() - sliceStart < options.sliceMs) continue;
      await pause();
      options.signal?.throwIfAborted();
      sliceStart = options.now();
    }
  } finally {
    // Stopped early (aborted, or a step threw): let the generator's `finally` blocks run.
    work.return(undefined as never);
  }
}

/** Counts items and says when to yield: every `every` items (a power of two). */
export class Pacer {
  private n = 0;
  private readonly mask: number;

  constructor(every = 256) {
    if (!Number.isInteger(Math.log2(every))) throw new RangeError(`Pacer: every must be a power of two, got ${every}`);
    this.mask = every - 1;
  }

  /** True on every `every`-th call: the caller then yields. */
  tick(): boolean {
    this.n++;
    return (this.n & this.mask) === 0;
  }
}
