/**
 * The production filter, in process, for the offline tools. A real
 * FilterHost (handshake, sessions, dispatcher, evaluator, step runners) runs
 * the compiled rules; the tools only feed it protocol lines and read what it
 * writes and what it tells (its events), so `test` and `replay` cannot drift
 * from what the filter does.
 *
 * What differs from production, and why:
 *  - time is virtual (VirtualClock): a pause jumps the clock instead of
 *    waiting, but only when nothing real is in flight (a step of an external
 *    kind started and not yet ended, by the runtime's stepStarted and stepRan
 *    events), so a policy server's answer is awaited in real time and never
 *    overtaken by a step deadline; step runs are timed with performance.now,
 *    as the virtual clock stands still meanwhile;
 *  - policy and greylist steps are either the real ones (online) or stubs
 *    that answer "not asked" and go on (offline: createServices' `offline`);
 *    pauses only wait (no early-talker watch; no pay-once memory, which would
 *    judge virtual sessions by real time);
 *  - every step's condition is wrapped to record whether it held and the
 *    facts it saw (the evaluator itself is untouched);
 *  - the tools read decisions, faults, dry-runs and runs from the events
 *    (recordEvents), never from the log, which goes nowhere unless given.
 */
import type { CompiledChain, CompiledRules, CompiledStep, SessionFacts } from '../model/plan.js';
import type { RulePhase } from '../model/phases.js';
import { combineEvents, recordEvents, type RuntimeEvent } from '../runtime/events.js';
import { FilterHost } from '../runtime/host.js';
import { plainPauseService } from '../steps/pause/run.js';
import type { StepServices } from '../steps/service.js';
import { createServices } from '../steps/services.js';
import { systemClock } from '../support/clock.js';
import { silentLogger, type Logger } from '../support/log.js';
import { err, ok, type Result } from '../support/result.js';
import { isExternal } from './told.js';
import { VirtualClock } from './virtual-clock.js';

/** `online`: policy servers and greylist stores are really asked. `offline`: they are not. */
export type ServiceMode = 'online' | 'offline';

/** A step's condition was evaluated (`held` null: the step has none, so it runs). */
export interface ConditionEvent {
  readonly sessionId: string;
  readonly step: CompiledStep;
  readonly held: boolean | null;
  readonly facts: SessionFacts;
}

export interface DriverOptions {
  readonly rules: CompiledRules;
  readonly chain: string | null;
  readonly mode: ServiceMode;
  /** What the virtual clock's now() says at the start. */
  readonly startWallMs: number;
  /** Online: the step services to use (tests); default: the production ones. Offline: external kinds stubbed. */
  readonly services?: StepServices;
  /** Where the filter's log goes (default: nowhere; the tools read events, not the log). */
  readonly log?: Logger;
}

/** Settling gives up after this many rounds (a bug, not a slow server: those are awaited). */
const MAX_SETTLE_ROUNDS = 100_000;

export class FilterDriver {
  readonly clock: VirtualClock;
  readonly conditions: ConditionEvent[] = [];
  /** What the runtime told, in order (runtime/events.ts). */
  readonly events: RuntimeEvent[];
  readonly host: FilterHost;
  /** Lines written and not yet taken. */
  private written: string[] = [];
  private partial = '';
  /** Runs of external kinds started and not yet ended: real I/O the virtual clock must wait for. */
  private inflight = 0;
  /** Settle waiting for one of them to end. */
  private wake: (() => void) | null = null;

  static create(options: DriverOptions): Result<FilterDriver, string> {
    try {
      return ok(new FilterDriver(options));
    } catch (error) {
      return err(error instanceof Error ? error.message : String(error));
    }
  }

  private constructor(options: DriverOptions) {
    this.clock = new VirtualClock(options.startWallMs);
    const log = options.log ?? silentLogger;
    const rules = instrumentRules(options.rules, (step, held, facts) => {
      this.conditions.push({ sessionId: facts.sessionId, step, held, facts });
    });
    const services =
      options.mode === 'online' && options.services !== undefined
        ? options.services
        : // No socket-table row to watch for a synthetic session (platform none); external kinds keep real time.
          createServices({ clock: systemClock, log, platform: 'none' }, { offline: options.mode === 'offline', replace: { pause: plainPauseService() } });
    const recorded = recordEvents();
    this.events = recorded.events;
    const created = FilterHost.create({
      rules,
      chain: options.chain,
      output: {
        write: (chunk) => {
          const text = this.partial + (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1'));
          const parts = text.split('\n');
          this.partial = parts.pop() ?? '';
          this.written.push(...parts);
          return true;
        },
        once: () => undefined,
      },
      clock: this.clock,
      log,
      services,
      events: combineEvents(recorded.sink, {
        stepStarted: (step) => {
          if (isExternal(step)) this.inflight++;
        },
        stepRan: (e) => {
          if (!isExternal(e.step)) return;
          this.inflight--;
          const wake = this.wake;
          this.wake = null;
          wake?.();
        },
      }),
      measure: () => performance.now(),
      // Write each answer at once: the tools read it right after feeding the request.
      schedule: (fn) => fn(),
    });
    if (!created.ok) throw new Error(created.error);
    this.host = created.value;
  }

  /** Feed one line from smtpd (without its newline). */
  feed(line: string | Buffer): void {
    const bytes = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
    this.host.feed(Buffer.concat([bytes, NEWLINE]));
  }

  /**
   * Run until no request is waiting for its answer: await real I/O when some
   * is in flight, otherwise jump the virtual clock to the next timer (a pause,
   * a step deadline, the request watchdog).
   */
  async settle(): Promise<void> {
    // Most lines are answered synchronously (or are reports): nothing to wait for.
    if (this.host.stats().pending === 0) return;
    for (let round = 0; round < MAX_SETTLE_ROUNDS; round++) {
      await nextTurn();
      if (this.host.stats().pending === 0) return;
      if (this.inflight > 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      if (!this.clock.runNext()) return;
    }
  }

  /** Lines written since the last call. */
  takeOutput(): string[] {
    const fresh = this.written;
    this.written = [];
    return fresh;
  }

  /** Drop the events read so far (a long replay would otherwise keep them all). */
  forget(): void {
    this.conditions.splice(0);
    this.events.splice(0);
  }

  /** stdin EOF: the host stops and closes the services (sockets, stores). */
  async end(): Promise<void> {
    await this.host.end();
  }
}

const NEWLINE = Buffer.from('\n');

/** Let promise callbacks and I/O callbacks queued so far run. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The same rules with every step's condition wrapped to report its result.
 * A step without a condition gets one that is always true, which the
 * evaluator treats exactly like no condition.
 */
export function instrumentRules(
  rules: CompiledRules,
  onCondition: (step: CompiledStep, held: boolean | null, facts: SessionFacts) => void,
): CompiledRules {
  const chains = new Map<string, CompiledChain>();
  for (const [name, chain] of rules.chains) {
    const steps = chain.steps.map((original): CompiledStep => {
      const when = original.when;
      const step: CompiledStep = {
        ...original,
        when: (facts) => {
          const held = when === null ? null : when(facts);
          onCondition(step, held, facts);
          return held ?? true;
        },
      };
      return step;
    });
    const byIndex = new Map(steps.map((s) => [s.index, s]));
    const stepsByPhase = new Map<RulePhase, readonly CompiledStep[]>();
    for (const [phase, phaseSteps] of chain.stepsByPhase) {
      stepsByPhase.set(
        phase,
        phaseSteps.map((s) => byIndex.get(s.index) ?? s),
      );
    }
    chains.set(name, { ...chain, steps, stepsByPhase });
  }
  return { ...rules, chains };
}

