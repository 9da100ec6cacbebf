/**
 * SMTP dot-stuffing (RFC 5321 4.5.2) of one line of smtpd's data-line stream,
 * which is raw SMTP: a body line `.x` arrives as `..x` (protocol.md §5.6).
 * A reader of the message unstuffs; whatever goes back to smtpd is stuffed
 * again. Pure.
 */

/** The line as the message holds it: one leading `.` removed, if any. */
export function unstuffLine(line: string): string {
  return line.startsWith('.') ? line.slice(1) : line;
}

/** The line as the data-line stream carries it: a leading `.` doubled. */
export function stuffLine(line: string): string {
  return line.startsWith('.') ? `.${line}` : line;
}

/** The same on bytes (latin1 lines, spooled lines): 0x2e is `.`. */
export function unstuffBytes(line: Uint8Array): Uint8Array {
  return line.length > 0 && line[0] === 0x2e ? line.subarray(1) : line;
}
