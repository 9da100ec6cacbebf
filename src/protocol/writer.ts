/**
 * The one writer of stdout. Every line goes through formatOutput; a line that
 * fails validation is replaced by its safe fallback (or dropped, for a data
 * line) and logged, so an invalid line can never reach smtpd.
 *
 * Lines are batched: they are appended to a buffer and written in one chunk
 * per tick (or when `flush()` is called), which matters at thousands of
 * requests per second. When the sink reports backpressure, batching goes on
 * in memory until 'drain' (smtpd reads promptly; nothing may be dropped). A
 * sink error (EPIPE: smtpd is gone) marks the writer broken; later lines are
 * discarded quietly and the host will see EOF on stdin and exit.
 */
import type { Logger } from '../support/log.js';
import { fallbackFor, formatOutput } from './format.js';
import type { OutputLine } from './types.js';

/** What the writer needs from stdout: a Node Writable (socket, pipe, file) fits. */
export interface OutputSink {
  write(chunk: string | Uint8Array, callback?: (error?: Error | null) => void): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

export interface WriterOptions {
  readonly sink: OutputSink;
  readonly log: Logger;
  /** How to defer a flush to the end of the current tick. Default: queueMicrotask. */
  readonly schedule?: (fn: () => void) => void;
}

export class ProtocolWriter {
  private text = '';
  /** Set only when a latin1 data line forces byte chunks (see line-reader.ts). */
  private chunks: Buffer[] | null = null;
  private scheduled = false;
  private waitingForDrain = false;
  private broken = false;
  private readonly sink: OutputSink;
  private readonly log: Logger;
  private readonly schedule: (fn: () => void) => void;

  constructor(options: WriterOptions) {
    this.sink = options.sink;
    this.log = options.log;
    this.schedule = options.schedule ?? queueMicrotask;
  }

  /** Validate and queue one line. Returns false when nothing (or only a fallback) was queued. */
  send(out: OutputLine): boolean {
    const formatted = formatOutput(out);
    if (formatted.ok) {
      this.append(formatted.value, out.kind === 'filter-dataline' ? out.encoding : 'utf8');
      return true;
    }
    const fallback = fallbackFor(out);
    this.log.error(
      { line: describe(out), problem: formatted.error, fallback: fallback ? describe(fallback) : null },
      'refused to send an invalid protocol line',
    );
    if (fallback !== null) {
      const again = formatOutput(fallback);
      if (again.ok) this.append(again.value, 'utf8');
    }
    return false;
  }

  /** Write everything queued now (normally done automatically at the end of the tick). */
  flush(): void {
    this.scheduled = false;
    if (this.waitingForDrain || this.broken) return;
    let data: string | Buffer;
    if (this.chunks !== null) {
      if (this.text !== '') this.chunks.push(Buffer.from(this.text, 'utf8'));
      data = Buffer.concat(this.chunks);
      this.chunks = null;
    } else {
      data = this.text;
    }
    this.text = '';
    if (data.length === 0) return;
    let ok: boolean;
    try {
      ok = this.sink.write(data, (error) => {
        if (error) this.fail(error);
      });
    } catch (error) {
      this.fail(error);
      return;
    }
    if (!ok) {
      this.waitingForDrain = true;
      this.sink.once('drain', () => {
        this.waitingForDrain = false;
        this.flush();
      });
    }
  }

  /** True once the sink failed; nothing more will be written. */
  get isBroken(): boolean {
    return this.broken;
  }

  /** Called by the owner of the sink when it emits 'error'. */
  fail(error: unknown): void {
    if (this.broken) return;
    this.broken = true;
    this.text = '';
    this.chunks = null;
    this.log.error({ err: error instanceof Error ? error.message : String(error) }, 'cannot write to smtpd; output stopped');
  }

  private append(line: string, encoding: 'utf8' | 'latin1'): void {
    if (this.broken) return;
    if (encoding === 'latin1') {
      const chunks = (this.chunks ??= []);
      if (this.text !== '') chunks.push(Buffer.from(this.text, 'utf8'));
      chunks.push(Buffer.from(`${line}\n`, 'latin1'));
      this.text = '';
    } else {
      this.text += `${line}\n`;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  }
}

/** A short description of a line for logs (never the whole data line). */
function describe(out: OutputLine): Record<string, unknown> {
  switch (out.kind) {
    case 'filter-result':
      return { kind: out.kind, session: out.sessionId, phase: out.phase, decision: out.decision };
    case 'filter-dataline':
      return { kind: out.kind, session: out.sessionId, chars: out.line.length };
    case 'register-filter':
      return { kind: out.kind, phase: out.phase };
    case 'register-report':
      return { kind: out.kind, event: out.event };
    case 'register-ready':
      return { kind: out.kind };
  }
}
