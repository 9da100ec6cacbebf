/**
 * The HTTP edge: POST the message to rspamd's /checkv2 and read its answer,
 * within a deadline. node:http with a keep-alive agent (one per server, kept
 * by the step's service), the message streamed from the held buffer (a big
 * message is read from its spool, never copied whole), the answer bounded
 * (response.ts) and parsed. Every failure is an RspamdError: refused, reset,
 * an HTTP status other than 200, a malformed or huge answer, the deadline
 * (`timedOut`), or the caller's abort (the session went away).
 */
import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Readable } from 'node:stream';
import type { Clock } from '../support/clock.js';
import type { RequestHeaders } from './request.js';
import { MAX_ANSWER_BYTES, parseAnswer, type RspamdAnswer } from './response.js';

export type RspamdErrorKind = 'connect' | 'timeout' | 'http' | 'answer' | 'aborted';

export class RspamdError extends Error {
  readonly timedOut: boolean;
  constructor(
    readonly kind: RspamdErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RspamdError';
    this.timedOut = kind === 'timeout';
  }
}

export type HttpRequest = (url: URL, options: RequestOptions, callback: (res: IncomingMessage) => void) => ClientRequest;

export interface RspamdClientOptions {
  /** `http://host:port` (a path is kept: `/checkv2` is appended to it). */
  readonly url: string;
  readonly clock: Clock;
  readonly maxAnswerBytes?: number;
  /** Default: node:http's request. */
  readonly request?: HttpRequest;
}

export interface CheckRequest {
  readonly headers: RequestHeaders;
  readonly body: Readable;
  /**
   * The body's length in bytes, when known (the held message's size): sent as
   * Content-Length. Without it node:http sends the body chunked, and its last
   * small write waits out a delayed ACK (about 200 ms a message, measured).
   */
  readonly length?: number;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export class RspamdClient {
  readonly endpoint: URL;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly request: HttpRequest;
  private readonly maxAnswerBytes: number;

  constructor(private readonly options: RspamdClientOptions) {
    const base = new URL(options.url);
    this.endpoint = new URL(`${base.pathname.replace(/\/+$/, '')}/checkv2`, base);
    this.request = options.request ?? httpRequest;
    this.maxAnswerBytes = options.maxAnswerBytes ?? MAX_ANSWER_BYTES;
  }

  check(req: CheckRequest): Promise<RspamdAnswer> {
    return new Promise<RspamdAnswer>((resolve, reject) => {
      let settled = false;
      let http: ClientRequest | null = null;
      const finish = (error: RspamdError | null, answer?: RspamdAnswer): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        req.signal?.removeEventListener('abort', onAbort);
        if (error !== null) {
          req.body.destroy();
          http?.destroy();
          reject(error);
        } else resolve(answer as RspamdAnswer);
      };
      const timer = this.options.clock.setTimer(req.timeoutMs, () =>
        finish(new RspamdError('timeout', `rspamd did not answer within ${req.timeoutMs} ms`)),
      );
      const onAbort = (): void => finish(new RspamdError('aborted', 'request aborted'));
      if (req.signal?.aborted === true) return onAbort();
      req.signal?.addEventListener('abort', onAbort);
      try {
        const headers = req.length === undefined ? req.headers : { ...req.headers, 'Content-Length': String(req.length) };
        http = this.request(this.endpoint, { method: 'POST', agent: this.agent, headers }, (res) => this.read(res, finish));
      } catch (error) {
        finish(new RspamdError('connect', `cannot send to rspamd: ${messageOf(error)}`, { cause: error }));
        return;
      }
      http.on('error', (error) => finish(new RspamdError('connect', `rspamd: ${messageOf(error)}`, { cause: error })));
      req.body.on('error', (error) => finish(new RspamdError('connect', `message could not be read: ${messageOf(error)}`, { cause: error })));
      req.body.pipe(http);
    });
  }

  /** Drops idle connections (the server is no longer named, or smtpd is gone). */
  close(): void {
    this.agent.destroy();
  }

  private read(res: IncomingMessage, finish: (error: RspamdError | null, answer?: RspamdAnswer) => void): void {
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > this.maxAnswerBytes) {
        res.destroy();
        finish(new RspamdError('answer', `answer of more than ${this.maxAnswerBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('error', (error) => finish(new RspamdError('connect', `rspamd: ${messageOf(error)}`, { cause: error })));
    res.on('end', () => {
      const body = Buffer.concat(chunks, bytes);
      if (res.statusCode !== 200) {
        finish(new RspamdError('http', `rspamd answered HTTP ${res.statusCode ?? '?'}: ${body.toString('utf8', 0, Math.min(body.length, 200)).replace(/[\x00-\x1f]/g, ' ')}`));
        return;
      }
      const parsed = parseAnswer(body, this.maxAnswerBytes);
      if (!parsed.ok) finish(new RspamdError('answer', parsed.error));
      else finish(null, parsed.value);
    });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
