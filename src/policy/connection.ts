/**
 * One connection to a policy server: a socket, an answer decoder and at most
 * one request in flight. The protocol has no request ids, so an answer is
 * matched to a request only by order: anything that could put an unmatched
 * answer on the wire (a timed-out request, an unsolicited line, garbage)
 * ends the connection for good. The pool (client.ts) decides reuse.
 */
import type { PolicyAddress } from '../model/address.js';
import { PolicyAnswerDecoder, describeDecodeError, type PolicyAnswer } from './codec.js';
import { PolicyError } from './errors.js';

/**
 * The slice of a net.Socket this module uses. Tests pass in-memory fakes;
 * production passes `net.createConnection(...)` (see net.ts).
 */
export interface PolicySocket {
  write(data: string): unknown;
  destroy(): unknown;
  on(event: 'connect', listener: () => void): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  /** Let an idle connection not keep the process alive (net.Socket has it). */
  unref?(): unknown;
  ref?(): unknown;
}

/** Opens a socket to an address; must not throw for unreachable servers (emit 'error' instead). */
export type PolicyConnector = (address: PolicyAddress) => PolicySocket;

export interface PolicyConnectionOptions {
  readonly server: string;
  readonly maxAnswerLength?: number;
  /** Called once, when the connection ends for whatever reason. */
  readonly onClose: (conn: PolicyConnection) => void;
}

interface InFlight {
  resolve(answer: PolicyAnswer): void;
  reject(error: PolicyError): void;
}

export class PolicyConnection {
  private readonly decoder: PolicyAnswerDecoder;
  private state: 'connecting' | 'open' | 'closed' = 'connecting';
  private inFlight: InFlight | null = null;
  private lastError: Error | null = null;
  private failure: PolicyError | null = null;
  /** Answers received on this connection so far. */
  answered = 0;

  constructor(
    private readonly socket: PolicySocket,
    private readonly options: PolicyConnectionOptions,
  ) {
    this.decoder = new PolicyAnswerDecoder(
      options.maxAnswerLength === undefined ? {} : { maxAnswerLength: options.maxAnswerLength },
    );
    socket.on('connect', () => {
      if (this.state === 'connecting') this.state = 'open';
    });
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (e) => {
      this.lastError = e;
    });
    socket.on('close', () => this.onClosed());
  }

  /** Connected (or connecting), and nothing has put it out of sync. */
  get usable(): boolean {
    return this.state !== 'closed';
  }

  get busy(): boolean {
    return this.inFlight !== null;
  }

  /** Send one encoded request; resolves with the next answer. One at a time. */
  request(payload: string): Promise<PolicyAnswer> {
    if (this.state === 'closed') {
      return Promise.reject(this.failure ?? this.error('closed', 'connection already closed'));
    }
    if (this.inFlight) throw new Error('PolicyConnection.request: a request is already in flight');
    return new Promise<PolicyAnswer>((resolve, reject) => {
      this.inFlight = { resolve, reject };
      try {
        this.socket.write(payload);
      } catch (e) {
        this.destroy(this.error('closed', `write failed: ${(e as Error).message}`));
      }
    });
  }

  /** End the connection; a request in flight fails with `reason`. Idempotent. */
  destroy(reason?: PolicyError): void {
    if (this.state === 'closed') return;
    this.failure = reason ?? this.error('closed', 'connection discarded');
    this.socket.destroy();
    // A real socket reports 'close' later; fakes may never do so. Settle now.
    this.onClosed();
  }

  setIdle(idle: boolean): void {
    if (idle) this.socket.unref?.();
    else this.socket.ref?.();
  }

  private onData(chunk: Buffer | string): void {
    if (this.state === 'closed') return;
    // Data proves the connection is up even if a fake never said 'connect'.
    this.state = 'open';
    for (const item of this.decoder.push(chunk)) {
      if (item.type === 'error') {
        this.destroy(this.error('protocol', describeDecodeError(item.error)));
        return;
      }
      const pending = this.inFlight;
      if (!pending) {
        this.destroy(this.error('protocol', 'answer without a request'));
        return;
      }
      this.inFlight = null;
      this.answered += 1;
      pending.resolve(item.answer);
    }
  }

  private onClosed(): void {
    const wasConnected = this.state === 'open';
    if (this.state !== 'closed') {
      this.state = 'closed';
      if (!this.failure) {
        const cause = this.lastError ? `: ${this.lastError.message}` : '';
        this.failure = wasConnected
          ? this.error('closed', `connection closed by the server${this.decoder.midAnswer ? ' in the middle of an answer' : ''}${cause}`)
          : this.error('connect', `cannot connect${cause || ': connection closed'}`);
      }
      this.options.onClose(this);
    }
    const pending = this.inFlight;
    if (pending) {
      this.inFlight = null;
      pending.reject(this.failure ?? this.error('closed', 'connection closed'));
    }
  }

  private error(kind: PolicyError['kind'], message: string): PolicyError {
    return new PolicyError(kind, this.options.server, message, this.lastError ? { cause: this.lastError } : undefined);
  }
}
