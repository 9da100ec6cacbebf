/**
 * Exactly one answer per filter request. smtpd exits on a second answer, on
 * an answer with a stale token, and never times out a missing one
 * (protocol.md §5.5, §6), so every filter-result goes through here:
 *
 *  - pending requests are keyed by (session, token) — tokens repeat across
 *    sessions and within one;
 *  - a second answer is ignored and logged;
 *  - link-disconnect cancels a session's pending requests WITHOUT answering
 *    (a late answer could hit a reused session id with another request open);
 *  - a watchdog answers the fallback when a request outlives its budget.
 *
 * Synchronous evaluations call `answerNow` and never create a Pending.
 */
import type { FilterDecision } from '../actions/types.js';
import { tempfailDecision } from '../protocol/format.js';
import type { FilterPhase } from '../protocol/phases.js';
import type { ProtocolWriter } from '../protocol/writer.js';
import type { Clock, TimerHandle } from '../support/clock.js';
import type { Logger } from '../support/log.js';

export interface RequestRef {
  readonly sessionId: string;
  readonly token: string;
  readonly phase: FilterPhase;
}

export class DeadlineError extends Error {
  constructor(ms: number) {
    super(`request deadline of ${ms} ms passed`);
    this.name = 'DeadlineError';
  }
}

export class SessionGoneError extends Error {
  constructor() {
    super('session disconnected');
    this.name = 'SessionGoneError';
  }
}

type PendingState = 'open' | 'answered' | 'cancelled';

export class Pending {
  private stateValue: PendingState = 'open';
  private readonly controller = new AbortController();
  watchdog: TimerHandle | null = null;

  constructor(
    readonly ref: RequestRef,
    private readonly onAnswer: (pending: Pending, decision: FilterDecision) => void,
    private readonly onLate: (pending: Pending, why: PendingState) => void,
  ) {}

  /** Aborted on disconnect or when the watchdog fires. Steps watch it. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get state(): PendingState {
    return this.stateValue;
  }

  /** Answer smtpd. Returns false (and writes nothing) when already answered or cancelled. */
  answer(decision: FilterDecision): boolean {
    if (this.stateValue !== 'open') {
      this.onLate(this, this.stateValue);
      return false;
    }
    this.stateValue = 'answered';
    this.watchdog?.cancel();
    this.onAnswer(this, decision);
    return true;
  }

  /** Forget without answering. */
  cancel(reason: Error): void {
    if (this.stateValue !== 'open') return;
    this.stateValue = 'cancelled';
    this.watchdog?.cancel();
    this.controller.abort(reason);
  }

  /** The watchdog fired: answer the fallback, then abort whatever is still running. */
  expire(decision: FilterDecision, reason: Error): boolean {
    const answered = this.answer(decision);
    this.controller.abort(reason);
    return answered;
  }
}

export interface DispatcherOptions {
  readonly writer: ProtocolWriter;
  readonly clock: Clock;
  readonly log: Logger;
}

export class Dispatcher {
  /** sessionId → token → pending. Outside data-line smtpd has one request open per session. */
  private readonly pending = new Map<string, Map<string, Pending>>();
  private readonly writer: ProtocolWriter;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(options: DispatcherOptions) {
    this.writer = options.writer;
    this.clock = options.clock;
    this.log = options.log;
  }

  /** Number of requests waiting for an answer. */
  get size(): number {
    let n = 0;
    for (const tokens of this.pending.values()) n += tokens.size;
    return n;
  }

  /** Answer a request that was decided synchronously. */
  answerNow(ref: RequestRef, decision: FilterDecision): void {
    this.supersede(ref);
    this.write(ref, decision);
  }

  /**
   * Register a request that will be answered later. The watchdog answers the
   * phase's tempfail if nobody has after `budgetMs`.
   */
  open(ref: RequestRef, budgetMs: number): Pending {
    this.supersede(ref);
    const pending = new Pending(
      ref,
      (p, decision) => {
        this.forget(p);
        this.write(p.ref, decision);
      },
      (p, why) => {
        if (why === 'answered') {
          this.log.warn({ session: p.ref.sessionId, phase: p.ref.phase }, 'second answer to a request ignored');
        } else {
          this.log.debug({ session: p.ref.sessionId, phase: p.ref.phase }, 'answer after disconnect dropped');
        }
      },
    );
    let tokens = this.pending.get(ref.sessionId);
    if (tokens === undefined) {
      tokens = new Map();
      this.pending.set(ref.sessionId, tokens);
    }
    tokens.set(ref.token, pending);
    pending.watchdog = this.clock.setTimer(budgetMs, () => {
      pending.watchdog = null;
      const fallback = tempfailDecision(ref.phase);
      if (pending.expire(fallback, new DeadlineError(budgetMs))) {
        this.log.error(
          { session: ref.sessionId, phase: ref.phase, budgetMs, decision: fallback.type, reply: replyOf(fallback) },
          'request not answered in time; sent the fallback',
        );
      }
    });
    return pending;
  }

  /** The session ended: forget its requests without answering them. Returns how many there were. */
  dropSession(sessionId: string): number {
    const tokens = this.pending.get(sessionId);
    if (tokens === undefined) return 0;
    this.pending.delete(sessionId);
    const reason = new SessionGoneError();
    for (const p of tokens.values()) p.cancel(reason);
    return tokens.size;
  }

  /** Shutdown (stdin EOF): forget everything. */
  dropAll(): void {
    for (const id of [...this.pending.keys()]) this.dropSession(id);
  }

  private write(ref: RequestRef, decision: FilterDecision): void {
    this.writer.send({ kind: 'filter-result', sessionId: ref.sessionId, token: ref.token, phase: ref.phase, decision });
  }

  private forget(p: Pending): void {
    const tokens = this.pending.get(p.ref.sessionId);
    if (tokens?.get(p.ref.token) !== p) return;
    tokens.delete(p.ref.token);
    if (tokens.size === 0) this.pending.delete(p.ref.sessionId);
  }

  /**
   * A request for a (session, token) that already has one open: smtpd waits
   * for an answer before it sends the next, so the old one is stale (e.g. a
   * missed link-disconnect and a reused id). Answering both would be fatal:
   * forget the old one, answer the new one.
   */
  private supersede(ref: RequestRef): void {
    const old = this.pending.get(ref.sessionId)?.get(ref.token);
    if (old === undefined) return;
    this.log.error({ session: ref.sessionId, phase: ref.phase, previous: old.ref.phase }, 'new request while one was open; the old one is dropped unanswered');
    this.forget(old);
    old.cancel(new SessionGoneError());
  }
}

export function replyOf(decision: FilterDecision): string | null {
  switch (decision.type) {
    case 'reject':
    case 'disconnect':
      return decision.reply;
    case 'rewrite':
      return decision.value;
    case 'proceed':
    case 'junk':
      return null;
  }
}
