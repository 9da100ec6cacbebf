/**
 * The scripted SMTP conversation run by smtp-client.ts inside smtpd's network
 * namespace: its input (a DialogScript, passed as JSON) and its output (a
 * DialogResult, printed as JSON). Pure types and the reply parser live here so
 * the test side and the client share them.
 */

/** One step after the banner. */
export type DialogStep =
  /** Send `line` + CRLF and read one reply. */
  | { readonly kind: 'command'; readonly line: string }
  /** After a 354: send the message (dot-stuffed, CRLF line ends) and the final `.`, read one reply. */
  | { readonly kind: 'message'; readonly text: string }
  /**
   * Keep the session open, sending nothing: create `reachedFile`, then wait until
   * `releaseFile` exists. Lets a test act in the middle of a session (reload the
   * rules, say) and then go on with it. Files, because the client is another
   * process in another network namespace; the file system is shared.
   */
  | { readonly kind: 'hold'; readonly reachedFile: string; readonly releaseFile: string };

export interface DialogScript {
  readonly host: string;
  readonly port: number;
  /** Source address to bind (e.g. 127.0.0.5, 198.51.100.7); must be local in the namespace. */
  readonly localAddress?: string;
  /** Bytes written right after connect, before the banner (early talker). */
  readonly early?: string;
  readonly steps: readonly DialogStep[];
  /**
   * After a 4xx/5xx reply to a command: stop there, send QUIT and wait for the close
   * (what a polite client does). Default true.
   */
  readonly quitOnError?: boolean;
  /** Whole-dialog limit; the client reports `timedOut` instead of hanging. */
  readonly timeoutMs: number;
}

export interface Reply {
  /** Three-digit code of the last line. */
  readonly code: number;
  /** Every line, without CRLF (`250-…`, …, `250 …`). */
  readonly lines: readonly string[];
  /** Milliseconds since the client started to connect (so never earlier than smtpd saw it). */
  readonly at: number;
}

export interface Exchange {
  /** What was sent: the command line, or `<message>` for a message body. */
  readonly sent: string;
  readonly reply: Reply | null;
}

export interface DialogResult {
  /** Milliseconds from starting to connect until the 'connect' event ran. */
  readonly connectMs: number;
  /** Wall clock (Date.now()) when the client started to connect, to compare clients. */
  readonly startedAtEpochMs: number;
  readonly banner: Reply | null;
  /** Replies that arrived without a command of ours (e.g. the 500 after an early talk). */
  readonly unsolicited: readonly Reply[];
  readonly exchanges: readonly Exchange[];
  /** The server closed the connection (EOF seen) before we gave up waiting. */
  readonly closedByServer: boolean;
  /** When EOF arrived, ms since the client started to connect. */
  readonly eofAt: number | null;
  readonly timedOut: boolean;
  /** Connection error text (ECONNREFUSED, ECONNRESET...), if any. */
  readonly error: string | null;
}

/**
 * Incremental SMTP reply parser: feed CRLF-terminated lines, get complete replies
 * (`250-a`, `250-b`, `250 c` → one reply). A line that does not look like a reply
 * line still ends a reply (code 0), so garbage cannot make the client wait forever.
 */
export class ReplyAssembler {
  #pending: string[] = [];

  /** Returns the finished reply when `line` completes one. */
  push(line: string): { code: number; lines: string[] } | null {
    this.#pending.push(line);
    const m = /^(\d{3})([ -])?/.exec(line);
    if (m !== null && m[2] === '-') return null;
    const lines = this.#pending;
    this.#pending = [];
    return { code: m === null ? 0 : Number(m[1]), lines };
  }
}

/** Dot-stuff a message body and terminate it, as SMTP requires (RFC 5321 §4.5.2). */
export function encodeMessage(text: string): string {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n') + '\r\n.\r\n';
}

/** A reply's lines as one string for messages and regex assertions. */
export function replyText(reply: Reply | null | undefined): string {
  return reply === null || reply === undefined ? '<no reply>' : reply.lines.join('\n');
}
