/**
 * What the runtime tells an observer (metrics, tests) as it works. Optional
 * and synchronous: the host calls these inline, so an implementation must be
 * cheap and must not throw (the host does not guard each call). Nothing here
 * depends on a metrics library; src/metrics implements it.
 */
import type { FilterDecision } from '../actions/types.js';
import type { CompiledStep } from '../dsl/plan.js';
import type { FilterPhase, RulePhase } from '../protocol/phases.js';
import type { StepFault } from './evaluator.js';

export interface DecisionEvent {
  readonly sessionId: string;
  /** The filter request answered (`ehlo`, `rcpt-to`, ...). */
  readonly request: FilterPhase;
  readonly phase: RulePhase;
  /** `none`: no step ran (no steps at this phase, or an earlier `accept` covers it). */
  readonly kind: 'decide' | 'accept' | 'end' | 'none';
  /** What smtpd was sent. */
  readonly decision: FilterDecision;
  /** The step that decided or accepted; null for `end` and `none`. */
  readonly step: CompiledStep | null;
  /** Every step failure of this request (also those that went on with on-error proceed). */
  readonly faults: readonly StepFault[];
  /** From the request to the answer, milliseconds (pauses included). */
  readonly ms: number;
}

export interface EarlyTalkerEvent {
  readonly sessionId: string;
  readonly client: string;
  /** A pause step ran in the session. */
  readonly paused: boolean;
}

export interface SessionEvictedEvent {
  readonly sessionId: string;
  readonly client: string;
  /** How long the session had been in the table. */
  readonly ageMs: number;
}

export interface UnknownSessionEvent {
  readonly sessionId: string;
  /** The filter request answered (`mail-from`, `rcpt-to`, ...). */
  readonly request: FilterPhase;
  /** What smtpd was sent: the phase's tempfail. */
  readonly decision: FilterDecision;
}

export interface RuntimeObserver {
  /** A step is about to run (its `when` held). */
  onStep?(step: CompiledStep): void;
  /** A request was answered by the rules (not for requests no rule may see: starttls, quit, ...). */
  onDecision?(event: DecisionEvent): void;
  /** smtpd dropped a client that sent several lines before its turn (protocol.md §7.2). */
  onEarlyTalker?(event: EarlyTalkerEvent): void;
  /** The session table was full: the least recently active session was forgotten. */
  onSessionEvicted?(event: SessionEvictedEvent): void;
  /**
   * A request after connect came for a session the filter does not know
   * (evicted, or its link-connect never arrived): answered with a tempfail, no rule ran.
   */
  onUnknownSession?(event: UnknownSessionEvent): void;
}
