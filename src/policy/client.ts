/**
 * A pooled client for one policy server address.
 *
 * - Connections are reused (postgrey serves any number of requests on one),
 *   at most `maxConnections` at a time; further requests wait in a FIFO
 *   queue (bounded by `maxQueue`), each under its own deadline.
 * - Every request has a deadline covering queueing, connecting and the
 *   answer. A request that times out or is aborted while on a connection
 *   destroys that connection: its late answer would otherwise be read as the
 *   next request's answer.
 * - Failures (cannot connect, closed, garbage, timeout) put the server in
 *   backoff: for `initialBackoffMs`, doubling per consecutive failure up to
 *   `maxBackoffMs`, requests fail at once with `unavailable` instead of
 *   hammering a dead server or piling up behind a hung one (postgrey blocks
 *   for minutes during its nightly cleanup). After the backoff one request
 *   probes the server while the others wait; its success ends the backoff.
 * - A request that finds a reused idle connection closed by the server
 *   before any answer is retried once on a fresh connection (servers may
 *   drop idle connections; that is not a failure).
 *
 * Time comes from the injected Clock, sockets from the injected connector.
 */
import { formatPolicyAddress, type PolicyAddress } from '../model/address.js';
import type { Clock, TimerHandle } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { encodePolicyRequest, type PolicyAnswer, type PolicyAttribute } from './codec.js';
import { PolicyConnection, type PolicyConnector } from './connection.js';
import { PolicyError } from './errors.js';

export interface PolicyClientOptions {
  readonly address: PolicyAddress;
  readonly connect: PolicyConnector;
  readonly clock: Clock;
  readonly log: Logger;
  /** Connections open at once. Default 8. */
  readonly maxConnections?: number;
  /** Requests waiting for a connection before new ones fail with `overloaded`. Default 1000. */
  readonly maxQueue?: number;
  /** Idle connections are closed after this long. Default 60 s. */
  readonly maxIdleMs?: number;
  /** First backoff after a failure. Default 250 ms. */
  readonly initialBackoffMs?: number;
  /** Backoff cap. Default 5 s. */
  readonly maxBackoffMs?: number;
  /** Cap on one answer, in characters. Default 8192. */
  readonly maxAnswerLength?: number;
}

export interface PolicyQueryOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface PolicyClientStats {
  readonly idle: number;
  readonly busy: number;
  readonly waiting: number;
  readonly consecutiveFailures: number;
  /** Monotonic ms until which requests fail fast; 0 when not in backoff. */
  readonly backoffUntil: number;
}

interface Job {
  readonly payload: string;
  readonly resolve: (answer: PolicyAnswer) => void;
  readonly reject: (error: PolicyError) => void;
  settled: boolean;
  conn: PolicyConnection | null;
  retried: boolean;
  timer: TimerHandle | null;
  cleanupAbort: (() => void) | null;
}

interface Idle {
  readonly conn: PolicyConnection;
  readonly timer: TimerHandle;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

export class PolicyClient {
  readonly server: string;
  private readonly maxConnections: number;
  private readonly maxQueue: number;
  private readonly maxIdleMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly log: Logger;

  private readonly idle: Idle[] = [];
  private readonly busy = new Set<PolicyConnection>();
  private waiting: Job[] = [];
  private consecutiveFailures = 0;
  private backoffUntil = 0;
  /** The connection probing the server after a backoff; others wait for its outcome. */
  private probe: PolicyConnection | null = null;
  private closing = false;
  private destroyed = false;

  constructor(private readonly options: PolicyClientOptions) {
    this.server = formatPolicyAddress(options.address);
    this.maxConnections = positiveInt('maxConnections', options.maxConnections, 8);
    this.maxQueue = positiveInt('maxQueue', options.maxQueue, 1000);
    this.maxIdleMs = positiveInt('maxIdleMs', options.maxIdleMs, 60_000);
    this.initialBackoffMs = positiveInt('initialBackoffMs', options.initialBackoffMs, 250);
    this.maxBackoffMs = positiveInt('maxBackoffMs', options.maxBackoffMs, 5_000);
    this.log = options.log.child({ policyServer: this.server });
  }

  /** Send one request; resolves with the server's answer or rejects with a PolicyError. */
  query(attributes: readonly PolicyAttribute[], options: PolicyQueryOptions): Promise<PolicyAnswer> {
    const payload = encodePolicyRequest(attributes);
    return new Promise<PolicyAnswer>((resolve, reject) => {
      const job: Job = { payload, resolve, reject, settled: false, conn: null, retried: false, timer: null, cleanupAbort: null };
      if (this.destroyed) return this.settle(job, this.error('shutdown', 'client is shut down'));
      const { signal } = options;
      if (signal?.aborted) return this.settle(job, this.error('aborted', 'aborted before sending'));
      if (signal) {
        const onAbort = (): void => this.abandon(job, this.error('aborted', 'aborted while waiting for an answer'), false);
        signal.addEventListener('abort', onAbort, { once: true });
        job.cleanupAbort = () => signal.removeEventListener('abort', onAbort);
      }
      job.timer = this.options.clock.setTimer(options.timeoutMs, () =>
        this.abandon(job, this.error('timeout', `no answer within ${options.timeoutMs} ms`), true),
      );
      this.dispatch(job);
    });
  }

  stats(): PolicyClientStats {
    return {
      idle: this.idle.length,
      busy: this.busy.size,
      waiting: this.waiting.length,
      consecutiveFailures: this.consecutiveFailures,
      backoffUntil: this.backoffUntil,
    };
  }

  /**
   * Stop keeping connections: idle ones close now, busy ones when their
   * request ends. Requests already queued are still served.
   */
  close(): void {
    this.closing = true;
    for (const { conn, timer } of this.idle.splice(0)) {
      timer.cancel();
      conn.destroy();
    }
  }

  /** Close everything now; pending requests fail with `shutdown`. */
  destroy(): void {
    this.destroyed = true;
    this.closing = true;
    for (const job of this.waiting.splice(0)) this.settle(job, this.error('shutdown', 'client shut down'));
    for (const { conn, timer } of this.idle.splice(0)) {
      timer.cancel();
      conn.destroy();
    }
    for (const conn of [...this.busy]) conn.destroy(this.error('shutdown', 'client shut down'));
  }

  private dispatch(job: Job): void {
    if (job.settled) return;
    const now = this.options.clock.monotonic();
    if (now < this.backoffUntil) {
      this.settle(
        job,
        this.error(
          'unavailable',
          `not retried for ${Math.ceil(this.backoffUntil - now)} ms after ${this.consecutiveFailures} failure(s)`,
        ),
      );
      return;
    }
    const idle = this.idle.pop();
    if (idle) {
      idle.timer.cancel();
      this.assign(job, idle.conn);
      return;
    }
    // After a backoff, a single probe finds out whether the server is back.
    if (this.mayOpen()) {
      let conn: PolicyConnection;
      try {
        conn = this.open();
      } catch (e) {
        // Connectors report unreachable servers as socket errors; a throw is
        // a bad address (e.g. a socket path too long). Same treatment.
        const error = new PolicyError('connect', this.server, `cannot connect: ${(e as Error).message}`, { cause: e });
        this.settle(job, error);
        this.failed(error);
        return;
      }
      if (this.consecutiveFailures > 0) this.probe = conn;
      this.assign(job, conn);
      return;
    }
    if (this.waiting.length >= this.maxQueue) {
      this.settle(job, this.error('overloaded', `${this.waiting.length} requests already waiting`));
      return;
    }
    this.waiting.push(job);
  }

  private open(): PolicyConnection {
    const socket = this.options.connect(this.options.address);
    const maxAnswerLength = this.options.maxAnswerLength;
    return new PolicyConnection(socket, {
      server: this.server,
      ...(maxAnswerLength === undefined ? {} : { maxAnswerLength }),
      onClose: (conn) => this.onConnectionClosed(conn),
    });
  }

  private assign(job: Job, conn: PolicyConnection): void {
    job.conn = conn;
    this.busy.add(conn);
    conn.setIdle(false);
    const reused = conn.answered > 0;
    conn.request(job.payload).then(
      (answer) => {
        job.conn = null;
        this.succeeded();
        this.settle(job, null, answer);
        this.release(conn);
        this.pump();
      },
      (error: PolicyError) => {
        job.conn = null;
        this.busy.delete(conn);
        if (this.probe === conn) this.probe = null;
        if (job.settled || this.destroyed) {
          // Timed out or aborted (abandon() already decided and counted), or shut down.
          this.settle(job, error);
        } else if (reused && error.kind === 'closed' && !job.retried) {
          // The server dropped a connection we kept idle; not its failure.
          job.retried = true;
          this.log.debug({ err: error.message }, 'policy connection closed by the server; retrying on a new one');
          this.dispatch(job);
        } else {
          this.failed(error);
          this.settle(job, error);
        }
        this.pump();
      },
    );
  }

  /** A request gave up (timeout or abort). Its connection, if any, is out of sync: discard it. */
  private abandon(job: Job, error: PolicyError, countsAsFailure: boolean): void {
    if (job.settled) return;
    const conn = job.conn;
    this.settle(job, error);
    if (conn) {
      if (countsAsFailure) this.failed(error);
      conn.destroy(error);
    } else {
      this.waiting = this.waiting.filter((j) => j !== job);
    }
  }

  private release(conn: PolicyConnection): void {
    this.busy.delete(conn);
    if (!conn.usable) {
      this.pump();
      return;
    }
    const next = this.nextWaiting();
    if (next) {
      this.assign(next, conn);
      return;
    }
    if (this.closing) {
      conn.destroy();
      return;
    }
    conn.setIdle(true);
    const timer = this.options.clock.setTimer(this.maxIdleMs, () => {
      const i = this.idle.findIndex((e) => e.conn === conn);
      if (i >= 0) this.idle.splice(i, 1);
      conn.destroy();
    });
    this.idle.push({ conn, timer });
  }

  private mayOpen(): boolean {
    return this.busy.size < this.maxConnections && this.probe === null;
  }

  /**
   * Hand freed capacity to waiting requests; in backoff, fail them now rather
   * than let them wait out their deadlines behind a failing server.
   */
  private pump(): void {
    while (this.waiting.length > 0) {
      const inBackoff = this.options.clock.monotonic() < this.backoffUntil;
      if (!inBackoff && this.idle.length === 0 && !this.mayOpen()) return;
      const job = this.nextWaiting();
      if (!job) return;
      this.dispatch(job);
    }
  }

  private nextWaiting(): Job | undefined {
    let job = this.waiting.shift();
    while (job && job.settled) job = this.waiting.shift();
    return job;
  }

  private onConnectionClosed(conn: PolicyConnection): void {
    const i = this.idle.findIndex((e) => e.conn === conn);
    if (i >= 0) {
      this.idle[i]?.timer.cancel();
      this.idle.splice(i, 1);
    }
  }

  private succeeded(): void {
    if (this.consecutiveFailures > 0) this.log.info({ afterFailures: this.consecutiveFailures }, 'policy server answers again');
    this.consecutiveFailures = 0;
    this.backoffUntil = 0;
    this.probe = null;
  }

  private failed(error: PolicyError): void {
    this.consecutiveFailures += 1;
    const backoff = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(this.consecutiveFailures - 1, 30));
    this.backoffUntil = this.options.clock.monotonic() + backoff;
    this.log.warn(
      { kind: error.kind, err: error.message, consecutiveFailures: this.consecutiveFailures, backoffMs: backoff },
      'policy server failed; backing off',
    );
    // Requests queued behind a failing server would only wait out their deadlines.
    this.pump();
  }

  private settle(job: Job, error: PolicyError | null, answer?: PolicyAnswer): void {
    if (job.settled) return;
    job.settled = true;
    job.timer?.cancel();
    job.cleanupAbort?.();
    if (error) job.reject(error);
    else if (answer) job.resolve(answer);
  }

  private error(kind: PolicyError['kind'], message: string): PolicyError {
    return new PolicyError(kind, this.server, message);
  }
}
