/**
 * One message as it streams through data-line, kept so that steps can read
 * it whole at its end (rspamd, DKIM, DMARC, ARC) and it can go back to smtpd
 * with header edits.
 *
 * In: each data-line as smtpd sent it (dot-stuffed), but the final `.`.
 * Kept: the header block as fields (fields.ts), in memory up to a cap (past
 * it the rest counts as body: edits reach only the fields before); the body
 * in a BodyStore, in memory up to a cap, then in a private spool file.
 * Out: the message's bytes, unstuffed, with CRLF (`chunks`, `stream`: an
 * HTTP body, a hash), and the edited message as dot-stuffed data-lines
 * (`outputLines`), byte-identical to what came in apart from the edits.
 *
 * `size` counts as smtpd's queue does (unstuffed lines plus CRLF); past
 * `maxSize` the message is `oversize`: it is still kept whole, because every
 * line must go back to smtpd (whose max-message-size bounds it), but steps
 * that read messages skip it. `dispose` frees memory and spool, on every path.
 */
import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { BodyStore } from './body-store.js';
import type { HeaderEdit, HeaderField, MessageView } from '../model/message.js';
import { applyHeaderEdits } from './edits.js';
import { fieldNameOf, isContinuationLine } from './fields.js';
import { fileSpoolOpener, type SpoolOpener } from './spool.js';
import { stuffLine, unstuffBytes } from './stuffing.js';

export interface MessageBufferOptions {
  /** Body bytes kept in memory before spooling. Default 1 MiB. */
  readonly memoryCap?: number;
  /** Header bytes kept as fields (editable). Default 256 KiB. */
  readonly headerCap?: number;
  /** Past this size (bytes, as queued) the message is `oversize`. Default: no limit. */
  readonly maxSize?: number;
  /** Default: a private file in the system's temporary directory. */
  readonly openSpool?: SpoolOpener;
}

/** One line for smtpd's data-line stream: dot-stuffed, and how to write its bytes. */
export interface OutputDataLine {
  readonly line: string;
  readonly encoding: 'utf8' | 'latin1';
}

export const DEFAULT_MEMORY_CAP = 1024 * 1024;
export const DEFAULT_HEADER_CAP = 256 * 1024;

const CRLF = Buffer.from('\r\n');
const LF = 0x0a;

export class MessageBuffer implements MessageView {
  private readonly fields: HeaderField[] = [];
  /** The field being read (its folded lines may follow). */
  private current: { name: string; lines: Uint8Array[] } | null = null;
  private inHeaders = true;
  private headerBytes = 0;
  private readonly body: BodyStore;
  private readonly headerCap: number;
  private readonly maxSize: number;
  private disposed = false;
  /** Bytes of the message as smtpd queues them: unstuffed lines, each with CRLF. */
  size = 0;
  /** Lines pushed. */
  lineCount = 0;
  ended = false;

  constructor(options: MessageBufferOptions = {}) {
    this.body = new BodyStore(options.memoryCap ?? DEFAULT_MEMORY_CAP, options.openSpool ?? fileSpoolOpener());
    this.headerCap = options.headerCap ?? DEFAULT_HEADER_CAP;
    this.maxSize = options.maxSize ?? Number.POSITIVE_INFINITY;
  }

  get oversize(): boolean {
    return this.size > this.maxSize;
  }

  /** Part of the body went to a spool file. */
  get spooled(): boolean {
    return this.body.spilled;
  }

  /** The spool failed (a full disk): the message is whole, but held in memory. */
  get degraded(): Error | null {
    return this.body.degraded;
  }

  /** Bytes held in memory now (headers and the body's unspooled part). */
  get memoryBytes(): number {
    return this.headerBytes + this.body.memoryBytes;
  }

  /** The header block as received: its fields, in order. */
  get headers(): readonly HeaderField[] {
    return this.current === null ? this.fields : [...this.fields, this.current];
  }

  /** One data-line as smtpd sent it (dot-stuffed), not the final `.`. */
  push(line: string, encoding: 'utf8' | 'latin1' = 'utf8'): void {
    if (this.disposed || this.ended) throw new Error('message buffer no longer takes lines');
    this.pushBytes(unstuffBytes(Buffer.from(line, encoding)));
  }

  /** One line of the message, unstuffed, without line ending. */
  pushBytes(line: Uint8Array): void {
    this.lineCount++;
    this.size += line.length + 2;
    if (this.inHeaders && this.takeHeaderLine(line)) return;
    this.body.appendLine(line);
  }

  /** The final `.` came: no more lines. */
  end(): void {
    this.ended = true;
    this.closeField();
    this.inHeaders = false;
  }

  /** The message as bytes, unstuffed: the header block as received, then the body, lines ended by `lineEnding`. */
  *chunks(lineEnding: '\r\n' | '\n' = '\r\n'): Generator<Uint8Array> {
    this.checkReadable();
    const eol = lineEnding === '\r\n' ? CRLF : Buffer.from('\n');
    const head: Uint8Array[] = [];
    for (const field of this.headers) for (const line of field.lines) head.push(line, eol);
    if (head.length > 0) yield Buffer.concat(head);
    for (const chunk of this.body.chunks()) yield lineEnding === '\n' ? chunk : lfToCrlf(chunk);
  }

  /** `chunks` as a Readable (an HTTP request body). */
  stream(lineEnding: '\r\n' | '\n' = '\r\n'): Readable {
    return Readable.from(this.chunks(lineEnding), { objectMode: false });
  }

  /** The message with `edits` applied, as dot-stuffed data-lines (without the final `.`). */
  *outputLines(edits: readonly HeaderEdit[] = []): Generator<OutputDataLine> {
    this.checkReadable();
    const fields = edits.length === 0 ? this.headers : applyHeaderEdits(this.headers, edits);
    for (const field of fields) for (const line of field.lines) yield dataLineOf(line);
    let carry: Uint8Array | null = null;
    for (const chunk of this.body.chunks()) {
      let start = 0;
      for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, start)) {
        const piece = chunk.subarray(start, i);
        yield dataLineOf(carry === null ? piece : Buffer.concat([carry, piece]));
        carry = null;
        start = i + 1;
      }
      if (start < chunk.length) carry = carry === null ? chunk.subarray(start) : Buffer.concat([carry, chunk.subarray(start)]);
    }
    // Every stored line ends with LF: nothing is left over.
    if (carry !== null) throw new Error('message store ended inside a line');
  }

  /** Frees memory and the spool file. Idempotent; the buffer is unusable after. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.fields.length = 0;
    this.current = null;
    this.body.close();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** True when the line was taken into the header block. */
  private takeHeaderLine(line: Uint8Array): boolean {
    if (this.headerBytes + line.length > this.headerCap) {
      this.endHeaders();
      return false;
    }
    if (isContinuationLine(line)) {
      if (this.current === null) {
        this.endHeaders();
        return false;
      }
      this.current.lines.push(line);
      this.headerBytes += line.length;
      return true;
    }
    const name = fieldNameOf(line);
    if (name === null) {
      // The blank line (or a line that is no field) ends the header block; it is the body's first line.
      this.endHeaders();
      return false;
    }
    this.closeField();
    this.current = { name, lines: [line] };
    this.headerBytes += line.length;
    return true;
  }

  private endHeaders(): void {
    this.closeField();
    this.inHeaders = false;
  }

  private closeField(): void {
    if (this.current === null) return;
    this.fields.push({ name: this.current.name, lines: this.current.lines });
    this.current = null;
  }

  private checkReadable(): void {
    if (this.disposed) throw new Error('message buffer disposed');
  }
}

/** A stored line (unstuffed bytes) as a data-line: stuffed again, written as UTF-8 when it is, else byte for byte. */
function dataLineOf(bytes: Uint8Array): OutputDataLine {
  const encoding = isUtf8(bytes) ? 'utf8' : 'latin1';
  return { line: stuffLine(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString(encoding)), encoding };
}

function lfToCrlf(chunk: Uint8Array): Uint8Array {
  let count = 0;
  for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) count++;
  if (count === 0) return chunk;
  const out = Buffer.allocUnsafe(chunk.length + count);
  let o = 0;
  let start = 0;
  for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, start)) {
    out.set(chunk.subarray(start, i), o);
    o += i - start;
    out[o++] = 0x0d;
    out[o++] = LF;
    start = i + 1;
  }
  out.set(chunk.subarray(start), o);
  return out;
}
