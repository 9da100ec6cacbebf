/**
 * `--record FILE`: a copy of the conversation with smtpd, in the transcript
 * format `filter-rules replay` reads (and test/fixtures/transcripts uses):
 * every line from smtpd as `> LINE`, every line to smtpd as `< LINE`, in the
 * order the filter read or wrote them, bytes as they were. Lines starting
 * with `#` are notes (recording started, lines dropped) that replay ignores.
 *
 * Recording must never hurt the filter: the file is opened once (as the
 * filter's user, `opensmtpd`), and a failure to open or write it is logged
 * and ends the recording, nothing else. Writes are asynchronous (a slow disk
 * does not stall smtpd); when too much is waiting for the disk, lines are
 * dropped and a note says how many. The file is bounded: at `maxBytes` it is
 * renamed FILE.1 (replacing an older one) and a new FILE begins, so at most
 * twice `maxBytes` are on disk. An existing FILE is appended to.
 */
import { closeSync, createWriteStream, openSync, renameSync, statSync, type WriteStream } from 'node:fs';
import type { OutputSink } from '../protocol/writer.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';

export const INPUT_PREFIX = '> ';
export const OUTPUT_PREFIX = '< ';
export const NOTE_PREFIX = '# ';

export const DEFAULT_RECORD_MAX_BYTES = 64 * 1024 * 1024;
/** Bytes waiting for the disk before lines are dropped. */
export const DEFAULT_RECORD_BACKLOG_BYTES = 4 * 1024 * 1024;
/** A line from smtpd longer than this (unfinished) is not kept whole: smtpd's longest is ~65.6 KB. */
const MAX_PARTIAL_BYTES = 1024 * 1024;

/** An open record file. Real: an fs.WriteStream on a file opened for appending. */
export interface RecordSink {
  write(data: Buffer): void;
  /** Bytes accepted but not yet on disk. */
  readonly backlog: number;
  /** Called once if a write fails. */
  onError(listener: (error: Error) => void): void;
  close(): Promise<void>;
}

/** What the recorder does to files; tests inject failures. */
export interface RecordFiles {
  /** Size of `path`, 0 when it does not exist. */
  size(path: string): number;
  /** Open `path` for appending (created with mode 0640). Throws (EACCES, ENOENT, …) when it cannot. */
  openAppend(path: string): RecordSink;
  rename(from: string, to: string): void;
}

export interface RecorderOptions {
  readonly path: string;
  readonly log: Logger;
  readonly clock: Clock;
  /** Shown in the note that starts each file. */
  readonly version: string;
  readonly maxBytes?: number;
  readonly backlogBytes?: number;
  readonly files?: RecordFiles;
}

const NL = Buffer.from('\n');

export class Recorder {
  private sink: RecordSink | null = null;
  private bytes = 0;
  private dropped = 0;
  private partialInput: Buffer | null = null;
  private partialOutput: Buffer | null = null;
  private closed = false;
  /** Files being closed after a rotation or an error (close() waits for them). */
  private readonly closing = new Set<Promise<void>>();
  private readonly maxBytes: number;
  private readonly backlogBytes: number;
  private readonly files: RecordFiles;
  private readonly inputPrefix = Buffer.from(INPUT_PREFIX);
  private readonly outputPrefix = Buffer.from(OUTPUT_PREFIX);

  /** Open the record file; on failure the recorder logs why and records nothing. Never throws. */
  static open(options: RecorderOptions): Recorder {
    const recorder = new Recorder(options);
    recorder.start('recording started', true);
    return recorder;
  }

  private constructor(private readonly options: RecorderOptions) {
    this.maxBytes = options.maxBytes ?? DEFAULT_RECORD_MAX_BYTES;
    this.backlogBytes = options.backlogBytes ?? DEFAULT_RECORD_BACKLOG_BYTES;
    this.files = options.files ?? nodeRecordFiles;
  }

  /** True while lines are being written to the file. */
  get active(): boolean {
    return this.sink !== null;
  }

  /** Bytes from smtpd (stdin), as read. */
  input(chunk: Buffer | string): void {
    if (this.sink === null) return;
    const data = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    this.partialInput = this.lines(data, this.partialInput, this.inputPrefix);
  }

  /** Bytes to smtpd (stdout), as written. */
  output(chunk: string | Uint8Array): void {
    if (this.sink === null) return;
    const data = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.partialOutput = this.lines(data, this.partialOutput, this.outputPrefix);
  }

  /** A sink that records what is written to `sink`, then writes it there. */
  tee(sink: OutputSink): OutputSink {
    return {
      write: (chunk, callback) => {
        try {
          this.output(chunk);
        } catch (error) {
          this.stop('recording failed', error);
        }
        return sink.write(chunk, callback);
      },
      once: (event, listener) => sink.once(event, listener),
    };
  }

  /** stdin EOF: write what is left and close the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const sink = this.sink;
    this.sink = null;
    if (sink !== null) this.retire(sink);
    await Promise.all([...this.closing]);
  }

  /** Close a sink in the background; failures to close are only logged. */
  private retire(sink: RecordSink): void {
    const done = sink
      .close()
      .catch((error: unknown) => this.options.log.warn({ file: this.options.path, err: errorText(error) }, 'closing the record file failed'))
      .finally(() => this.closing.delete(done));
    this.closing.add(done);
  }

  /** Split `data` into lines (continuing `partial`) and write each with `prefix`; returns the new partial line. */
  private lines(data: Buffer, partial: Buffer | null, prefix: Buffer): Buffer | null {
    let start = 0;
    let pending = partial;
    for (;;) {
      const nl = data.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = data.subarray(start, nl);
      this.writeLine(prefix, pending === null ? piece : Buffer.concat([pending, piece]));
      pending = null;
      start = nl + 1;
    }
    if (start >= data.length) return pending;
    const rest = data.subarray(start);
    const joined = pending === null ? Buffer.from(rest) : Buffer.concat([pending, rest]);
    if (joined.length > MAX_PARTIAL_BYTES) {
      this.dropped++;
      return null;
    }
    return joined;
  }

  private writeLine(prefix: Buffer, line: Buffer): void {
    const sink = this.sink;
    if (sink === null) return;
    if (sink.backlog > this.backlogBytes) {
      this.dropped++;
      return;
    }
    if (this.dropped > 0) {
      const n = this.dropped;
      this.dropped = 0;
      this.put(Buffer.from(`${NOTE_PREFIX}${n} line(s) not recorded: the disk did not keep up\n`));
    }
    this.put(Buffer.concat([prefix, line, NL]));
  }

  private put(data: Buffer): void {
    if (this.bytes + data.length > this.maxBytes && this.bytes > 0) this.rotate();
    const sink = this.sink;
    if (sink === null) return;
    try {
      sink.write(data);
      this.bytes += data.length;
    } catch (error) {
      this.stop('writing the record file failed; recording stopped', error);
    }
  }

  /** FILE → FILE.1, then a new FILE. Writes still queued for the old file land in FILE.1 (same inode). */
  private rotate(): void {
    const old = this.sink;
    this.sink = null;
    if (old !== null) this.retire(old);
    const rotated = `${this.options.path}.1`;
    try {
      this.files.rename(this.options.path, rotated);
    } catch (error) {
      this.options.log.error({ file: this.options.path, err: errorText(error) }, 'cannot rotate the record file; recording stopped');
      return;
    }
    this.start(`recording continued (the previous part is ${rotated})`, false);
  }

  private start(note: string, first: boolean): void {
    const path = this.options.path;
    let sink: RecordSink;
    try {
      this.bytes = this.files.size(path);
      sink = this.files.openAppend(path);
    } catch (error) {
      this.options.log.error({ file: path, err: errorText(error) }, 'cannot open the record file; not recording (the filter runs on)');
      return;
    }
    sink.onError((error) => this.stop('writing the record file failed; recording stopped', error));
    this.sink = sink;
    const when = new Date(this.options.clock.now()).toISOString();
    this.put(Buffer.from(`${NOTE_PREFIX}filter-rules ${this.options.version} ${note} ${when}\n`));
    if (first) this.options.log.info({ file: path, maxBytes: this.maxBytes }, 'recording the conversation with smtpd');
  }

  private stop(message: string, error: unknown): void {
    const sink = this.sink;
    if (sink === null) return;
    this.sink = null;
    this.options.log.error({ file: this.options.path, err: errorText(error) }, message);
    this.retire(sink);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The real files: openSync first, so a permission problem shows at once, then a WriteStream on that fd. */
export const nodeRecordFiles: RecordFiles = {
  size(path) {
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
  },
  openAppend(path) {
    const fd = openSync(path, 'a', 0o640);
    let stream: WriteStream;
    try {
      stream = createWriteStream('', { fd, autoClose: true });
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    let failed = false;
    return {
      write: (data) => {
        if (!failed) stream.write(data);
      },
      get backlog() {
        return stream.writableLength;
      },
      onError: (listener) => {
        stream.once('error', (error) => {
          failed = true;
          listener(error);
        });
        // Later errors of a failed stream are already reported.
        stream.on('error', () => {});
      },
      close: () =>
        new Promise<void>((resolve) => {
          if (failed || stream.destroyed) {
            resolve();
            return;
          }
          stream.end(() => resolve());
        }),
    };
  },
  rename(from, to) {
    renameSync(from, to);
  },
};
