/**
 * Header fields as physical lines (RFC 5322 2.2): a field is its first line
 * `Name: value` and the folded lines after it, each starting with SP or HTAB.
 * Lines are bytes, unstuffed and without line ending, as the message holds
 * them, so a field read from a message goes back out byte for byte. New
 * fields (from rspamd, a signer) are made here from a name and a value that
 * may span lines. Pure.
 */
import { MAX_HEADER_LINE_OCTETS } from '../support/mail-header.js';
import type { HeaderField } from '../model/message.js';
import { err, ok, type Result } from '../support/result.js';


const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/** A folded line (it continues the field above). */
export function isContinuationLine(line: Uint8Array): boolean {
  return line.length > 0 && (line[0] === SP || line[0] === HTAB);
}

/**
 * The field name a line starts, or null when it starts none: printable ASCII
 * but colon (33–57, 59–126), at least one, then a colon. Obsolete whitespace
 * before the colon (RFC 5322 4.5.8, `Subject :`) is allowed, as parsers take it.
 */
export function fieldNameOf(line: Uint8Array): string | null {
  let i = 0;
  while (i < line.length) {
    const c = line[i] as number;
    if (c === COLON || c <= SP || c > 0x7e) break;
    i++;
  }
  if (i === 0) return null;
  let j = i;
  while (j < line.length && (line[j] === SP || line[j] === HTAB)) j++;
  if (line[j] !== COLON) return null;
  return Buffer.from(line.subarray(0, i)).toString('latin1');
}

/** The same test for a name we are given (rspamd's JSON): RFC 5322's field-name. */
export function isFieldName(name: string): boolean {
  return /^[\x21-\x39\x3b-\x7e]+$/.test(name);
}

/** Field names compare without case (RFC 5322 1.2.2). */
export function sameName(a: string, b: string): boolean {
  return a.length === b.length && a.toLowerCase() === b.toLowerCase();
}

/** Controls but HTAB become spaces; CR and LF are line breaks and handled before. */
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A new field `name: value`. A value over several lines (rspamd folds its
 * ARC and DKIM headers; a server may send `\n` or `\r\n`) becomes one
 * physical line each; blank lines are dropped (one would end the header
 * block), a line that does not start with whitespace gets a tab (or it
 * would start a field of its own), controls become spaces, and a line is
 * cut to 998 octets. Refused: a name that is not a field name.
 */
export function makeField(name: string, value: string): Result<HeaderField, string> {
  if (!isFieldName(name)) return err(`not a header field name: ${JSON.stringify(name.slice(0, 60))}`);
  const parts = value
    .split(/\r\n|\r|\n/)
    .map((part) => part.replace(CONTROLS, ' '))
    .filter((part, i) => i === 0 || part.trim() !== '');
  const first = parts[0] ?? '';
  const lines = [`${name}: ${first.replace(/^[ \t]+/, '')}`, ...parts.slice(1).map((p) => (/^[ \t]/.test(p) ? p : `\t${p}`))];
  return ok({ name, lines: lines.map((l) => cutToOctets(Buffer.from(l.replace(/[ \t]+$/, ''), 'utf8'), MAX_HEADER_LINE_OCTETS)) });
}

/** A field from lines we hold as text (headers other steps asked for, already one line each and sanitised). */
export function fieldOfLine(line: string): HeaderField {
  const bytes = Buffer.from(line, 'utf8');
  return { name: fieldNameOf(bytes) ?? '', lines: [bytes] };
}

/** Cut to at most `max` bytes, never inside a UTF-8 sequence. */
function cutToOctets(bytes: Buffer, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
