/**
 * One Redis (or Valkey) connection of a store, with the failure behaviour
 * every store on Redis needs: the greylist store (redis.ts) and the counter
 * store (counter-redis.ts) extend it and add their scripts.
 *
 * The shared store: Redis (or Valkey), for several MX hosts that each run
 * their own filter process. One Lua script per decision keeps it atomic.
 *
 * Failure behaviour is the point of the options below: when Redis is down or
 * hung, a check must fail within about a second (the runtime then applies the
 * step's `on-error`), never queue up behind a dead connection, and the
 * connection must come back by itself when Redis does. While a connection is
 * being made (at start, after a clean close) and nothing has failed yet, a
 * check waits for it instead, in a small bounded list (connection-gate.ts).
 * And a reply is never buffered past `maxReplyBytes` (resp-meter.ts): a
 * hostile or broken server cannot make the filter hold gigabytes.
 */
import { createRequire } from 'node:module';
import type * as IoRedisModule from 'ioredis';
import type { Redis, RedisOptions } from 'ioredis';
import type { Socket } from 'node:net';
import { systemClock, type Clock } from '../support/clock.js';
import { silentLogger, type Logger } from '../support/log.js';
import { LogThrottle } from '../support/log-throttle.js';
import { ConnectionGate, type AbortSubscription } from './connection-gate.js';
import { RespReplyMeter, type MeterVerdict } from './resp-meter.js';
import type { StoreUrl } from './url.js';

type IoRedis = typeof IoRedisModule;
let ioredis: IoRedis | undefined;

/**
 * ioredis costs about 20 MB of memory once loaded: it is loaded (CommonJS, so
 * synchronously) only when a Redis store is opened, not by every filter.
 */
function loadIoredis(): IoRedis {
  ioredis ??= createRequire(import.meta.url)('ioredis') as IoRedis;
  return ioredis;
}

export type RedisStoreUrl = Extract<StoreUrl, { kind: 'redis' }>;

export interface RedisStoreOptions {
  readonly log?: Logger;
  /** TCP connect deadline. Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** Deadline for each command, so a hung (not closed) Redis fails fast too. Default 1000 ms. */
  readonly commandTimeoutMs?: number;
  /** Upper bound of the reconnect back-off. Default 1000 ms. */
  readonly maxReconnectDelayMs?: number;
  /**
   * Largest reply accepted, in bytes; a larger one drops the connection (the
   * commands waiting on it fail, the client reconnects). Default 1 MiB: the
   * replies we ask for are small (the script's verdict, an admin page of keys).
   */
  readonly maxReplyBytes?: number;
  /** Longest a command waits for a connection being made. Default 2000 ms (the connect timeout's default). */
  readonly connectWaitMs?: number;
  /** Commands that may wait for a connection at once; more fail at once. Default 1000. */
  readonly maxWaiting?: number;
  /** Timers for the waits. Default the system clock. */
  readonly clock?: Clock;
}

export const DEFAULT_MAX_REPLY_BYTES = 1024 * 1024;

export abstract class RedisConnection {
  readonly description: string;
  protected readonly redis: Redis;
  protected readonly prefix: string;
  protected readonly log: Logger;
  private readonly gate: ConnectionGate;
  private readonly maxReplyBytes: number;
  /** A server that keeps failing (refusing, sending huge replies) is not allowed to flood the log. */
  private readonly outageLog: LogThrottle;
  protected closed = false;
  /** True while the connection is down, so each outage is logged once. */
  private down = false;
  /** Whether this outage's warning was logged (not throttled): only then is the recovery. */
  private downLogged = false;

  /** The store's error for `message` (StoreError, CounterStoreError). */
  protected abstract error(message: string, cause?: unknown): Error;

  constructor(
    url: RedisStoreUrl,
    description: string,
    options: RedisStoreOptions,
    /** What the log calls the store: "greylist store". */
    private readonly noun: string,
  ) {
    this.description = description;
    this.prefix = url.prefix;
    this.log = (options.log ?? silentLogger).child({ store: description });
    const clock = options.clock ?? systemClock;
    this.outageLog = new LogThrottle(clock, this.log, 10, 60_000);
    this.maxReplyBytes = options.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES;
    // Validated now (the meter throws on a bad cap), not at the first connection.
    new RespReplyMeter(this.maxReplyBytes);
    this.gate = new ConnectionGate({ clock, maxWaitMs: options.connectWaitMs ?? 2000, maxWaiting: options.maxWaiting ?? 1000 });
    const maxDelay = options.maxReconnectDelayMs ?? 1000;
    const common: RedisOptions = {
      db: url.db,
      connectTimeout: options.connectTimeoutMs ?? 2000,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      // No offline queue: it has no bound and would hold checks while Redis is down (the
      // SMTP client is waiting). The ConnectionGate decides which checks may wait, and how long.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // A command that timed out has already been answered for; do not replay it later.
      autoResendUnfulfilledCommands: false,
      // Reconnect forever, backing off to at most `maxDelay`.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
      lazyConnect: false,
    };
    if (url.username !== null) common.username = url.username;
    if (url.password !== null) common.password = url.password;
    const { Redis: RedisClient } = loadIoredis();
    this.redis =
      url.connection.kind === 'tcp'
        ? new RedisClient({ ...common, host: url.connection.host, port: url.connection.port })
        : new RedisClient({ ...common, path: url.connection.path });
    // Without an 'error' listener ioredis prints every failed reconnect itself.
    this.redis.on('error', (e: Error) => {
      this.gate.failed(e.message);
      this.markDown(e.message);
    });
    this.redis.on('close', () => {
      this.gate.closed();
      this.markDown('connection closed');
    });
    this.redis.on('end', () => this.gate.close());
    // 'connect' (one per connection): ioredis emits it on process.nextTick from
    // the socket's connect handler, which attached its parser and sent AUTH,
    // SELECT and the ready check; no reply can have been read before it.
    this.redis.on('connect', () => this.meterReplies(this.redis.stream));
    this.redis.on('ready', () => {
      this.gate.ready();
      if (!this.down) return;
      this.down = false;
      if (this.downLogged) this.log.info({}, `${this.noun} reachable again`);
    });
  }

  private markDown(reason: string): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.downLogged = this.outageLog.warn({ err: reason }, `${this.noun} unreachable; checks fail until it is back`);
  }

  /**
   * Put a RespReplyMeter in front of the socket's 'data' listeners (ioredis's
   * parser, added when the socket connected), so no byte of a reply that
   * cannot fit `maxReplyBytes` reaches the parser, which would buffer it all.
   * ioredis has no option for this.
   */
  private meterReplies(stream: Socket): void {
    const meter = new RespReplyMeter(this.maxReplyBytes);
    // ioredis 5 has exactly one by now, its parser (a plain listener, not `once`).
    const listeners = stream.listeners('data') as ((chunk: Buffer) => void)[];
    stream.removeAllListeners('data');
    stream.on('data', (chunk: Buffer) => {
      const verdict = meter.push(chunk);
      if (verdict.kind === 'ok') {
        for (const l of listeners) l.call(stream, chunk);
        return;
      }
      this.refuseReply(stream, verdict);
    });
  }

  private refuseReply(stream: Socket, verdict: Exclude<MeterVerdict, { kind: 'ok' }>): void {
    if (stream.destroyed) return;
    const why =
      verdict.kind === 'too-large'
        ? `Redis sent a reply of more than ${this.maxReplyBytes} bytes (the cap)`
        : `Redis sent something that is not a reply (${verdict.detail})`;
    const error = new Error(`${why}; connection dropped`);
    // Stop reading now; then what redis-parser's own fatal errors do: fail the
    // commands sent on this connection with the reason, emit 'error' (so the
    // gate fails fast until the next connection is ready), and reconnect.
    stream.destroy();
    this.redis.recoverFromFatalError(error, error, { offlineQueue: false });
  }

  /**
   * null when a command can be sent now (what ioredis requires: 'ready' and a
   * writable socket; the status stays 'ready' for a moment after the socket
   * was destroyed); else the gate's promise: see ConnectionGate for when it
   * waits and when it fails at once.
   */
  protected usable(onAbort?: AbortSubscription): Promise<void> | null {
    return this.redis.status === 'ready' && this.redis.stream.writable ? null : this.gate.whenReady(onAbort);
  }

  /** Resolves when connected (for startup checks and tests); rejects after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        reject(this.error(`not connected after ${timeoutMs} ms`));
      }, timeoutMs);
      this.redis.once('ready', onReady);
    });
  }

  protected fail(what: string, e: unknown): Error {
    if (e instanceof Error && e.name === this.error('').name) return e;
    const msg = e instanceof Error ? e.message : String(e);
    return this.error(`${what} failed: ${msg}`, e);
  }

  protected assertOpen(): void {
    if (this.closed) throw this.error('store is closed');
  }


  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.gate.close();
    if (this.redis.status === 'ready') {
      try {
        await this.redis.quit();
        return;
      } catch {
        // fall through: drop the connection
      }
    }
    this.redis.disconnect();
  }
}
