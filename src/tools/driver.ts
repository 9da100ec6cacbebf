/**
 * The production filter, in process, for the offline tools. A real
 * FilterHost (handshake, sessions, dispatcher, evaluator, step runners) runs
 * the compiled rules; the tools only feed it protocol lines and read what it
 * writes, so `test` and `replay` cannot drift from what the filter does.
 *
 * What differs from production, and why:
 *  - time is virtual (VirtualClock): a pause jumps the clock instead of
 *    waiting, but only when nothing real is in flight, so a policy server's
 *    answer is awaited in real time and never overtaken by a step deadline;
 *  - policy and greylist steps are either the real ones (online) or stubs
 *    that answer "not asked" and go on (offline); either way they are
 *    wrapped to record what they answered and how long it took;
 *  - every step's condition is wrapped to record whether it held and the
 *    facts it saw (the evaluator itself is untouched);
 *  - the log goes into memory; the tools read decisions, dry-run lines and
 *    step failures from it.
 */
import type { CompiledChain, CompiledRules, CompiledStep, SessionFacts } from '../dsl/plan.js';
import type { StepOutcome, StepRunner } from '../model/runner.js';
import type { FilterPhase, RulePhase } from '../protocol/phases.js';
import { FilterHost } from '../runtime/host.js';
import type { StepService, StepServices } from '../steps/service.js';
import { createServices, hostDefaultServices, offlineService } from '../steps/services.js';
import { systemClock } from '../support/clock.js';
import { RecordingLogger, silentLogger, type LogRecord } from '../support/log.js';
import { err, ok, type Result } from '../support/result.js';
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

/** A policy or greylist step ran. */
export interface StepRunEvent {
  readonly sessionId: string;
  readonly request: FilterPhase;
  readonly step: CompiledStep;
  /** What it answered; null when it failed. */
  readonly outcome: StepOutcome | null;
  readonly error: string | null;
  /** Real milliseconds it took. */
  readonly ms: number;
  /** Not asked: --offline. */
  readonly offline: boolean;
}

export interface DriverOptions {
  readonly rules: CompiledRules;
  readonly chain: string | null;
  readonly mode: ServiceMode;
  /** What the virtual clock's now() says at the start. */
  readonly startWallMs: number;
  /** The real step services for online mode (default: the production ones). */
  readonly services?: StepServices;
}

/** Settling gives up after this many rounds (a bug, not a slow server: those are awaited). */
const MAX_SETTLE_ROUNDS = 100_000;

export class FilterDriver {
  readonly log = new RecordingLogger();
  readonly clock: VirtualClock;
  readonly conditions: ConditionEvent[] = [];
  readonly runs: StepRunEvent[] = [];
  readonly host: FilterHost;
  /** Lines written and not yet taken. */
  private written: string[] = [];
  private partial = '';
  private readonly inflight = new Set<Promise<unknown>>();

  static create(options: DriverOptions): Result<FilterDriver, string> {
    try {
      return ok(new FilterDriver(options));
    } catch (error) {
      return err(error instanceof Error ? error.message : String(error));
    }
  }

  private constructor(options: DriverOptions) {
    this.clock = new VirtualClock(options.startWallMs);
    const rules = instrumentRules(options.rules, (step, held, facts) => {
      this.conditions.push({ sessionId: facts.sessionId, step, held, facts });
    });
    const real =
      options.mode === 'online'
        ? // Synthetic sessions have no socket-table row to watch; the pauses here only wait anyway (tracked).
          (options.services ?? createServices({ clock: systemClock, log: this.log, platform: 'none' }))
        : offlineServices();
    const services = this.tracked(real, options.mode === 'offline');
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
      log: this.log,
      services,
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
      if (this.inflight.size > 0) {
        await Promise.race([...this.inflight]);
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

  /** Log records from index `from` on. */
  records(from: number): readonly LogRecord[] {
    return this.log.records.slice(from);
  }

  /** Drop the events and log records read so far (a long replay would otherwise keep them all). */
  forget(): void {
    this.log.records.splice(0);
    this.conditions.splice(0);
    this.runs.splice(0);
  }

  /** stdin EOF: the host stops and closes the services (sockets, stores). */
  async end(): Promise<void> {
    await this.host.end();
  }

  /**
   * The policy and greylist services of `services`, wrapped so every run is
   * recorded (and awaited by settle); the other kinds are the host's
   * built-in ones (pauses jump the virtual clock, no early-talker watch or
   * pay-once memory). Retain and close are those of `services`. (Until
   * issue 11 stage 11b, when the tools subscribe to the runtime's events.)
   */
  private tracked(services: StepServices, offline: boolean): StepServices {
    const wrap = <K extends 'policy' | 'greylist'>(service: StepService<K>): StepService<K> => ({
      ...service,
      factory: (step) => this.trackRunner(service.factory(step), offline),
    });
    return {
      ...hostDefaultServices(this.clock, this.log),
      policy: wrap(services.policy),
      greylist: wrap(services.greylist),
      retain: (rules) => services.retain(rules),
      close: () => services.close(),
    };
  }

  private trackRunner(runner: StepRunner, offline: boolean): StepRunner {
    return {
      step: runner.step,
      run: (ctx) => {
        const started = performance.now();
        const record = (outcome: StepOutcome | null, error: unknown): void => {
          this.runs.push({
            sessionId: ctx.facts.sessionId,
            request: ctx.request,
            step: runner.step,
            outcome,
            error: outcome === null ? (error instanceof Error ? error.message : String(error)) : null,
            ms: Math.round(performance.now() - started),
            offline,
          });
        };
        let result: StepOutcome | Promise<StepOutcome>;
        try {
          result = runner.run(ctx);
        } catch (error) {
          record(null, error);
          throw error;
        }
        if (!(result instanceof Promise)) {
          record(result, null);
          return result;
        }
        const watched = result.then(
          (outcome) => record(outcome, null),
          (error: unknown) => record(null, error),
        );
        this.inflight.add(watched);
        void watched.finally(() => this.inflight.delete(watched));
        return result;
      },
    };
  }
}

const NEWLINE = Buffer.from('\n');

/** Let promise callbacks and I/O callbacks queued so far run. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * `--offline`: policy servers and greylist stores are not asked. The step
 * answers "go on", as a server saying DUNNO would, and says it was not asked.
 */
export function offlineServices(): StepServices {
  return hostDefaultServices(systemClock, silentLogger, { policy: offlineService(), greylist: offlineService() });
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

