/**
 * Framing of smtpd's byte stream into lines, on `\n` only: smtpd strips only
 * `\n`, so a `\r` before it stays part of the line (and the parser sees it).
 *
 * Lines are handed out decoded, each as a fresh string (never a slice of a
 * bigger one, so a session keeping a field does not pin a whole input chunk):
 *  - valid UTF-8 → a normal string, flagged `utf8`;
 *  - anything else → a latin1 string (one char per byte) flagged `latin1`.
 * Both round-trip exactly (`Buffer.from(text, encoding)` gives the same bytes),
 * which is what data-line needs: message bodies are often 8-bit non-UTF-8 and
 * must be echoed byte for byte. Replacement-character decoding would corrupt them.
 *
 * Speed: the complete lines of a chunk are checked once, as a block (`\n` is
 * never part of a multi-byte UTF-8 sequence, so the block is valid UTF-8 if and
 * only if every line in it is), and only a block with an 8-bit line is checked
 * line by line. Pure ASCII, smtpd's usual traffic, is decoded as latin1, the
 * cheapest decoder, and is the same text.
 *
 * Lines longer than `maxLineBytes` are not buffered: once the limit is passed
 * the reader drops bytes until the next `\n`, reports the oversize line and resyncs.
 */

import { isAscii, isUtf8 } from 'node:buffer';

/** smtpd's longest line is a data-line of ~65.6 KB; 1 MiB leaves room for future versions. */
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

export type LineEncoding = 'utf8' | 'latin1';

export interface LineReaderEvents {
  /** One line without its `\n`, decoded as described above. */
  line(text: string, encoding: LineEncoding): void;
  /** A line exceeded the limit and was dropped; `bytes` is its full length. */
  oversize(bytes: number): void;
}

export interface DecodedLine {
  readonly text: string;
  readonly encoding: LineEncoding;
}

export function decodeLine(line: Buffer): DecodedLine {
  if (isUtf8(line)) return { text: line.toString('utf8'), encoding: 'utf8' };
  return { text: line.toString('latin1'), encoding: 'latin1' };
}

const LF = 10;

export class LineReader {
  /** Bytes of the current, unfinished line (only while under the limit). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Length of an oversize line being skipped, or -1 when not skipping. */
  private skipped = -1;

  constructor(
    private readonly events: LineReaderEvents,
    private readonly maxLineBytes: number = DEFAULT_MAX_LINE_BYTES,
  ) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer, got ${maxLineBytes}`);
    }
  }

  push(chunk: Buffer): void {
    let start = 0;
    if (this.pendingBytes > 0 || this.skipped >= 0) {
      // First finish the line carried over from earlier chunks.
      const nl = chunk.indexOf(LF);
      this.take(chunk.subarray(0, nl < 0 ? chunk.length : nl));
      if (nl < 0) return;
      this.finishLine();
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(LF);
    if (last >= start) {
      this.block(chunk, start, last);
      start = last + 1;
    }
    if (start < chunk.length) this.take(chunk.subarray(start));
  }

  /**
   * End of input. A final line without `\n` is incomplete (smtpd always ends
   * lines): it is not delivered; the count of its bytes is returned for the log.
   */
  end(): number {
    const dangling = this.skipped >= 0 ? this.skipped : this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.skipped = -1;
    return dangling;
  }

  /** The complete lines of `chunk` from `start` up to the `\n` at `last`. */
  private block(chunk: Buffer, start: number, last: number): void {
    const view = chunk.subarray(start, last);
    const mode = isAscii(view) ? 'ascii' : isUtf8(view) ? 'utf8' : 'mixed';
    let from = start;
    while (from <= last) {
      const nl = chunk.indexOf(LF, from);
      const bytes = nl - from;
      if (bytes > this.maxLineBytes) {
        this.events.oversize(bytes);
      } else if (mode === 'ascii') {
        this.events.line(chunk.toString('latin1', from, nl), 'utf8');
      } else if (mode === 'utf8') {
        this.events.line(chunk.toString('utf8', from, nl), 'utf8');
      } else {
        const { text, encoding } = decodeLine(chunk.subarray(from, nl));
        this.events.line(text, encoding);
      }
      from = nl + 1;
    }
  }

  private take(part: Buffer): void {
    if (part.length === 0) return;
    if (this.skipped >= 0) {
      this.skipped += part.length;
      return;
    }
    if (this.pendingBytes + part.length > this.maxLineBytes) {
      this.skipped = this.pendingBytes + part.length;
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    // Copy: the chunk's memory may be reused by the stream after this call.
    this.pending.push(Buffer.from(part));
    this.pendingBytes += part.length;
  }

  private finishLine(): void {
    if (this.skipped >= 0) {
      const bytes = this.skipped;
      this.skipped = -1;
      this.events.oversize(bytes);
      return;
    }
    const line =
      this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    const { text, encoding } = decodeLine(line);
    this.events.line(text, encoding);
  }
}
