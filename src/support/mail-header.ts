/**
 * The one gate for header lines we add to a message from outside input (a
 * policy server's PREPEND, a greylist header with a configured host name):
 * whatever reaches smtpd's data-line stream is a well-formed RFC 5322 field
 * on one physical line. Pure; callers log what it reports.
 *
 * - Field name (RFC 5322 3.6.8): one or more printable US-ASCII characters
 *   other than colon (33–57, 59–126), then `:`. Anything else is refused:
 *   a line that is not a header would end the header block early and turn
 *   the rest of the headers into body text.
 * - Field body (3.2.5, 2.2): no control characters but HTAB. CR and LF
 *   would start a new header (or the body) of the server's choosing; NUL,
 *   VT, FF, ESC, DEL and the C1 controls (U+0080–U+009F) are refused by
 *   strict parsers and drive terminals. Each becomes a space, so the text
 *   around them stays readable and word boundaries stay where they were.
 *   A lone UTF-16 surrogate (not text; it would be written as U+FFFD) also
 *   becomes a space.
 * - Length (2.1.1): a line is at most 998 octets. Longer lines are cut at
 *   998 octets (at a character boundary) rather than folded: folding needs
 *   whitespace where the server may have put none, and no header a policy
 *   server means is anywhere near that long (postgrey's is ~100).
 *
 * Invalid UTF-8 cannot be seen here (the bytes were decoded before): the
 * policy answer decoder reports it, and the PREPEND is refused there.
 */
import { err, ok, type Result } from './result.js';

/** RFC 5322 2.1.1: "Each line of characters MUST be no more than 998 characters" (octets, excluding CRLF). */
export const MAX_HEADER_LINE_OCTETS = 998;

/** What the sanitiser changed: `controls` replaced by spaces, line `cut` to 998 octets. */
export type HeaderFix = 'controls' | 'cut';

export interface SanitizedHeader {
  /** The header line to add, without line ending. */
  readonly line: string;
  /** Empty when the line was already clean. */
  readonly fixed: readonly HeaderFix[];
}

const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+:/;

/** Controls other than HTAB (C0, DEL, C1) and unpaired surrogates. */
const UNSAFE_IN_VALUE = /[\x00-\x08\x0a-\x1f\x7f-\x9f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const UNSAFE_TEST = new RegExp(UNSAFE_IN_VALUE.source);

const NO_FIXES: readonly HeaderFix[] = Object.freeze([]);

/** `Name: value` made safe, or why it cannot be a header (a sentence for a log line). */
export function sanitizeHeaderLine(line: string): Result<SanitizedHeader, string> {
  const name = FIELD_NAME.exec(line);
  if (name === null) return err('not a "name: value" header (the name must be printable ASCII without spaces, then a colon)');
  let out = line;
  const fixed: HeaderFix[] = [];
  if (UNSAFE_TEST.test(out)) {
    out = out.replace(UNSAFE_IN_VALUE, ' ');
    fixed.push('controls');
  }
  if (out.length > MAX_HEADER_LINE_OCTETS / 3 && Buffer.byteLength(out, 'utf8') > MAX_HEADER_LINE_OCTETS) {
    out = cutToOctets(out, MAX_HEADER_LINE_OCTETS);
    fixed.push('cut');
  }
  return ok({ line: out, fixed: fixed.length === 0 ? NO_FIXES : fixed });
}

/** The longest prefix of `text` whose UTF-8 encoding fits in `max` octets, never splitting a character. */
function cutToOctets(text: string, max: number): string {
  let octets = 0;
  let end = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (octets + size > max) break;
    octets += size;
    end += ch.length;
  }
  return text.slice(0, end);
}
