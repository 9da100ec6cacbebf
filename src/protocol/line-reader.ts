/**
 * Framing of smtpd's byte stream into lines, on `\n` only: smtpd strips only
 * `\n`, so a `\r` before it stays part of the line (and the parser sees it).
 *
 * Lines are handed out as Buffers and decoded by `decodeLine`:
 *  - valid UTF-8 → a normal string;
 *  - anything else → a latin1 string (one char per byte) flagged `latin1`.
 * Both round-trip exactly (`Buffer.from(text, encoding)` gives the same bytes),
 * which is what data-line needs: message bodies are often 8-bit non-UTF-8 and
 * must be echoed byte for byte. Replacement-character decoding would corrupt them.
 *
 * Lines longer than `maxLineBytes` are not buffered: once the limit is passed
 * the reader drops bytes until the next `\n`, reports the oversize line and resyncs.
 */

import { isUtf8 } from 'node:buffer';

/** smtpd's longest line is a data-line of ~65.6 KB; 1 MiB leaves room for future versions. */
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

export interface LineReaderEvents {
  /** The line without its `\n`. Only valid during the call: it may share the input chunk's memory. */
  line(line: Buffer): void;
  /** A line exceeded the limit and was dropped; `bytes` is its full length. */
  oversize(bytes: number): void;
}

export interface DecodedLine {
  readonly text: string;
  readonly encoding: 'utf8' | 'latin1';
}

export function decodeLine(line: Buffer): DecodedLine {
  if (isUtf8(line)) return { text: line.toString('utf8'), encoding: 'utf8' };
  return { text: line.toString('latin1'), encoding: 'latin1' };
}

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
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      if (nl >= 0 && this.pendingBytes === 0 && this.skipped < 0 && nl - start <= this.maxLineBytes) {
        // Fast path: a whole line inside this chunk, handed out without copying.
        this.events.line(chunk.subarray(start, nl));
      } else {
        this.take(chunk.subarray(start, nl < 0 ? chunk.length : nl));
        if (nl < 0) return;
        this.finishLine();
      }
      start = nl + 1;
    }
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
    this.events.line(line);
  }
}
