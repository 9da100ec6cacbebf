/**
 * One filter request → exactly one answer. Finds the session, applies accept
 * scopes, runs the phase's steps, adapts the decision to the phase, answers
 * through the dispatcher, and writes one log line per decision that is not a
 * plain proceed.
 *
 * A session the table does not know (evicted from a full table, or its
 * link-connect never arrived) is judged only where the request itself is the
 * whole story: a connect request carries the client's address and rDNS. At
 * any later phase its facts (address, rDNS, HELO, sender…) are gone, and
 * judging without them would make the client look local or nameless (skipped
 * greylisting, `when not rdns` refusing with a 5xx): such a request gets the
 * phase's tempfail, and no rule runs.
 */
import type { FilterDecision } from '../model/decision.js';
import type { CompiledStep } from '../model/plan.js';
import { parseConnectParam } from '../protocol/parse.js';
import { rulePhaseOfRequest, type RulePhase } from '../model/phases.js';
import { printableText } from '../support/printable.js';
import type { FilterRequestLine } from '../protocol/types.js';
import type { ProtocolWriter } from '../protocol/writer.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { LogThrottle } from '../support/log-throttle.js';
import { sanitizeHeaderLine } from '../support/mail-header.js';
import { streamDataLine } from './data-stream.js';
import { MessageHold } from './message-hold.js';
import { AbortScope } from './abort-scope.js';
import { adaptToPhase, tempfailDecision } from '../protocol/smtpd-rules.js';
import { replyOf } from '../model/decision.js';
import { type Dispatcher, type Pending, type RequestRef } from './dispatcher.js';
import { evaluate, evaluateThen, type Evaluation, type EvaluationJob } from './evaluator.js';
import { explainStep, logDryRuns, scoreField } from './explain.js';
import type { RuntimeEvents } from './events.js';
import { Session } from './session.js';
import type { ActivePlan, PlannedStep } from './plan.js';
import type { SessionTable } from './session-table.js';

const PROCEED: FilterDecision = { type: 'proceed' };


export interface RequestHandlerOptions {
  readonly sessions: SessionTable;
  /** The rules version for sessions starting now. */
  readonly currentPlan: () => ActivePlan;
  readonly dispatcher: Dispatcher;
  readonly writer: ProtocolWriter;
  readonly clock: Clock;
  readonly log: Logger;
  /** Whether data-line was registered at startup (headers can only be added then). */
  readonly dataLineRegistered: () => boolean;
  /** Told about steps, decisions, faults, dry-runs and unknown sessions (events.ts). */
  readonly events?: RuntimeEvents;
}

export class RequestHandler {
  /** Unknown sessions come in floods when the table overflows: their log lines are rationed. */
  private readonly unknownThrottle: LogThrottle;

  constructor(private readonly o: RequestHandlerOptions) {
    this.unknownThrottle = new LogThrottle(o.clock, o.log);
  }

  handle(request: FilterRequestLine, encoding: 'utf8' | 'latin1'): void {
    if (request.phase === 'data-line') {
      const session = this.o.sessions.get(request.sessionId) ?? null;
      try {
        streamDataLine(session, { sessionId: request.sessionId, token: request.token, line: request.param, encoding }, this.o.writer, this.startHold);
      } catch (error) {
        this.lineFault(session, request, encoding, error);
      }
      return;
    }
    const ref: RequestRef = { sessionId: request.sessionId, token: request.token, phase: request.phase };
    const phase = rulePhaseOfRequest(request.phase);
    if (phase === null) {
      // starttls, auth, rset, quit, noop…: rules never run there.
      this.o.dispatcher.answerNow(ref, PROCEED);
      return;
    }
    let pending: Pending | null = null;
    let answered = false;
    try {
      const session = this.sessionFor(request, ref, phase);
      if (session === null) {
        answered = true;
        return;
      }
      session.beginRequest(phase, request.param);
      if (phase === 'connect') startEarly(session, request);
      if (phase === 'commit' && session.messageDamaged) {
        // Lines of the held message were lost (message-hold.ts): never deliver it short.
        answered = true;
        const decision = tempfailDecision(request.phase);
        this.o.dispatcher.answerNow(ref, decision);
        this.o.log.error({ session: session.id, phase: ref.phase, client: session.client, reply: replyOf(decision) }, 'held message was damaged; commit tempfailed');
        return;
      }
      const plan = session.plan.phases.get(phase);
      if (plan === undefined || session.isAccepted(phase)) {
        answered = true;
        this.o.dispatcher.answerNow(ref, PROCEED);
        this.o.events?.decision?.({
          type: 'decision',
          sessionId: ref.sessionId,
          client: session.client,
          request: ref.phase,
          phase,
          kind: 'none',
          sent: PROCEED,
          note: null,
          evaluation: null,
          ms: 0,
        });
        return;
      }
      // The clock is read only for requests that may wait: a synchronous
      // evaluation takes microseconds, and each read costs about 0.1 µs here.
      const started = plan.mayBeAsync ? this.o.clock.monotonic() : null;
      if (plan.mayBeAsync) pending = this.o.dispatcher.open(ref, plan.budgetMs);
      const events = this.o.events;
      const job: EvaluationJob = {
        steps: plan.steps,
        facts: session.facts(phase, request.phase, request.param),
        phase,
        request: request.phase,
        clock: this.o.clock,
        abort: pending?.abort ?? AbortScope.never,
        requestedAt: request.timestamp * 1000,
        // Only when something wants to know (a closure per request otherwise).
        onStep:
          plan.delaysClient || events?.stepStarted !== undefined
            ? (planned: PlannedStep) => {
                if (planned.delaysClient) session.paused = true;
                events?.stepStarted?.(planned.step, session.id);
              }
            : undefined,
      };
      if (pending !== null) {
        // May answer later: the outcome comes through callbacks (no promise per request).
        const open = pending;
        const now = evaluateThen(job, {
          done: (evaluation) => {
            // Not open: the session disconnected, or the watchdog already answered.
            if (open.state === 'open') open.answer(this.conclude(session, phase, ref, evaluation, started));
          },
          failed: (error) => this.bug(ref, error, (d) => open.answer(d)),
        });
        if (now !== null) {
          answered = true;
          open.answer(this.conclude(session, phase, ref, now, started));
        }
        return;
      }
      const result = evaluate(job);
      if (!(result instanceof Promise)) {
        const decision = this.conclude(session, phase, ref, result, started);
        answered = true;
        this.o.dispatcher.answerNow(ref, decision);
        return;
      }
      // Only steps of "synchronous" kinds ran, and one went async anyway (a custom runner).
      const open = (pending = this.o.dispatcher.open(ref, plan.budgetMs));
      const since = this.o.clock.monotonic();
      result
        .then((evaluation) => {
          if (open.state === 'open') open.answer(this.conclude(session, phase, ref, evaluation, since));
        })
        .catch((error: unknown) => this.bug(ref, error, (d) => open.answer(d)));
    } catch (error) {
      // evaluate() turns step errors into values; reaching here is a bug of ours.
      const open = pending;
      this.bug(ref, error, (d) => {
        if (open !== null) return open.answer(d);
        if (answered) return false;
        answered = true;
        this.o.dispatcher.answerNow(ref, d);
        return true;
      });
    }
  }

  /**
   * The session to judge the request in, or null when the request has been
   * answered here because the session is unknown. No Session is made for an
   * unknown session after connect: without one, each of its later requests is
   * unknown too and tempfailed the same way until link-disconnect, and a flood
   * of such requests cannot push known sessions out of the table.
   */
  private sessionFor(request: FilterRequestLine, ref: RequestRef, phase: RulePhase): Session | null {
    const known = this.o.sessions.get(request.sessionId);
    if (known !== undefined) return known;
    if (request.phase === 'connect') {
      // The connect request carries rdns and the address (or `local`): as much
      // as link-connect tells the rules at this phase.
      const session = new Session(request.sessionId, this.o.currentPlan());
      session.applyConnectParam(parseConnectParam(request.param));
      this.o.sessions.add(session);
      this.unknownThrottle.warn(
        { session: request.sessionId, phase: request.phase, client: session.client },
        'connect request for a session whose link-connect was not seen; judged on the request',
      );
      return session;
    }
    const steps = this.o.currentPlan().phases.get(phase)?.steps ?? [];
    if (!steps.some((s) => s.step.dryRun !== true)) {
      // No step could change the answer at this phase (none, or only dry-run
      // ones, which never do): there is nothing the missing facts could change.
      this.o.dispatcher.answerNow(ref, PROCEED);
      return null;
    }
    const decision = tempfailDecision(request.phase);
    this.o.dispatcher.answerNow(ref, decision);
    this.unknownThrottle.warn(
      { session: request.sessionId, phase: request.phase, reply: replyOf(decision) },
      'request for an unknown session (evicted from a full session table, or never seen connecting); answered with a tempfail, no rule ran',
    );
    this.o.events?.unknownSession?.({ type: 'unknown-session', sessionId: request.sessionId, request: request.phase, decision });
    return null;
  }

  /** Holds the message of a session whose chain has steps that read it, unless its transaction was accepted. */
  private readonly startHold = (session: Session, token: string): MessageHold | null => {
    const steps = session.plan.messageSteps;
    if (steps.length === 0 || session.isAccepted('commit')) return null;
    return new MessageHold(session.id, token, steps, { writer: this.o.writer, clock: this.o.clock, log: this.o.log });
  };

  /**
   * A bug of ours on the data-line path. The line still goes back (unless
   * the hold took it), so the stream stays whole; a hold that broke gives
   * its lines back and the commit is tempfailed.
   */
  private lineFault(session: Session | null, request: FilterRequestLine, encoding: 'utf8' | 'latin1', error: unknown): void {
    this.o.log.error({ session: request.sessionId, err: error instanceof Error ? (error.stack ?? error.message) : String(error) }, 'internal error on a data-line');
    const hold = session?.hold ?? null;
    // After the client's `.`, the hold writes the rest (and the `.`) itself.
    const lineIsOurs = hold === null || hold.holding;
    if (session !== null && hold !== null) {
      session.hold = null;
      session.messageDamaged = true;
      try {
        hold.disconnect();
      } catch {
        // Nothing more can be given back.
      }
    }
    if (lineIsOurs) {
      this.o.writer.send({ kind: 'filter-dataline', sessionId: request.sessionId, token: request.token, line: request.param, encoding });
    }
  }

  /** Apply the evaluation to the session, log it, and return the decision to send. */
  private conclude(session: Session, phase: RulePhase, ref: RequestRef, evaluation: Evaluation, started: number | null): FilterDecision {
    if (evaluation.kind === 'accept') session.accept(phase);
    if (evaluation.addHeaders.length > 0) this.keepHeaders(session, phase, evaluation.addHeaders);
    const adapted = adaptToPhase(evaluation.decision, ref.phase);
    const ms = started === null ? 0 : Math.round((this.o.clock.monotonic() - started) * 10) / 10;
    const events = this.o.events;
    for (const f of evaluation.faults) {
      this.o.log.warn(
        {
          session: session.id,
          phase: ref.phase,
          client: session.client,
          rule: where(f.step),
          step: f.step.action.kind,
          error: f.error,
          timedOut: f.timedOut,
          onError: f.step.onError,
        },
        'step failed',
      );
      events?.fault?.({ type: 'fault', sessionId: session.id, client: session.client, request: ref.phase, phase, fault: f });
    }
    events?.decision?.({
      type: 'decision',
      sessionId: session.id,
      client: session.client,
      request: ref.phase,
      phase,
      kind: evaluation.kind,
      sent: adapted.decision,
      note: adapted.note,
      evaluation,
      ms,
    });
    if (evaluation.kind !== 'end' || adapted.decision.type !== 'proceed') {
      this.o.log.info(
        {
          session: session.id,
          phase: ref.phase,
          client: session.client,
          rule: evaluation.step !== null ? where(evaluation.step) : null,
          step: evaluation.step?.action.kind ?? null,
          decision: evaluation.kind === 'accept' ? 'accept' : adapted.decision.type,
          reply: replyOf(adapted.decision),
          ms,
          ...(adapted.note !== null ? { note: adapted.note } : {}),
          ...(evaluation.fault !== null ? { fault: evaluation.fault.error } : {}),
          // An armed DEFER_IF_PERMIT / DEFER_IF_REJECT answered: what it overruled, and where that came from.
          ...(evaluation.deferred !== null
            ? {
                deferred: evaluation.deferred.by === 'if-permit' ? 'DEFER_IF_PERMIT' : 'DEFER_IF_REJECT',
                instead: evaluation.deferred.instead,
                ...(evaluation.deferred.insteadStep !== null ? { insteadRule: where(evaluation.deferred.insteadStep) } : {}),
              }
            : {}),
          // Explain: the condition that held and the values it read; the step's own latency.
          ...explainStep(evaluation.step, evaluation.facts),
          ...scoreField(evaluation.facts),
          ...(evaluation.stepMs !== null ? { stepMs: evaluation.stepMs } : {}),
          ...evaluation.detail,
        },
        'decision',
      );
    }
    if (evaluation.dryRuns.length > 0) {
      logDryRuns(this.o.log, { session: session.id, phase: ref.phase, client: session.client }, evaluation);
      if (events?.dryRun !== undefined) {
        for (const hit of evaluation.dryRuns) {
          events.dryRun({ type: 'dry-run', sessionId: session.id, client: session.client, request: ref.phase, phase, hit, facts: evaluation.facts });
        }
      }
    }
    return adapted.decision;
  }

  private keepHeaders(session: Session, phase: RulePhase, headers: readonly string[]): void {
    // Every header from a step goes through the one sanitiser, whatever the
    // step did already: nothing unsafe reaches the data-line stream.
    const clean: string[] = [];
    for (const h of headers) {
      const r = sanitizeHeaderLine(h);
      if (!r.ok) {
        this.o.log.error({ session: session.id, phase, header: printableText(h).slice(0, 200), err: r.error }, 'header line dropped');
        continue;
      }
      if (r.value.fixed.length > 0) this.o.log.warn({ session: session.id, phase, header: r.value.line.slice(0, 200), fixed: r.value.fixed }, 'header line sanitised');
      clean.push(r.value.line);
    }
    if (!this.o.dataLineRegistered()) {
      this.o.log.warn(
        { session: session.id, phase, headers: clean },
        'cannot add headers: data-line was not registered at startup (restart smtpd with rules that add headers)',
      );
      return;
    }
    switch (phase) {
      case 'connect':
      case 'helo':
        session.sessionHeaders.push(...clean);
        return;
      case 'mail-from':
      case 'rcpt-to':
      case 'data':
        session.transactionHeaders.push(...clean);
        return;
      case 'commit':
        this.o.log.warn({ session: session.id, phase, headers: clean }, 'cannot add headers at commit: the message has been sent');
        return;
    }
  }

  /** A bug of ours: answer the phase's tempfail (unless already answered) and log loudly. */
  private bug(ref: RequestRef, error: unknown, answer: (d: FilterDecision) => boolean): void {
    const decision = tempfailDecision(ref.phase);
    const sent = answer(decision);
    this.o.log.error(
      { session: ref.sessionId, phase: ref.phase, fallbackSent: sent, err: error instanceof Error ? (error.stack ?? error.message) : String(error) },
      'internal error while judging a request',
    );
  }
}

/** The work some kinds start at connect (DNS lookups), so that it runs while the connect steps (a pause) do. */
function startEarly(session: Session, request: FilterRequestLine): void {
  const runners = session.plan.startsAtConnect;
  if (runners.length === 0) return;
  const facts = session.facts('connect', request.phase, request.param);
  for (const runner of runners) runner.startEarly?.(facts);
}

function where(step: CompiledStep): string {
  return `${step.span.file}:${step.span.line}`;
}
