/**
 * The hold-the-message path: for a session whose chain has a commit step
 * that reads the message (rspamd; DKIM and DMARC later), the data-lines are
 * kept in a MessageBuffer instead of being echoed. At the client's final `.`
 * each such step reads the message (bounded by its deadline), the header
 * edits they ask for are applied, and the lines and the `.` go back to smtpd.
 * What each step found waits in the session for the commit request, where
 * the steps answer (run) from it.
 *
 * Every line goes back exactly once, on every path: a step that fails or
 * times out (its reading is a fault, answered per its on-error at commit),
 * edits that cannot be applied (the message goes back unedited), a session
 * that disconnects (the steps are aborted, the lines still written: smtpd
 * ignores lines of a session that is gone), a reload (the session keeps its
 * plan). The buffer is disposed once the lines are out. Only a message that
 * cannot be read back (a spool read error) loses lines: the session is then
 * marked `damaged`, and its commit is tempfailed, never delivered short.
 */
import { MessageBuffer, type MessageBufferOptions } from '../message/buffer.js';
import type { HeaderEdit, MessageOutcome, MessageReading } from '../model/message.js';
import type { SessionFacts } from '../model/plan.js';
import type { MessageContext } from '../model/runner.js';
import type { ProtocolWriter } from '../protocol/writer.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import type { MessageStep } from './plan.js';

export interface MessageHoldDeps {
  readonly writer: ProtocolWriter;
  readonly clock: Clock;
  readonly log: Logger;
  readonly buffer?: MessageBufferOptions;
}

/** Why a reading has no result: the deadline passed, or the session went away. */
class ReadingAborted extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
    this.name = 'ReadingAborted';
  }
}

type State = 'holding' | 'reading' | 'done';

export class MessageHold {
  private readonly buffer: MessageBuffer;
  private state: State = 'holding';
  /** The aborts of the readings in flight. */
  private readonly aborts: AbortController[] = [];
  /** The token of the data-line requests (the same for every line of a message). */
  private token: string;

  constructor(
    private readonly sessionId: string,
    token: string,
    private readonly steps: readonly MessageStep[],
    private readonly deps: MessageHoldDeps,
  ) {
    this.token = token;
    this.buffer = new MessageBuffer(deps.buffer);
  }

  get holding(): boolean {
    return this.state === 'holding';
  }

  /** One data-line as smtpd sent it (dot-stuffed), or a header line we add (already stuffed), but not the final `.`. */
  push(line: string, encoding: 'utf8' | 'latin1'): void {
    this.buffer.push(line, encoding);
  }

  /**
   * The client's `.` came: read, edit, write the lines and the `.`; then
   * `done` with the readings by step index and whether the message was lost.
   */
  end(token: string, facts: SessionFacts, done: (readings: Map<number, MessageOutcome>, damaged: boolean) => void): void {
    if (this.state !== 'holding') return;
    this.state = 'reading';
    this.token = token;
    this.buffer.end();
    const readings = new Map<number, MessageOutcome>();
    const running: MessageStep[] = [];
    for (const s of this.steps) {
      try {
        if (s.planned.step.when !== null && !s.planned.step.when(facts)) continue;
      } catch (error) {
        readings.set(s.planned.step.index, { ok: false, error: messageOf(error), timedOut: false });
        continue;
      }
      running.push(s);
    }
    let left = running.length;
    const settled = (): void => {
      if (--left > 0) return;
      const damaged = this.flush(true, readings);
      done(readings, damaged);
    };
    if (left === 0) {
      done(readings, this.flush(true, readings));
      return;
    }
    for (const s of running) this.read(s, facts, readings, settled);
  }

  /**
   * The session ended (link-disconnect). Readings in flight are aborted (their
   * `end` then writes the lines); a message still arriving is written as far
   * as it came, without a `.` (the client's never came), and disposed.
   */
  disconnect(): void {
    switch (this.state) {
      case 'holding':
        this.state = 'done';
        this.flush(false, new Map());
        return;
      case 'reading':
        for (const a of this.aborts) a.abort(new ReadingAborted('session disconnected', false));
        return;
      case 'done':
        return;
    }
  }

  private read(s: MessageStep, facts: SessionFacts, readings: Map<number, MessageOutcome>, settled: () => void): void {
    const index = s.planned.step.index;
    const abort = new AbortController();
    this.aborts.push(abort);
    let finished = false;
    const finish = (outcome: MessageOutcome): void => {
      if (finished) return;
      finished = true;
      timer.cancel();
      readings.set(index, outcome);
      settled();
    };
    const timer = this.deps.clock.setTimer(s.deadlineMs, () => {
      const error = new ReadingAborted(`message step did not answer within ${s.deadlineMs} ms`, true);
      abort.abort(error);
      finish({ ok: false, error: error.message, timedOut: true });
    });
    abort.signal.addEventListener('abort', () => {
      const reason: unknown = abort.signal.reason;
      finish({ ok: false, error: messageOf(reason), timedOut: isTimeout(reason) });
    });
    const ctx: MessageContext = { facts, message: this.buffer, clock: this.deps.clock, signal: abort.signal };
    let pending: Promise<MessageReading>;
    try {
      pending = s.readMessage(ctx);
    } catch (error) {
      finish({ ok: false, error: messageOf(error), timedOut: isTimeout(error) });
      return;
    }
    pending.then(
      (reading) => finish({ ok: true, reading }),
      (error: unknown) => finish({ ok: false, error: messageOf(error), timedOut: isTimeout(error) }),
    );
  }

  /** Write the held lines (edited) and, when the client's `.` came, the `.`; dispose. True when lines were lost. */
  private flush(withDot: boolean, readings: ReadonlyMap<number, MessageOutcome>): boolean {
    this.state = 'done';
    const edits = withDot ? this.editsOf(readings) : [];
    let damaged = false;
    try {
      let lines;
      try {
        lines = this.buffer.outputLines(edits);
      } catch (error) {
        this.deps.log.error({ session: this.sessionId, err: messageOf(error) }, 'header edits could not be applied; the message goes back unedited');
        lines = this.buffer.outputLines([]);
      }
      for (const out of lines) this.send(out.line, out.encoding);
    } catch (error) {
      // The spool could not be read back: what is left of the message is gone.
      damaged = true;
      this.deps.log.error({ session: this.sessionId, err: messageOf(error) }, 'held message could not be read back; its commit will be tempfailed');
    } finally {
      this.buffer.dispose();
    }
    if (withDot) this.send('.', 'utf8');
    return damaged;
  }

  /** The edits of the readings, in chain order; a dry-run step's are not applied. */
  private editsOf(readings: ReadonlyMap<number, MessageOutcome>): HeaderEdit[] {
    const edits: HeaderEdit[] = [];
    for (const s of this.steps) {
      if (s.planned.step.dryRun === true) continue;
      const outcome = readings.get(s.planned.step.index);
      if (outcome?.ok === true) edits.push(...outcome.reading.edits);
    }
    return edits;
  }

  private send(line: string, encoding: 'utf8' | 'latin1'): void {
    this.deps.writer.send({ kind: 'filter-dataline', sessionId: this.sessionId, token: this.token, line, encoding });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isTimeout(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { timedOut?: unknown }).timedOut === true;
}
