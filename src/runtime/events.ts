/**
 * What the runtime tells its subscribers (metrics, the offline tools, tests)
 * as it works: one typed stream of events. The log lines stay written where
 * they are made (requests.ts, explain.ts); these carry the same facts as
 * values, so nobody has to read them back out of the log.
 *
 * Handlers are optional and synchronous: the runtime calls them inline, and
 * builds an event object only when its handler exists, so a filter without
 * subscribers (no --metrics) pays nothing. A handler must be cheap and must
 * not throw (the runtime does not guard each call).
 *
 * Per request, in the log's order: `fault` × n, `decision`, `dry-run` × m.
 * `stepRan` comes from the one runner decorator (observed-runner.ts), when a
 * step's run ends, before the evaluator goes on.
 */
import type { FilterDecision } from '../model/decision.js';
import type { FilterPhase, RulePhase } from '../model/phases.js';
import type { CompiledStep, SessionFacts } from '../model/plan.js';
import type { StepOutcome } from '../model/runner.js';
import type { DryRunHit, Evaluation, StepFault } from './evaluator.js';

/** A request was answered by the rules (not for requests no rule may see: starttls, quit, …). */
export interface DecisionEvent {
  readonly type: 'decision';
  readonly sessionId: string;
  readonly client: string;
  /** The filter request answered (`ehlo`, `rcpt-to`, …). */
  readonly request: FilterPhase;
  readonly phase: RulePhase;
  /** `none`: no step ran (no steps at this phase, or an earlier `accept` covers it). */
  readonly kind: 'decide' | 'accept' | 'end' | 'none';
  /** What smtpd was sent (adapted to the phase: a reject at connect is sent as a disconnect). */
  readonly sent: FilterDecision;
  /** Why what was sent differs from what the step decided (protocol/smtpd-rules.ts); null when it does not. */
  readonly note: string | null;
  /** What the steps did; null for `none`. */
  readonly evaluation: Evaluation | null;
  /** From the request to the answer, milliseconds (pauses included); 0 when nothing could wait. */
  readonly ms: number;
}

/** One run of a step ended: its outcome, or what it threw. */
export interface StepRanEvent {
  readonly type: 'step-ran';
  readonly sessionId: string;
  readonly request: FilterPhase;
  readonly step: CompiledStep;
  /** How long the run took, by the host's `measure` (unrounded). */
  readonly ms: number;
  readonly result:
    | { readonly ok: true; readonly outcome: StepOutcome }
    /** `errorKind`: the error's own kind when it has one (PolicyError: `timeout`, `connect`, …), else null. */
    | { readonly ok: false; readonly error: string; readonly errorKind: string | null };
}

/** A dry-run step ran (or was skipped, as a dry-run pause is): what it would have done. */
export interface DryRunEvent {
  readonly type: 'dry-run';
  readonly sessionId: string;
  readonly client: string;
  readonly request: FilterPhase;
  readonly phase: RulePhase;
  readonly hit: DryRunHit;
  /** The facts it was judged on. */
  readonly facts: SessionFacts;
}

/** A step failed (also one whose on-error went on). */
export interface FaultEvent {
  readonly type: 'fault';
  readonly sessionId: string;
  readonly client: string;
  readonly request: FilterPhase;
  readonly phase: RulePhase;
  readonly fault: StepFault;
}

/** smtpd dropped a client that sent several lines before its turn (protocol.md §7.2). */
export interface EarlyTalkerEvent {
  readonly type: 'early-talker';
  readonly sessionId: string;
  readonly client: string;
  /** A step that holds the client up (a pause) ran in the session. */
  readonly paused: boolean;
}

/** The session table was full: the least recently active session was forgotten. */
export interface SessionEvictedEvent {
  readonly type: 'session-evicted';
  readonly sessionId: string;
  readonly client: string;
  /** How long the session had been in the table. */
  readonly ageMs: number;
}

/**
 * A request after connect came for a session the filter does not know
 * (evicted, or its link-connect never arrived): answered with a tempfail, no rule ran.
 */
export interface UnknownSessionEvent {
  readonly type: 'unknown-session';
  readonly sessionId: string;
  /** The filter request answered (`mail-from`, `rcpt-to`, …). */
  readonly request: FilterPhase;
  /** What smtpd was sent: the phase's tempfail. */
  readonly decision: FilterDecision;
}

export type RuntimeEvent = DecisionEvent | StepRanEvent | DryRunEvent | FaultEvent | EarlyTalkerEvent | SessionEvictedEvent | UnknownSessionEvent;

export interface RuntimeEvents {
  /** A step is about to run (its `when` held). The hot path: positional, no event object. */
  stepStarted?(step: CompiledStep, sessionId: string): void;
  stepRan?(e: StepRanEvent): void;
  decision?(e: DecisionEvent): void;
  dryRun?(e: DryRunEvent): void;
  fault?(e: FaultEvent): void;
  earlyTalker?(e: EarlyTalkerEvent): void;
  sessionEvicted?(e: SessionEvictedEvent): void;
  unknownSession?(e: UnknownSessionEvent): void;
}

type Handler = keyof RuntimeEvents;

const HANDLERS: readonly Handler[] = ['stepStarted', 'stepRan', 'decision', 'dryRun', 'fault', 'earlyTalker', 'sessionEvicted', 'unknownSession'];

/**
 * Several subscribers as one. A handler none of them has stays absent, so
 * the runtime still builds no event for it; one that a single sink has is
 * that sink's method, bound.
 */
export function combineEvents(...sinks: RuntimeEvents[]): RuntimeEvents {
  const combined: Record<string, (...args: never[]) => void> = {};
  for (const name of HANDLERS) {
    const subscribed = sinks.filter((s) => s[name] !== undefined);
    const only = subscribed[0];
    if (only === undefined) continue;
    combined[name] =
      subscribed.length === 1
        ? (only[name] as (...args: never[]) => void).bind(only)
        : (...args: never[]) => {
            for (const s of subscribed) (s[name] as (...a: never[]) => void).apply(s, args);
          };
  }
  return combined as RuntimeEvents;
}

/** Every event, in order (stepStarted is not an event object and is not kept): for tests and tools. */
export function recordEvents(): { readonly events: RuntimeEvent[]; readonly sink: RuntimeEvents } {
  const events: RuntimeEvent[] = [];
  const keep = (e: RuntimeEvent): void => {
    events.push(e);
  };
  return {
    events,
    sink: { stepRan: keep, decision: keep, dryRun: keep, fault: keep, earlyTalker: keep, sessionEvicted: keep, unknownSession: keep },
  };
}
