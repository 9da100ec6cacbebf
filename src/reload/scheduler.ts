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
  readonly run: (request: PassRequest) => Promise<void>;
  readonly onPassError: (error: unknown) => void;
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

  constructor(private readonly options: SchedulerOptions) {
    const { quietMs, maxWaitMs } = options;
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
    this.running = this.runOne(request).then(() => {
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

  private async runOne(request: PassRequest): Promise<void> {
    try {
      await this.options.run(request);
    } catch (error) {
      this.options.onPassError(error);
    }
  }
}
