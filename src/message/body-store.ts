/**
 * The body of a message as bytes, each line ended by LF (lines never hold
 * one: smtpd splits on it), kept in memory up to a cap and past it in a
 * spool file (spool.ts), so a big message costs disk, not memory. Reading
 * goes through `chunks()`, an iterator over the stored bytes in order.
 *
 * A spool that cannot be opened or written (a full disk) does not lose a
 * byte: the store stays in memory from there on and says so (`degraded`),
 * because every line must still go back to smtpd.
 */
import type { Spool, SpoolOpener } from './spool.js';

/** How much is gathered before a write to the spool, and read back at once. */
export const SPOOL_CHUNK = 64 * 1024;

export class BodyStore {
  /** Bytes not in the spool, in order after the spooled ones. */
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private spool: Spool | null = null;
  private spooled = 0;
  private closed = false;
  /** Bytes stored. */
  length = 0;
  /** Set when the spool failed; the store then keeps everything in memory. */
  degraded: Error | null = null;

  constructor(
    private readonly memoryCap: number,
    private readonly openSpool: SpoolOpener,
  ) {}

  /** True once part of the body is in a spool file. */
  get spilled(): boolean {
    return this.spool !== null;
  }

  /** Bytes held in memory now. */
  get memoryBytes(): number {
    return this.tailBytes;
  }

  /** Append one line and its LF. */
  appendLine(line: Uint8Array): void {
    if (this.closed) throw new Error('body store is closed');
    const bytes = Buffer.allocUnsafe(line.length + 1);
    bytes.set(line, 0);
    bytes[line.length] = 0x0a;
    this.length += bytes.length;
    this.tail.push(bytes);
    this.tailBytes += bytes.length;
    if (this.degraded !== null) return;
    if (this.spool === null ? this.tailBytes > this.memoryCap : this.tailBytes >= SPOOL_CHUNK) this.writeTail();
  }

  /** Everything stored, in order, in chunks of at most about SPOOL_CHUNK (memory chunks as they are). */
  *chunks(): Generator<Uint8Array> {
    const spool = this.spool;
    if (spool !== null && this.spooled > 0) {
      const read = Buffer.allocUnsafe(Math.min(SPOOL_CHUNK, this.spooled));
      const end = this.spooled;
      for (let position = 0; position < end; ) {
        const n = spool.readAt(read.subarray(0, Math.min(read.length, end - position)), position);
        if (n <= 0) throw new Error(`spool file shorter than written (${position} of ${end} bytes)`);
        position += n;
        // A copy: the consumer may keep the chunk while the next is read.
        yield Buffer.from(read.subarray(0, n));
      }
    }
    yield* this.tail.slice();
  }

  /** Frees the memory and the spool. Idempotent. */
  close(): void {
    this.closed = true;
    this.tail = [];
    this.tailBytes = 0;
    const spool = this.spool;
    this.spool = null;
    spool?.close();
  }

  private writeTail(): void {
    try {
      this.spool ??= this.openSpool();
      const all = Buffer.concat(this.tail, this.tailBytes);
      this.spool.append(all);
      this.spooled += all.length;
      this.tail = [];
      this.tailBytes = 0;
    } catch (error) {
      this.degraded = error instanceof Error ? error : new Error(String(error));
    }
  }
}
