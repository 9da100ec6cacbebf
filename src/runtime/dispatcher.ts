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
import { replyOf, type FilterDecision } from '../model/decision.js';
import { tempfailDecision } from '../protocol/smtpd-rules.js';
import type { FilterPhase } from '../model/phases.js';
import type { ProtocolWriter } from '../protocol/writer.js';
import type { Clock, TimerHandle } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { AbortScope } from './abort-scope.js';

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

/** What a Pending reports to its dispatcher (one pair of functions per dispatcher, not per request). */
interface PendingOwner {
  answered(pending: Pending, decision: FilterDecision): void;
  late(pending: Pending, why: PendingState): void;
}

export class Pending {
  private stateValue: PendingState = 'open';
  /** Aborted on disconnect or when the watchdog fires; the steps of the request follow it. */
  readonly abort: AbortScope = AbortScope.create();
  watchdog: TimerHandle | null = null;
  /** The next request open in the same session (another token): rare, so a list. */
  next: Pending | null = null;

  constructor(
    readonly ref: RequestRef,
    private readonly owner: PendingOwner,
  ) {}

  /** The abort as an AbortSignal (made on first use). */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get state(): PendingState {
    return this.stateValue;
  }

  /** Answer smtpd. Returns false (and writes nothing) when already answered or cancelled. */
  answer(decision: FilterDecision): boolean {
    if (this.stateValue !== 'open') {
      this.owner.late(this, this.stateValue);
      return false;
    }
    this.stateValue = 'answered';
    this.watchdog?.cancel();
    this.owner.answered(this, decision);
    return true;
  }

  /** Forget without answering. */
  cancel(reason: Error): void {
    if (this.stateValue !== 'open') return;
    this.stateValue = 'cancelled';
    this.watchdog?.cancel();
    this.abort.abort(reason);
  }

  /** The watchdog fired: answer the fallback, then abort whatever is still running. */
  expire(decision: FilterDecision, reason: Error): boolean {
    const answered = this.answer(decision);
    this.abort.abort(reason);
    return answered;
  }
}

export interface DispatcherOptions {
  readonly writer: ProtocolWriter;
  readonly clock: Clock;
  readonly log: Logger;
}

export class Dispatcher {
  /**
   * sessionId → its open requests, as a list through `Pending.next`. Outside
   * data-line smtpd has at most one request open per session.
   */
  private readonly pending = new Map<string, Pending>();
  private readonly writer: ProtocolWriter;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly owner: PendingOwner;

  constructor(options: DispatcherOptions) {
    this.writer = options.writer;
    this.clock = options.clock;
    this.log = options.log;
    this.owner = {
      answered: (p, decision) => {
        this.forget(p);
        this.write(p.ref, decision);
      },
      late: (p, why) => {
        if (why === 'answered') {
          this.log.warn({ session: p.ref.sessionId, phase: p.ref.phase }, 'second answer to a request ignored');
        } else {
          this.log.debug({ session: p.ref.sessionId, phase: p.ref.phase }, 'answer after disconnect dropped');
        }
      },
    };
  }

  /** Number of requests waiting for an answer. */
  get size(): number {
    let n = 0;
    for (const head of this.pending.values()) for (let p: Pending | null = head; p !== null; p = p.next) n++;
    return n;
  }

  /** Answer a request that was decided synchronously. */
  answerNow(ref: RequestRef, decision: FilterDecision): void {
    if (this.pending.size > 0) this.supersede(ref);
    this.write(ref, decision);
  }

  /**
   * Register a request that will be answered later. The watchdog answers the
   * phase's tempfail if nobody has after `budgetMs`.
   */
  open(ref: RequestRef, budgetMs: number): Pending {
    this.supersede(ref);
    const pending = new Pending(ref, this.owner);
    pending.next = this.pending.get(ref.sessionId) ?? null;
    this.pending.set(ref.sessionId, pending);
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
    // Most sessions end with nothing open: skip hashing the id for an empty map.
    if (this.pending.size === 0) return 0;
    const head = this.pending.get(sessionId);
    if (head === undefined) return 0;
    this.pending.delete(sessionId);
    const reason = new SessionGoneError();
    let n = 0;
    for (let p: Pending | null = head; p !== null; ) {
      const next: Pending | null = p.next;
      p.next = null;
      p.cancel(reason);
      n++;
      p = next;
    }
    return n;
  }

  /** Shutdown (stdin EOF): forget everything. */
  dropAll(): void {
    for (const id of [...this.pending.keys()]) this.dropSession(id);
  }

  private write(ref: RequestRef, decision: FilterDecision): void {
    this.writer.send({ kind: 'filter-result', sessionId: ref.sessionId, token: ref.token, phase: ref.phase, decision });
  }

  private find(ref: RequestRef): Pending | null {
    for (let p = this.pending.get(ref.sessionId) ?? null; p !== null; p = p.next) if (p.ref.token === ref.token) return p;
    return null;
  }

  private forget(target: Pending): void {
    const id = target.ref.sessionId;
    let prev: Pending | null = null;
    for (let p = this.pending.get(id) ?? null; p !== null; prev = p, p = p.next) {
      if (p !== target) continue;
      if (prev !== null) prev.next = p.next;
      else if (p.next !== null) this.pending.set(id, p.next);
      else this.pending.delete(id);
      p.next = null;
      return;
    }
  }

  /**
   * A request for a (session, token) that already has one open: smtpd waits
   * for an answer before it sends the next, so the old one is stale (e.g. a
   * missed link-disconnect and a reused id). Answering both would be fatal:
   * forget the old one, answer the new one.
   */
  private supersede(ref: RequestRef): void {
    const old = this.find(ref);
    if (old === null) return;
    this.log.error({ session: ref.sessionId, phase: ref.phase, previous: old.ref.phase }, 'new request while one was open; the old one is dropped unanswered');
    this.forget(old);
    old.cancel(new SessionGoneError());
  }
}
