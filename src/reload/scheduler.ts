/**
 * When to run a reload pass: the debounce state machine, driven by events and
 * an injected Clock, knowing nothing about files or rules.
 *
 *   idle ──event──▶ debouncing ──quiet period──▶ running ──done──▶ idle
 *                    ▲   │ event: restart the quiet period         │
 *                    └───┘                                          │
 *   running + event ▶ the quiet period runs alongside; when it ends
 *                     during the pass, one more pass follows it (never two at once).
 *   signal (SIGHUP) ▶ no quiet period: run now, or right after the current pass.
 *
 * A burst is cut off after `maxWaitMs` so a file rewritten continuously (a log
 * accidentally used as a list?) still gets reloaded now and then.
 *
 * A pass has a time limit (`passLimitMs`): one that is not done by then is
 * abandoned — its AbortSignal fires, `onPassAbandoned` is told, and the machine
 * goes on as if it had ended, so a pass stuck on a read that never returns (a
 * hung network file system) cannot keep every later save and SIGHUP waiting.
 * Whatever the abandoned pass does afterwards must check the signal (the
 * reloader then neither applies nor logs anything).
 */
import type { Clock, TimerHandle } from '../support/clock.js';

export interface PassRequest {
  /** Files reported changed since the last pass started, sorted. */
  readonly files: readonly string[];
  /** Signals / explicit triggers since the last pass started (`SIGHUP`). */
  readonly signals: readonly string[];
  /** True when a signal asked for this pass: reload even if no content changed. */
  readonly forced: boolean;
}

export type SchedulerState = 'idle' | 'debouncing' | 'running' | 'closed';

export interface SchedulerOptions {
  readonly clock: Clock;
  readonly quietMs: number;
  readonly maxWaitMs: number;
  /** One pass. Must not reject; if it does, `onPassError` gets the error and the machine goes on. */
  readonly run: (request: PassRequest, signal: AbortSignal) => Promise<void>;
  readonly onPassError: (error: unknown) => void;
  /** Longest a pass may run before it is abandoned. Default DEFAULT_PASS_LIMIT_MS. */
  readonly passLimitMs?: number;
  /** A pass reached the time limit (its signal has fired); the next one may start. */
  readonly onPassAbandoned?: (request: PassRequest, limitMs: number) => void;
}

/**
 * Two minutes: a list file at its size limit (64 MiB) compiles in well under
 * that on a loaded 2-core machine; only a read that never returns gets there.
 */
export const DEFAULT_PASS_LIMIT_MS = 120_000;

/** The reason an abandoned pass's signal carries. */
export class PassTimeLimit extends Error {
  constructor(readonly limitMs: number) {
    super(`reload pass not done after ${limitMs} ms`);
    this.name = 'PassTimeLimit';
  }
}

export class ReloadScheduler {
  private readonly files = new Set<string>();
  private readonly signals = new Set<string>();
  private forced = false;
  /** monotonic time of the first event of the current burst. */
  private burstStart: number | null = null;
  private timer: TimerHandle | null = null;
  private running: Promise<void> | null = null;
  /** A pass fell due while another was running: start it when that one ends. */
  private due = false;
  private closed = false;

  private readonly passLimitMs: number;

  constructor(private readonly options: SchedulerOptions) {
    const { quietMs, maxWaitMs } = options;
    this.passLimitMs = options.passLimitMs ?? DEFAULT_PASS_LIMIT_MS;
    if (!(this.passLimitMs > 0)) throw new RangeError(`passLimitMs must be a number > 0, got ${options.passLimitMs}`);
    if (!Number.isFinite(quietMs) || quietMs < 0) throw new RangeError(`quietMs must be a finite number >= 0, got ${quietMs}`);
    if (!Number.isFinite(maxWaitMs) || maxWaitMs < quietMs) {
      throw new RangeError(`maxWaitMs must be a finite number >= quietMs (${quietMs}), got ${maxWaitMs}`);
    }
  }

  get state(): SchedulerState {
    if (this.closed) return 'closed';
    if (this.running !== null) return 'running';
    return this.timer !== null ? 'debouncing' : 'idle';
  }

  /** A watched file changed: (re)start the quiet period. */
  fileEvent(path: string): void {
    if (this.closed) return;
    this.files.add(path);
    const now = this.options.clock.monotonic();
    if (this.burstStart === null) this.burstStart = now;
    this.timer?.cancel();
    const wait = Math.max(0, Math.min(this.options.quietMs, this.burstStart + this.options.maxWaitMs - now));
    this.timer = this.options.clock.setTimer(wait, () => {
      this.timer = null;
      this.fallDue();
    });
  }

  /** An explicit request (SIGHUP): a forced pass without a quiet period. */
  signal(reason: string): void {
    if (this.closed) return;
    this.signals.add(reason);
    this.forced = true;
    this.timer?.cancel();
    this.timer = null;
    this.fallDue();
  }

  /** Resolves when no pass is running (a pending quiet period is not waited for). */
  async whenIdle(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = null;
    await this.whenIdle();
  }

  private fallDue(): void {
    if (this.running !== null) {
      this.due = true;
      return;
    }
    this.start();
  }

  private start(): void {
    const request: PassRequest = {
      files: [...this.files].sort(),
      signals: [...this.signals].sort(),
      forced: this.forced,
    };
    this.files.clear();
    this.signals.clear();
    this.forced = false;
    this.burstStart = null;
    this.due = false;
    const controller = new AbortController();
    let limit: TimerHandle | null = null;
    const abandoned = new Promise<void>((resolve) => {
      limit = this.options.clock.setTimer(this.passLimitMs, () => {
        controller.abort(new PassTimeLimit(this.passLimitMs));
        try {
          this.options.onPassAbandoned?.(request, this.passLimitMs);
        } finally {
          resolve();
        }
      });
    });
    const finished = this.runOne(request, controller.signal).then(() => limit?.cancel());
    // Whichever comes first ends the pass for the machine; the other is ignored.
    this.running = Promise.race([finished, abandoned]).then(() => {
      this.running = null;
      if (this.closed || !this.due) return;
      this.due = false;
      // Events after the due point restarted a quiet period: let it finish,
      // unless a signal is waiting (it skips quiet periods).
      if (this.timer !== null && !this.forced) return;
      this.timer?.cancel();
      this.timer = null;
      this.start();
    });
  }

  private async runOne(request: PassRequest, signal: AbortSignal): Promise<void> {
    try {
      await this.options.run(request, signal);
    } catch (error) {
      this.options.onPassError(error);
    }
  }
}
