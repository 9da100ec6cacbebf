/**
 * The data-line phase: echo every message line as received (byte-exact,
 * dot-stuffed as received), after inserting the headers steps asked for as
 * the first lines of the message, and echo the client's final `.` exactly
 * once. smtpd exits on any data line after our `.`, so the stream ends there.
 */
import type { ProtocolWriter } from '../protocol/writer.js';
import type { Session } from './session.js';

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
export function streamDataLine(session: Session | null, request: DataLine, writer: ProtocolWriter): void {
  const { sessionId, token } = request;
  if (session !== null && !session.streaming) {
    session.streaming = true;
    session.messageBytes = 0;
    for (const header of session.takeHeaders()) {
      writer.send({ kind: 'filter-dataline', sessionId, token, line: stuff(header), encoding: 'utf8' });
      session.messageBytes += Buffer.byteLength(header) + 2;
    }
  }
  writer.send({ kind: 'filter-dataline', sessionId, token, line: request.line, encoding: request.encoding });
  if (request.line === '.') {
    if (session !== null) session.streaming = false;
    return;
  }
  if (session !== null && session.messageBytes !== null) {
    // Size as it will reach the queue: the line's bytes, unstuffed, plus CRLF.
    const bytes = Buffer.byteLength(request.line, request.encoding);
    session.messageBytes += bytes - (request.line.startsWith('.') ? 1 : 0) + 2;
  }
}
