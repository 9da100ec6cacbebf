/**
 * The filter host: stdin bytes → lines → parsed messages → handshake,
 * session state, request handling → validated lines on stdout.
 *
 * Everything it touches is injected (clock, logger, output sink, the step
 * services), so tests drive it with a FakeClock and a buffer.
 * It never throws out of `feed`: a malformed, hostile or unexpected line is
 * logged and skipped, a bug while handling a line is logged, and a request
 * still gets its answer (see RequestHandler). It stops only at EOF (`end`).
 */
import type { CompiledRules } from '../model/plan.js';
import {
  HandshakeCollector,
  registrationFor,
  registrationLines,
  type Registration,
  type SmtpdConfig,
} from '../protocol/handshake.js';
import { DEFAULT_MAX_LINE_BYTES, LineReader, type LineEncoding } from '../protocol/line-reader.js';
import { compareVersions, isReportOf, parseInputLine } from '../protocol/parse.js';
import type { InputLine, ReportLine } from '../protocol/types.js';
import { ProtocolWriter, type OutputSink } from '../protocol/writer.js';
import { DEFAULT_SMTPS_PORTS } from '../steps/pause/implicit-tls.js';
import type { StepServices } from '../steps/service.js';
import { hostDefaultServices } from '../steps/services.js';
import { systemClock, type Clock } from '../support/clock.js';
import { silentLogger, type Logger } from '../support/log.js';
import { LogThrottle } from '../support/log-throttle.js';
import { err, ok, type Result } from '../support/result.js';
import { TimerQueue } from '../support/timer-queue.js';
import { Dispatcher } from './dispatcher.js';
import type { RuntimeEvents } from './events.js';
import { buildPlan, describeSteps, DEFAULT_TIMINGS, type ActivePlan, type PlanDeps, type PlanTimings } from './plan.js';
import { RequestHandler } from './requests.js';
import { PIPELINING_REFUSED, Session } from './session.js';
import { SessionTable, type SessionEndReason } from './session-table.js';
import { SmtpsPortCheck } from './smtps-check.js';

export interface HostLimits extends PlanTimings {
  /**
   * Session states kept at most; when full, the least recently active is
   * dropped. Sessions are never dropped for being quiet: smtpd reports nothing
   * for NOOP, RSET or HELP, so a live session may be silent for long.
   */
  readonly maxSessions: number;
  /** Input lines longer than this are dropped (smtpd's longest is ~65.6 KB). */
  readonly maxLineBytes: number;
}

export const DEFAULT_LIMITS: HostLimits = {
  ...DEFAULT_TIMINGS,
  maxSessions: 50_000,
  maxLineBytes: DEFAULT_MAX_LINE_BYTES,
};

export interface HostOptions {
  readonly rules: CompiledRules;
  /** The chain to run; null when the rules file has exactly one. */
  readonly chain: string | null;
  readonly output: OutputSink;
  readonly clock?: Clock;
  readonly log?: Logger;
  /**
   * Every step kind's service (steps/services.ts `createServices`). Without
   * it, `hostDefaultServices`: pauses only wait, and `policy` and `greylist`
   * steps answer per on-error.
   */
  readonly services?: StepServices;
  readonly limits?: Partial<HostLimits>;
  /** How the writer defers a flush to the end of the tick (tests pass a synchronous one). */
  readonly schedule?: (fn: () => void) => void;
  /** Told about steps, decisions, faults, dry-runs and sessions (metrics, the tools; events.ts). */
  readonly events?: RuntimeEvents;
  /**
   * The monotonic clock (ms) that times step runs for `events.stepRan`.
   * Default: the host's clock. The tools give performance.now: their
   * virtual clock does not move while a server answers.
   */
  readonly measure?: () => number;
  /** Listener ports with implicit TLS (--smtps-ports), to check against the reports; default {465}. */
  readonly smtpsPorts?: ReadonlySet<number>;
}

type HostState = 'config' | 'running' | 'closed';

export class FilterHost {
  private state: HostState = 'config';
  private readonly clock: TimerQueue;
  private readonly log: Logger;
  private readonly writer: ProtocolWriter;
  private readonly services: StepServices;
  private current: ActivePlan;
  private readonly sessions: SessionTable;
  private readonly dispatcher: Dispatcher;
  private readonly requests: RequestHandler;
  private readonly reader: LineReader;
  private readonly collector = new HandshakeCollector();
  private readonly throttle: LogThrottle;
  /** Its own budget, so a burst of evictions cannot hide other warnings (or the reverse). */
  private readonly evictionThrottle: LogThrottle;
  private readonly limits: HostLimits;
  private readonly chainName: string;
  private registration: Registration | null = null;
  private smtpd: SmtpdConfig | null = null;
  private protocol: string | null = null;
  private readonly events: RuntimeEvents | undefined;
  private readonly planning: PlanDeps;
  private readonly smtpsCheck: SmtpsPortCheck;

  static create(options: HostOptions): Result<FilterHost, string> {
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    const clock = new TimerQueue(options.clock ?? systemClock);
    const log = options.log ?? silentLogger;
    const services = options.services ?? hostDefaultServices(clock, log);
    const planning = planningDeps(options, log, services, limits, clock);
    const plan = buildPlan(options.rules, options.chain, 1, planning);
    if (!plan.ok) return err(plan.error);
    services.retain(options.rules);
    return ok(new FilterHost(options, plan.value, { clock, log, services, limits, planning }));
  }

  private constructor(
    options: HostOptions,
    initial: ActivePlan,
    deps: { clock: TimerQueue; log: Logger; services: StepServices; limits: HostLimits; planning: PlanDeps },
  ) {
    this.clock = deps.clock;
    this.log = deps.log;
    this.services = deps.services;
    this.limits = deps.limits;
    this.planning = deps.planning;
    this.current = initial;
    this.chainName = initial.chain.name;
    this.events = options.events;
    this.throttle = new LogThrottle(this.clock, this.log);
    this.evictionThrottle = new LogThrottle(this.clock, this.log);
    this.smtpsCheck = new SmtpsPortCheck(options.smtpsPorts ?? DEFAULT_SMTPS_PORTS, this.log);
    this.writer = new ProtocolWriter({
      sink: options.output,
      log: this.log,
      ...(options.schedule !== undefined ? { schedule: options.schedule } : {}),
    });
    this.sessions = new SessionTable({
      clock: this.clock,
      maxSessions: this.limits.maxSessions,
      onEnd: (session, reason, ageMs) => this.sessionEnded(session, reason, ageMs),
    });
    this.dispatcher = new Dispatcher({ writer: this.writer, clock: this.clock, log: this.log });
    this.requests = new RequestHandler({
      sessions: this.sessions,
      currentPlan: () => this.current,
      dispatcher: this.dispatcher,
      writer: this.writer,
      clock: this.clock,
      log: this.log,
      dataLineRegistered: () => this.registration?.filters.includes('data-line') ?? false,
      ...(options.events !== undefined ? { events: options.events } : {}),
    });
    this.reader = new LineReader(
      {
        line: (text, encoding) => this.onLine(text, encoding),
        oversize: (bytes) => this.throttle.warn({ bytes, limit: this.limits.maxLineBytes }, 'input line too long; dropped'),
      },
      this.limits.maxLineBytes,
    );
  }

  /** Bytes from smtpd (stdin). Never throws. */
  feed(chunk: Buffer): void {
    if (this.state === 'closed') return;
    try {
      this.reader.push(chunk);
    } catch (error) {
      this.log.error({ err: errorText(error) }, 'internal error while reading input');
    }
  }

  /** stdin reached EOF: smtpd is shutting down. Answer nothing more, stop timers, close resources. */
  async end(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const dangling = this.reader.end();
    if (dangling > 0) this.log.warn({ bytes: dangling }, 'input ended inside a line; ignored');
    this.dispatcher.dropAll();
    this.sessions.clear();
    this.clock.clear();
    this.writer.flush();
    try {
      await this.services.close();
    } catch (error) {
      this.log.warn({ err: errorText(error) }, 'closing step services failed');
    }
    this.log.info({}, 'input closed; filter stopping');
  }

  /**
   * Make `rules` the rules of new sessions (hot reload). Running sessions keep
   * theirs. Fails, changing nothing, when the rules lack the running chain.
   */
  swapRules(rules: CompiledRules): Result<{ generation: number; chain: string }, string> {
    const generation = this.current.generation + 1;
    const plan = buildPlan(rules, this.chainName, generation, this.planning);
    if (!plan.ok) return err(plan.error);
    this.current = plan.value;
    this.services.retain(rules);
    // Rules that need data-line when it was not registered at startup are
    // compiled with that knowledge (W008): the reloader logs the warning, with
    // the rule's location, so it is not repeated here.
    this.log.info({ generation, chain: this.chainName, steps: describeSteps(plan.value.chain) }, 'rules swapped; new sessions use them');
    return ok({ generation, chain: this.chainName });
  }

  /** Counters for logs and tests. */
  stats(): { state: HostState; sessions: number; pending: number; timers: number; generation: number; protocol: string | null } {
    return {
      state: this.state,
      sessions: this.sessions.size,
      pending: this.dispatcher.size,
      timers: this.clock.size,
      generation: this.current.generation,
      protocol: this.protocol,
    };
  }

  /** The chain this host runs (fixed for its life: reloads keep the name). */
  get chain(): string {
    return this.chainName;
  }

  /** The sink failed (EPIPE): stop writing. */
  outputFailed(error: unknown): void {
    this.writer.fail(error);
  }

  private onLine(text: string, encoding: LineEncoding): void {
    // protocol-server is registered only to see smtpd refuse a pipelining
    // client (an early talker). It is most of smtpd's report traffic (one line
    // per reply line: six for an EHLO), so every other reply is dropped here,
    // unparsed. A line that merely contains the text is parsed and checked in full.
    if (isReportOf(text, 'protocol-server') && !text.includes(PIPELINING_REFUSED)) return;
    const parsed = parseInputLine(text);
    if (!parsed.ok) {
      this.throttle.warn({ problem: parsed.error.reason, line: parsed.error.line }, 'malformed input line ignored');
      return;
    }
    try {
      this.dispatch(parsed.value, encoding);
    } catch (error) {
      this.log.error({ err: errorText(error), line: lineSummary(parsed.value) }, 'internal error while handling a line');
    }
  }

  private dispatch(line: InputLine, encoding: LineEncoding): void {
    switch (line.kind) {
      case 'config':
        if (this.state === 'config') this.collector.add(line);
        else this.log.debug({ key: line.key }, 'config line after the handshake ignored');
        return;
      case 'config-ready':
        if (this.state === 'config') this.register();
        else this.log.warn({}, 'second config|ready ignored');
        return;
      case 'report':
        if (!this.acceptsTraffic(line.kind)) return;
        this.noteVersion(line.version);
        if (line.subsystem === 'smtp-in') this.onReport(line);
        return;
      case 'filter':
        if (!this.acceptsTraffic(line.kind)) return;
        this.noteVersion(line.version);
        this.requests.handle(line, encoding);
        return;
      case 'unknown':
        // We only register names we know, so smtpd should never send these;
        // a request among them cannot be answered safely without knowing its phase.
        this.throttle.warn({ type: line.type, name: line.name, session: line.request?.sessionId ?? null, line: line.line }, 'unknown input line ignored');
        return;
    }
  }

  private acceptsTraffic(kind: string): boolean {
    if (this.state === 'running') return true;
    // smtpd sends traffic only after register|ready; answering before it would be fatal.
    this.throttle.warn({ kind }, 'line before the handshake finished ignored');
    return false;
  }

  private register(): void {
    this.smtpd = this.collector.result();
    this.protocol = this.smtpd.protocol;
    this.registration = registrationFor(this.current.rules.needsDataLine);
    for (const out of registrationLines(this.registration)) this.writer.send(out);
    this.writer.flush();
    this.state = 'running';
    if (!this.smtpd.subsystems.includes('smtp-in')) {
      this.log.warn({ subsystems: this.smtpd.subsystems }, 'smtpd does not use this filter for incoming mail (no smtp-in): it will see no traffic');
    }
    const chain = this.current.chain;
    this.log.info(
      {
        smtpdVersion: this.smtpd.smtpdVersion,
        protocol: this.protocol ?? 'from the first line',
        subsystems: this.smtpd.subsystems,
        admd: this.smtpd.admd,
        ignoredConfigKeys: this.smtpd.unknownKeys,
        filters: this.registration.filters,
        reports: this.registration.reports,
        chain: chain.name,
        steps: describeSteps(chain),
      },
      'registered with smtpd',
    );
  }

  private noteVersion(version: string): void {
    if (this.protocol === version) return;
    const first = this.protocol === null;
    this.protocol = version;
    if (compareVersions(version, '0.5') < 0) {
      this.log.error({ protocol: version }, 'protocol versions before 0.5 (smtpd 6.6) answer in another field order: unsupported');
    } else if (first) {
      this.log.info({ protocol: version }, 'protocol version');
    } else {
      this.log.warn({ protocol: version }, 'protocol version changed');
    }
  }

  private onReport(line: ReportLine): void {
    const id = line.sessionId;
    const event = line.event;
    switch (event.type) {
      case 'link-connect': {
        if (this.sessions.get(id) !== undefined) {
          // An id reused without a link-disconnect we saw: start clean.
          this.dispatcher.dropSession(id);
          this.log.warn({ session: id }, 'link-connect for a session already open; old state dropped');
        }
        const session = new Session(id, this.current);
        session.applyReport(event);
        this.sessions.add(session);
        return;
      }
      case 'link-disconnect': {
        const dropped = this.dispatcher.dropSession(id);
        const session = this.sessions.delete(id);
        if (session?.pipeliningRefused) {
          this.log.info({ session: id, client: session.client, paused: session.paused }, 'early talker dropped by smtpd');
          this.events?.earlyTalker?.({ type: 'early-talker', sessionId: id, client: session.client, paused: session.paused });
        }
        if (dropped > 0) this.log.info({ session: id, dropped }, 'session ended with a request open; no answer sent');
        return;
      }
      default: {
        const session = this.sessions.get(id);
        if (session === undefined) return;
        const knew = session.implicitTls !== null;
        session.applyReport(event);
        if (!knew && session.implicitTls !== null) this.smtpsCheck.observe(session);
      }
    }
  }

  private sessionEnded(session: Session, reason: SessionEndReason, ageMs: number): void {
    try {
      session.end();
    } catch (error) {
      this.log.error({ session: session.id, err: errorText(error) }, 'internal error while ending a session');
    }
    // Whatever the reason, the session is gone for us: release what runners hold for it.
    for (const runner of session.plan.endsSession) {
      try {
        runner.endSession?.(session.id);
      } catch (e) {
        this.log.error({ session: session.id, err: errorText(e) }, 'a step failed to release a session');
      }
    }
    switch (reason) {
      case 'evicted':
        // Its later requests will be tempfailed (requests.ts): say whose, and how old it was.
        this.evictionThrottle.warn(
          { session: session.id, client: session.client, ageMs: Math.round(ageMs), maxSessions: this.limits.maxSessions },
          'session table full; least recently active session forgotten',
        );
        this.events?.sessionEvicted?.({ type: 'session-evicted', sessionId: session.id, client: session.client, ageMs });
        return;
      case 'disconnect':
      case 'replaced':
      case 'cleared':
        return;
    }
  }
}

/** What every rules version is planned with: the services, the timings, and the subscribers that observe runs. */
function planningDeps(options: HostOptions, log: Logger, services: StepServices, timings: PlanTimings, clock: Clock): PlanDeps {
  if (options.events?.stepRan === undefined) return { log, services, timings };
  return { log, services, timings, events: options.events, measure: options.measure ?? (() => clock.monotonic()) };
}

function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

function lineSummary(line: InputLine): Record<string, unknown> {
  switch (line.kind) {
    case 'report':
      return { kind: line.kind, event: line.event.type, session: line.sessionId };
    case 'filter':
      return { kind: line.kind, phase: line.phase, session: line.sessionId };
    case 'config':
      return { kind: line.kind, key: line.key };
    case 'config-ready':
    case 'unknown':
      return { kind: line.kind };
  }
}
