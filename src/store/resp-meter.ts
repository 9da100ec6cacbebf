/**
 * RespReplyMeter: how big the Redis reply being received is, without keeping
 * any of it. ioredis buffers a reply until it is complete and has no limit, so
 * a hostile or broken server answering with an endless bulk string made the
 * filter buffer 1.9 GB in 14 s. The store runs every chunk from the socket
 * through this meter before ioredis's parser sees it, and drops the connection
 * when a reply cannot fit the cap.
 *
 * Pure: bytes in, a verdict out; O(1) work per header byte, bulk payloads are
 * skipped by length, and the state is a few numbers plus one count per open
 * (nested) array. RESP2 only, as ioredis speaks it: `+` `-` `:` lines, `$`
 * bulk strings, `*` arrays; anything else is a protocol error (redis-parser
 * would fail on it too).
 *
 * A reply's size is the bytes received since it began plus what it has
 * already promised: the rest of a bulk string whose length was given, and
 * 3 bytes (the smallest element, `+\r\n`) per array element not yet begun.
 * So a `$2000000000` header is over the cap as soon as it is read, before a
 * byte of its payload.
 */

export type MeterVerdict =
  | { readonly kind: 'ok' }
  /** The reply being received is (or has promised to be) larger than the cap. */
  | { readonly kind: 'too-large'; readonly bytes: number }
  | { readonly kind: 'protocol-error'; readonly detail: string };

const OK: MeterVerdict = { kind: 'ok' };
const CR = 13;
const LF = 10;
const MINUS = 45;
/** The smallest RESP element (`+\r\n`, an empty simple string). */
const MIN_ELEMENT_BYTES = 3;
/** Digits in a length line: 2^53 has 16; more is garbage, not a length. */
const MAX_LENGTH_DIGITS = 16;

type Mode =
  /** Expecting a type byte (the start of an element). */
  | 'type'
  /** In the rest of a `+`, `-` or `:` line, up to its LF. */
  | 'line'
  /** In the length of a `$` or `*` header, up to its CR. */
  | 'length'
  /** After a length's CR, expecting its LF. */
  | 'length-lf'
  /** In a bulk string's payload and its CRLF. */
  | 'bulk';

export class RespReplyMeter {
  private mode: Mode = 'type';
  /** Bytes received of the reply being received (0 between replies). */
  private received = 0;
  /** Payload and CRLF still to come of the bulk string being received. */
  private bulkLeft = 0;
  /** For each open array, its elements not yet begun. */
  private readonly open: number[] = [];
  /** The sum of `open`. */
  private notBegun = 0;
  private lengthType = 0;
  private lengthNegative = false;
  private lengthDigits = 0;
  private lengthValue = 0;
  private failed: MeterVerdict | null = null;

  constructor(readonly capBytes: number) {
    if (!Number.isSafeInteger(capBytes) || capBytes < MIN_ELEMENT_BYTES) {
      throw new RangeError(`RespReplyMeter: the cap must be a whole number of bytes ≥ ${MIN_ELEMENT_BYTES}, got ${capBytes}`);
    }
  }

  /** The size of the reply being received, as defined above (0 between replies). */
  get pendingBytes(): number {
    return this.received + this.bulkLeft + MIN_ELEMENT_BYTES * this.notBegun;
  }

  /**
   * Account for the next chunk from the socket. Once a verdict is not `ok`
   * the meter stays failed (the connection is to be dropped) and keeps
   * answering the same verdict.
   */
  push(chunk: Uint8Array): MeterVerdict {
    if (this.failed !== null) return this.failed;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.mode) {
        case 'type': {
          const type = chunk[i] as number;
          i++;
          this.received++;
          const top = this.open.length - 1;
          if (top >= 0) {
            this.open[top] = (this.open[top] as number) - 1;
            this.notBegun--;
          }
          switch (type) {
            case 0x2b: // +
            case 0x2d: // -
            case 0x3a: // :
              this.mode = 'line';
              break;
            case 0x24: // $
            case 0x2a: // *
              this.mode = 'length';
              this.lengthType = type;
              this.lengthNegative = false;
              this.lengthDigits = 0;
              this.lengthValue = 0;
              break;
            default:
              return this.fail({ kind: 'protocol-error', detail: `reply type byte 0x${type.toString(16).padStart(2, '0')}` });
          }
          break;
        }
        case 'line': {
          const lf = chunk.indexOf(LF, i);
          const end = lf === -1 ? n : lf + 1;
          this.received += end - i;
          i = end;
          if (lf !== -1) {
            const done = this.elementDone();
            if (done !== OK) return done;
          } else if (this.received > this.capBytes) {
            return this.fail({ kind: 'too-large', bytes: this.received });
          }
          break;
        }
        case 'length': {
          const c = chunk[i] as number;
          i++;
          this.received++;
          if (c === CR) {
            if (this.lengthDigits === 0) return this.fail({ kind: 'protocol-error', detail: 'a length without digits' });
            this.mode = 'length-lf';
          } else if (c === MINUS && this.lengthDigits === 0 && !this.lengthNegative) {
            this.lengthNegative = true;
          } else if (c >= 0x30 && c <= 0x39 && this.lengthDigits < MAX_LENGTH_DIGITS) {
            this.lengthValue = this.lengthValue * 10 + (c - 0x30);
            this.lengthDigits++;
          } else {
            return this.fail({ kind: 'protocol-error', detail: 'a malformed length' });
          }
          break;
        }
        case 'length-lf': {
          const c = chunk[i] as number;
          i++;
          this.received++;
          if (c !== LF) return this.fail({ kind: 'protocol-error', detail: 'a length line without LF' });
          const verdict = this.headerDone();
          if (verdict !== OK) return verdict;
          break;
        }
        case 'bulk': {
          const take = Math.min(this.bulkLeft, n - i);
          i += take;
          this.received += take;
          this.bulkLeft -= take;
          if (this.bulkLeft === 0) {
            // The payload's CRLF is not checked: redis-parser skips it by length too.
            const done = this.elementDone();
            if (done !== OK) return done;
          }
          break;
        }
      }
    }
    return this.pendingBytes > this.capBytes ? this.fail({ kind: 'too-large', bytes: this.pendingBytes }) : OK;
  }

  /** A `$` or `*` header is complete. */
  private headerDone(): MeterVerdict {
    // `$-1` and `*-1` are nulls; other negative lengths mean the same to redis-parser.
    const length = this.lengthNegative ? -1 : this.lengthValue;
    if (this.lengthType === 0x24) {
      if (length < 0) return this.elementDone();
      this.bulkLeft = length + 2;
      this.mode = 'bulk';
    } else {
      if (length <= 0) return this.elementDone();
      this.open.push(length);
      this.notBegun += length;
      this.mode = 'type';
    }
    // A promise the cap cannot hold is refused before its payload arrives.
    return this.pendingBytes > this.capBytes ? this.fail({ kind: 'too-large', bytes: this.pendingBytes }) : OK;
  }

  /** An element is complete: close the arrays it completes; at top level the reply is complete. */
  private elementDone(): MeterVerdict {
    this.mode = 'type';
    while (this.open.length > 0 && this.open[this.open.length - 1] === 0) this.open.pop();
    if (this.open.length > 0) return OK;
    if (this.received > this.capBytes) return this.fail({ kind: 'too-large', bytes: this.received });
    this.received = 0;
    return OK;
  }

  private fail(verdict: MeterVerdict): MeterVerdict {
    this.failed = verdict;
    return verdict;
  }
}
