/**
 * `pause DURATION [pregreet disconnect|log] [pay-once DURATION]`: the pause
 * step's runners and its service.
 *
 * The plain pause waits, then goes on with the next step. Used at connect it
 * delays smtpd's banner (protocol.md §7.1). The wait is a timer on the
 * injected clock, never a blocking sleep: thousands of sessions can be
 * paused at once. Aborted (timer cancelled) when the session disconnects or
 * the request's deadline passes.
 *
 * The wait counts from when smtpd sent the request (its timestamp), not from
 * when the filter got to it: after a burst of connections the last requests
 * may have queued for a while, and that time the client has already waited.
 * A timestamp that cannot be right (ahead of our clock, or far behind) is
 * ignored and the full pause applies.
 *
 * Cost matters here (S3 of the benchmarks: 10,000 sessions paused at once):
 * one promise and one timer per pause, and the abort is followed through the
 * context's `onAbort` callback when the runtime provides it, so that no
 * AbortSignal (an EventTarget) is made for the request.
 *
 * With its options:
 *   - pregreet: while the pause runs, the connection's row in the kernel's
 *     socket table is watched (pregreet.ts: one shared read per tick for
 *     every paused session). A client that sent bytes before the banner is
 *     disconnected with the step's reply (`disconnect`) or logged (`log`); a
 *     client that hung up ends the pause at once and the chain goes on (smtpd
 *     notices the hang-up when it writes the banner). When the connection
 *     cannot be watched (not Linux, the local socket) the pause is a plain
 *     pause.
 *     On implicit TLS (the session's listener port is an smtps port) the
 *     client talks first by design, with its TLS ClientHello: there only the
 *     hang-up half of the watch applies, bytes are not early talk
 *     (implicit-tls.ts says why it goes by port).
 *   - pay-once: a client address that waited through the whole pause (quiet
 *     and connected, with pregreet) skips this pause for the given time; on
 *     implicit TLS, where quiet cannot be seen, waiting earns nothing. The
 *     memory is shared by every pause step and survives reloads: it lives in
 *     the service, which the CLI creates once.
 *
 * A pause without those options is the plain pause, only counted
 * (PauseEvents) for the paused-sessions gauge.
 */
import { LRUCache } from 'lru-cache';
import type { CompiledStep, StepOf } from '../../model/plan.js';
import type { StepContext, StepOutcome, StepRunner } from '../../model/runner.js';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import type { WatchHandle } from '../../support/proc-net-tcp-watch.js';
import { stateless, type ServiceSpec, type StepService } from '../service.js';
import type { PregreetOptions } from './define.js';
import { DEFAULT_SMTPS_PORTS, isImplicitTls } from './implicit-tls.js';
import { endpointsOf, socketWatcherFor, type ConnectionWatcher } from './pregreet.js';

export type PauseStep = StepOf<'pause'>;

export class StepAbortedError extends Error {
  constructor(reason: unknown) {
    super(`step aborted: ${reason instanceof Error ? reason.message : String(reason)}`);
    this.name = 'StepAbortedError';
  }
}

/** Subscribe to the context's abort, with the cheap callback when there is one (also used by pause-checks.ts). */
export function onAbort(ctx: StepContext, listener: (reason: unknown) => void): () => void {
  if (ctx.onAbort !== undefined) return ctx.onAbort(listener);
  const signal = ctx.signal;
  if (signal.aborted) {
    listener(signal.reason);
    return () => {};
  }
  const handler = (): void => listener(signal.reason);
  signal.addEventListener('abort', handler, { once: true });
  return () => signal.removeEventListener('abort', handler);
}

/**
 * How far behind smtpd's timestamp the filter may plausibly be. Beyond it the
 * timestamp is taken as wrong (a clock step, a replayed line) rather than as
 * a backlog, and the full pause applies.
 */
export const MAX_TRUSTED_LAG_MS = 60_000;

/** How much of the pause the client has already waited when the request is read. */
export function alreadyWaitedMs(ctx: StepContext, durationMs: number): number {
  if (ctx.requestedAt === undefined) return 0;
  const lag = ctx.clock.now() - ctx.requestedAt;
  if (!(lag >= 0 && lag <= MAX_TRUSTED_LAG_MS)) return 0;
  return Math.min(lag, durationMs);
}

export function createPauseRunner(step: PauseStep): StepRunner {
  const durationMs = step.action.durationMs;
  const done: StepOutcome = { type: 'continue', detail: { pausedMs: durationMs } };
  return {
    step,
    run(ctx: StepContext): StepOutcome | Promise<StepOutcome> {
      const remainingMs = durationMs - alreadyWaitedMs(ctx, durationMs);
      if (remainingMs <= 0) return done;
      return new Promise<StepOutcome>((resolve, reject) => {
        let unsubscribe: (() => void) | null = null;
        const timer = ctx.clock.setTimer(remainingMs, () => {
          unsubscribe?.();
          resolve(done);
        });
        // Called at once when already aborted: the timer is then cancelled before it can fire.
        unsubscribe = onAbort(ctx, (reason) => {
          timer.cancel();
          reject(new StepAbortedError(reason));
        });
      });
    },
  };
}

/** How a pause that started ended. `talked`: refused as an early talker (pregreet disconnect). */
export type PauseEnd = 'waited' | 'talked' | 'gone' | 'aborted';

/** What the pause steps tell an observer (metrics). Called inline; must be cheap and not throw. */
export interface PauseEvents {
  /** A pause started waiting. */
  started?(step: CompiledStep): void;
  /** ... and ended, after `ms` (once per `started`). */
  ended?(step: CompiledStep, end: PauseEnd, ms: number): void;
  /** A pause was skipped: the client paid it recently (pay-once). */
  skipped?(step: CompiledStep): void;
  /** A client sent bytes during a pause with pregreet. */
  earlyTalker?(step: CompiledStep, action: PregreetOptions['action'], bytes: number): void;
}

/** Client addresses that sat through a pause, with when (monotonic ms). */
export class PayOnceMemory {
  private readonly cache: LRUCache<string, number>;

  constructor(
    private readonly clock: Clock,
    /** Addresses remembered at most; the least recently used go first. */
    readonly max = 100_000,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`PayOnceMemory: max must be a positive integer, got ${max}`);
    // ttlResolution 0: read the injected clock on every check (no cached "now").
    this.cache = new LRUCache<string, number>({ max, ttlResolution: 0, perf: { now: () => clock.monotonic() } });
  }

  /** Did `client` sit through a pause less than `withinMs` ago? */
  paidWithin(client: string, withinMs: number): boolean {
    const at = this.cache.get(client);
    return at !== undefined && this.clock.monotonic() - at < withinMs;
  }

  remember(client: string, forMs: number): void {
    this.cache.set(client, this.clock.monotonic(), { ttl: forMs });
  }

  get size(): number {
    return this.cache.size;
  }
}

export interface PauseRunnerDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /** Null where the socket table cannot be watched: pregreet pauses are then plain pauses. */
  readonly watcher: ConnectionWatcher | null;
  /** Shared by every pause step, across reloads. */
  readonly payOnce: PayOnceMemory;
  readonly events?: PauseEvents;
  /** Listener ports with implicit TLS (smtps), where pregreet's early-talk check does not apply. Default {465}. */
  readonly smtpsPorts?: ReadonlySet<number>;
}

/** The StepRunner factory for every pause step (the pause service's). */
export function createPauseRunnerFactory(deps: PauseRunnerDeps): (step: PauseStep) => StepRunner {
  const log = deps.log.child({ step: 'pause' });
  const events = deps.events ?? {};
  const smtpsPorts = deps.smtpsPorts ?? DEFAULT_SMTPS_PORTS;
  let warnedNoWatcher = false;
  // Said once per port (at most one per smtps port): why pregreet lets those sessions talk.
  const toldImplicitTls = new Set<number>();

  return (step) => {
    const { durationMs, pregreet, payOnceMs } = step.action;
    const rule = `${step.span.file}:${step.span.line}`;
    if (pregreet === undefined && payOnceMs === undefined) return countedPlainPause(step, events);
    if (pregreet !== undefined && deps.watcher === null && !warnedNoWatcher) {
      warnedNoWatcher = true;
      log.warn({ rule }, 'pregreet needs the kernel socket table (/proc/net/tcp, Linux); these pauses run without the early-talker check');
    }

    function run(ctx: StepContext): StepOutcome | Promise<StepOutcome> {
      const client = ctx.facts.src;
      if (payOnceMs !== undefined && client !== '' && deps.payOnce.paidWithin(client, payOnceMs)) {
        events.skipped?.(step);
        return { type: 'continue', detail: { pause: 'paid-once', pausedMs: 0 } };
      }
      const waited = alreadyWaitedMs(ctx, durationMs);
      if (durationMs - waited <= 0) {
        // Queued for the whole pause already: nothing left to wait or to watch.
        if (payOnceMs !== undefined && client !== '' && pregreet === undefined) deps.payOnce.remember(client, payOnceMs);
        return { type: 'continue', detail: { pausedMs: durationMs } };
      }
      const endpoints = pregreet === undefined ? null : endpointsOf(ctx.facts);
      // The ClientHello waits in the receive queue during the pause: not early talk.
      const implicitTls = pregreet !== undefined && isImplicitTls(ctx.facts, smtpsPorts);
      if (implicitTls && ctx.facts.destPort !== null && !toldImplicitTls.has(ctx.facts.destPort)) {
        toldImplicitTls.add(ctx.facts.destPort);
        log.info(
          { rule, port: ctx.facts.destPort },
          'pregreet is not applied on this port: implicit TLS (smtps), where the client speaks first (its TLS hello); the pause runs, a hang-up still ends it',
        );
      }
      const started = ctx.clock.monotonic();
      events.started?.(step);

      return new Promise<StepOutcome>((resolve, reject) => {
        let settled = false;
        let talked = false;
        let watch: WatchHandle | null = null;
        let unsubscribe: (() => void) | null = null;
        const elapsed = (): number => waited + Math.round(ctx.clock.monotonic() - started);
        const finish = (end: PauseEnd): number => {
          settled = true;
          timer.cancel();
          watch?.cancel();
          unsubscribe?.();
          const ms = elapsed();
          events.ended?.(step, end, ms);
          return ms;
        };
        const timer = ctx.clock.setTimer(durationMs - waited, () => {
          if (settled) return;
          const ms = finish('waited');
          if (payOnceMs !== undefined && client !== '' && !talked && !implicitTls) deps.payOnce.remember(client, payOnceMs);
          resolve({ type: 'continue', detail: talked ? { pausedMs: ms, pregreet: 'logged' } : implicitTls ? { pausedMs: ms, pregreet: 'implicit-tls' } : { pausedMs: ms } });
        });
        // Called at once when already aborted: the timer is cancelled before it can fire.
        unsubscribe = onAbort(ctx, (reason) => {
          if (settled) return;
          finish('aborted');
          reject(new StepAbortedError(reason));
        });
        if (settled) return;

        if (endpoints !== null && pregreet !== undefined && deps.watcher !== null) {
          watch = deps.watcher.watch(endpoints, (event) => {
            if (settled) return;
            const who = { session: ctx.facts.sessionId, client: `${endpoints.src}:${endpoints.srcPort}`, rule };
            switch (event.kind) {
              case 'talked': {
                if (implicitTls) {
                  log.debug({ ...who, bytes: event.bytes }, 'bytes before the banner on implicit TLS (the TLS hello): not early talk');
                  return;
                }
                talked = true;
                events.earlyTalker?.(step, pregreet.action, event.bytes);
                if (pregreet.action === 'log') {
                  log.info({ ...who, bytes: event.bytes, afterMs: elapsed() }, 'early talker during the pause (pregreet log: the pause goes on)');
                  return;
                }
                const ms = finish('talked');
                resolve({
                  type: 'decide',
                  decision: { type: 'disconnect', reply: pregreet.reply },
                  detail: { pregreet: 'talked', bytes: event.bytes, pausedMs: ms },
                });
                return;
              }
              case 'gone': {
                const ms = finish('gone');
                log.info({ ...who, afterMs: ms, how: event.how }, 'client hung up during the pause; pause ended early');
                resolve({ type: 'continue', detail: { pause: 'client-gone', pausedMs: ms } });
                return;
              }
              case 'unobservable':
                log.debug({ ...who, reason: event.reason }, 'connection not watchable; plain pause');
                return;
            }
          });
        }
      });
    }

    return { step, run };
  };
}

/** The plain pause, with its start and end reported for the paused-sessions gauge. */
function countedPlainPause(step: PauseStep, events: PauseEvents): StepRunner {
  const plain = createPauseRunner(step);
  if (events.started === undefined && events.ended === undefined) return plain;
  return {
    step,
    run(ctx) {
      const outcome = plain.run(ctx);
      if (!(outcome instanceof Promise)) return outcome;
      const started = ctx.clock.monotonic();
      events.started?.(step);
      const ms = (): number => Math.round(ctx.clock.monotonic() - started);
      return outcome.then(
        (value) => {
          events.ended?.(step, 'waited', ms());
          return value;
        },
        (error: unknown) => {
          events.ended?.(step, 'aborted', ms());
          throw error;
        },
      );
    },
  };
}

/**
 * The pause service: the socket-table watcher (Linux) and the pay-once
 * memory, shared by every pause step and kept across reloads.
 */
export const pauseService: ServiceSpec<'pause'> = {
  kind: 'pause',
  external: false,
  createService(deps): StepService<'pause'> {
    const watcher = socketWatcherFor({ clock: deps.clock, log: deps.log, platform: deps.platform, ...(deps.pause?.watcher !== undefined ? { watcher: deps.pause.watcher } : {}) });
    const factory = createPauseRunnerFactory({
      clock: deps.clock,
      log: deps.log,
      watcher,
      payOnce: new PayOnceMemory(deps.clock),
      ...(deps.pause?.smtpsPorts !== undefined ? { smtpsPorts: deps.pause.smtpsPorts } : {}),
      ...(deps.events?.pause !== undefined ? { events: deps.events.pause } : {}),
    });
    return {
      factory,
      retain: () => {},
      close() {
        watcher?.close();
        return Promise.resolve();
      },
    };
  },
};

/** Pauses that only wait: pregreet and pay-once have no effect (a host built without services, the offline tools). */
export function plainPauseService(): StepService<'pause'> {
  return stateless(createPauseRunner);
}
