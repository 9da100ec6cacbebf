/**
 * The data-line phase: echo every message line as received (byte-exact,
 * dot-stuffed as received), after inserting the headers steps asked for as
 * the first lines of the message, and echo the client's final `.` exactly
 * once. smtpd exits on any data line after our `.`, so the stream ends there.
 *
 * A session whose chain reads messages (message-hold.ts) holds the lines
 * instead, the added headers first, and writes them at the client's `.`.
 */
import type { ProtocolWriter } from '../protocol/writer.js';
import type { MessageHold } from './message-hold.js';
import type { Session } from './session.js';

/** Starts holding a message of `session` (its first data-line came), or null: echo it. */
export type HoldStarter = (session: Session, token: string) => MessageHold | null;

export interface DataLine {
  readonly sessionId: string;
  readonly token: string;
  readonly line: string;
  readonly encoding: 'utf8' | 'latin1';
}

/** Dot-stuff one line we add (smtpd's stream is raw SMTP: a leading `.` is doubled). */
export function stuff(line: string): string {
  return line.startsWith('.') ? `.${line}` : line;
}

/** Handle one data-line request; `session` is null when the session is unknown (lines are still echoed). */
export function streamDataLine(session: Session | null, request: DataLine, writer: ProtocolWriter, startHold?: HoldStarter): void {
  const { sessionId, token } = request;
  if (session !== null && !session.streaming) {
    session.streaming = true;
    session.messageBytes = 0;
    const hold = (session.hold = startHold?.(session, token) ?? null);
    for (const header of session.takeHeaders()) {
      if (hold !== null) hold.push(stuff(header), 'utf8');
      else writer.send({ kind: 'filter-dataline', sessionId, token, line: stuff(header), encoding: 'utf8' });
      session.messageBytes += Buffer.byteLength(header) + 2;
    }
  }
  const hold = session?.hold ?? null;
  if (request.line === '.') {
    if (session !== null) session.streaming = false;
    if (session !== null && hold !== null && hold.holding) {
      hold.end(token, session.facts('commit', 'commit', ''), (readings, damaged) => {
        session.messageReadings = readings;
        session.messageDamaged = damaged;
        if (session.hold === hold) session.hold = null;
      });
      return;
    }
    writer.send({ kind: 'filter-dataline', sessionId, token, line: request.line, encoding: request.encoding });
    return;
  }
  if (hold !== null && hold.holding) hold.push(request.line, request.encoding);
  else writer.send({ kind: 'filter-dataline', sessionId, token, line: request.line, encoding: request.encoding });
  if (session !== null && session.messageBytes !== null) {
    // Size as it will reach the queue: the line's bytes, unstuffed, plus CRLF.
    const bytes = Buffer.byteLength(request.line, request.encoding);
    session.messageBytes += bytes - (request.line.startsWith('.') ? 1 : 0) + 2;
  }
}
