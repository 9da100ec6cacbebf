/**
 * How the runtime runs one compiled step. Each step kind has a StepRunner
 * factory in src/actions; the runtime owns ordering, accept scopes, deadlines
 * and the single answer per request, and steps only say what they decided.
 */
import type { Clock } from '../support/clock.js';
import type { FilterDecision } from './decision.js';
import type { FilterPhase, RulePhase } from './phases.js';
import type { MessageReading, MessageView } from './message.js';
import type { CompiledStep, SessionFacts } from './plan.js';

/** What a step says. */
export type StepOutcome =
  /** Not decisive: go on with the next step of this phase. */
  | { readonly type: 'continue'; readonly addHeaders?: readonly string[]; readonly detail?: StepDetail }
  /** `accept`: end the chain for the scope of this phase (session, transaction or recipient). */
  | { readonly type: 'accept'; readonly detail?: StepDetail }
  /** Decisive: answer smtpd with this decision and end the phase. */
  | { readonly type: 'decide'; readonly decision: FilterDecision; readonly detail?: StepDetail }
  /**
   * Not decisive by itself (Postfix's DEFER_IF_PERMIT / DEFER_IF_REJECT): go
   * on with the next step, with a deferral armed for the rest of this phase
   * (the evaluator applies it; see src/policy/action.ts for the semantics).
   */
  | { readonly type: 'arm'; readonly deferral: Deferral; readonly detail?: StepDetail };

/**
 * An armed deferral. `if-permit`: answer `reply` instead if the phase would
 * let the command through. `if-reject`: answer `reply` instead of a later
 * 5xx refusal. `reply` is a full `4xx` reply line.
 */
export interface Deferral {
  readonly when: 'if-permit' | 'if-reject';
  readonly reply: string;
}

/** Extra facts a step reports for the decision's log line (server answer, latency, ...). */
export type StepDetail = Readonly<Record<string, string | number | boolean | null>>;

export interface StepContext {
  readonly facts: SessionFacts;
  readonly phase: RulePhase;
  readonly request: FilterPhase;
  readonly clock: Clock;
  /** Aborted when the session disconnects or the request's deadline passes. */
  readonly signal: AbortSignal;
  /**
   * The same abort as `signal`, as a plain callback: called once with the
   * reason (at once if already aborted); returns an unsubscribe function.
   * Much cheaper than a listener on `signal` (the runtime makes that
   * AbortSignal only when a step reads it), so a step that only needs to stop
   * a timer uses this. Optional: runners must work with `signal` alone.
   */
  readonly onAbort?: (listener: (reason: unknown) => void) => () => void;
  /**
   * When smtpd sent the request: its timestamp, in wall-clock milliseconds
   * (smtpd stamps each line with the same clock as `clock.now()`). A step
   * that waits (pause) counts from it, so that time the request spent queued
   * before the filter read it is not added to the client's wait. Optional.
   */
  readonly requestedAt?: number;
}

export interface StepRunner {
  readonly step: CompiledStep;
  /**
   * Work to start when the session connects, before any step of the chain
   * runs (a DNS list's lookup, so that it runs while a pause does). Called
   * for the kinds whose definition sets `startsAtConnect`; must not throw.
   */
  startEarly?(facts: SessionFacts): void;
  /**
   * Read the message (a commit step of a kind that reads messages: rspamd,
   * DKIM). Called at the client's final `.`, while the runtime holds the
   * message's lines, when the step's `when` holds; bounded by the kind's
   * deadline. The reading's edits are applied to the header before the lines
   * go back to smtpd, and `run` at commit finds the reading in
   * `facts.messageReadings` (by step index). A throw or a rejection becomes
   * the step's on-error at commit.
   */
  readMessage?(ctx: MessageContext): Promise<MessageReading>;

  /**
   * The session ended (link-disconnect, or forgotten by the session table):
   * release what the runner holds for it (a concurrency limit's place).
   * Called once per session for every runner of its plan that has it; must not throw.
   */
  endSession?(sessionId: string): void;
  /** May throw or reject: the runtime turns that into the step's on-error decision. */
  run(ctx: StepContext): StepOutcome | Promise<StepOutcome>;
}

export interface MessageContext {
  /** The facts as at commit (sender, recipients, size). */
  readonly facts: SessionFacts;
  readonly message: MessageView;
  readonly clock: Clock;
  /** Aborted at the deadline or when the session disconnects. */
  readonly signal: AbortSignal;
}

/** A runner's failure that is a timeout of its own: the fault says `timedOut`. */
export class StepDeadlineError extends Error {
  readonly timedOut = true;
  constructor(message: string) {
    super(message);
    this.name = 'StepDeadlineError';
  }
}
