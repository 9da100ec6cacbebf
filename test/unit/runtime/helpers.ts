/**
 * Test helpers for the runtime: hand-built compiled rules (the runtime is
 * tested without the DSL), and a host harness that feeds protocol lines and
 * collects what the filter writes, driven by a FakeClock.
 */
import assert from 'node:assert/strict';
import type { StepRunner } from '../../../src/model/runner.js';
import type { CompiledChain, CompiledRules, CompiledStep, OnError, Predicate, SessionFacts, StepAction } from '../../../src/model/plan.js';
import { configLines, filterLine, reportLine, reportLineOf, SMTPD_68 } from '../../../src/protocol/lines.js';
import { parseInputLine } from '../../../src/protocol/parse.js';
import type { RulePhase } from '../../../src/model/phases.js';
import type { Envelope, ReportEvent } from '../../../src/protocol/types.js';
import { FilterHost, type HostLimits } from '../../../src/runtime/host.js';
import type { RuntimeEvents } from '../../../src/runtime/events.js';
import { buildPlan, DEFAULT_TIMINGS, type ActivePlan } from '../../../src/runtime/plan.js';
import { stateless, type StepServices } from '../../../src/steps/service.js';
import { hostDefaultServices, type ServiceReplacements } from '../../../src/steps/services.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger, silentLogger } from '../../../src/support/log.js';
import { nameAndText } from '../steps/compiled.js';

export const FILE = '/etc/mail/test.rules';

export interface StepSpec {
  readonly action: StepAction;
  readonly phase: RulePhase;
  readonly when?: Predicate;
  readonly whenText?: string;
  readonly onError?: OnError;
  readonly dryRun?: boolean;
}

/** Build a chain: indexes, spans (line = index + 2) and stepsByPhase as the compiler would. */
export function chain(name: string, specs: readonly StepSpec[]): CompiledChain {
  const steps: CompiledStep[] = specs.map((s, index) => ({
    index,
    action: s.action,
    ...nameAndText(s.action),
    phase: s.phase,
    when: s.when ?? null,
    whenText: s.when ? (s.whenText ?? 'test condition') : null,
    span: { file: FILE, line: index + 2, column: 5, endLine: index + 2, endColumn: 40 },
    onError: s.onError ?? 'tempfail',
    ...(s.dryRun === true ? { dryRun: true } : {}),
  }));
  const byPhase = new Map<RulePhase, CompiledStep[]>();
  for (const s of steps) byPhase.set(s.phase, [...(byPhase.get(s.phase) ?? []), s]);
  return { name, span: { file: FILE, line: 1, column: 1, endLine: 1, endColumn: 10 }, steps, stepsByPhase: byPhase };
}

export function rules(chains: readonly CompiledChain[], needsDataLine = false): CompiledRules {
  return { chains: new Map(chains.map((c) => [c.name, c])), files: [FILE], needsDataLine };
}

export const pause = (durationMs: number): StepAction => ({ kind: 'pause', durationMs });
export const reject = (reply: string): StepAction => ({ kind: 'reject', reply });
export const disconnect = (reply: string): StepAction => ({ kind: 'disconnect', reply });
export const accept: StepAction = { kind: 'accept' };
export const junk: StepAction = { kind: 'junk' };
export const policy = (timeoutMs = 1000): StepAction => ({
  kind: 'policy',
  options: { flavor: 'policy', address: { kind: 'unix', path: '/run/test.sock' }, timeoutMs },
});

/** A host's built-in services (plain pauses, policy and greylist unavailable), with stand-ins for some kinds. */
export function testServices(replace: ServiceReplacements = {}): StepServices {
  return hostDefaultServices(new FakeClock(), silentLogger, replace);
}

/** Services whose `policy` steps run the given function (a stand-in for a policy server). */
export function fakePolicy(run: StepRunner['run']): StepServices {
  return testServices({ policy: stateless((step) => ({ step, run })) });
}

export const when = {
  rcpt: (address: string): Predicate => (f: SessionFacts) => f.rcptTo === address,
  mailFrom: (address: string): Predicate => (f: SessionFacts) => f.mailFrom === address,
  helo: (name: string): Predicate => (f: SessionFacts) => f.helo === name,
  src: (address: string): Predicate => (f: SessionFacts) => f.src === address,
};

export const SMTPD_68_CONFIG = configLines({ ...SMTPD_68, admd: 'vm' });

export const SID = '3689fe601e5436b4';
export const SID2 = '3689fe69138f0c10';
/** Tokens as smtpd 6.8 sent them (one per chain entry, the same for every session). */
export const TOKEN = {
  connect: '1a9c37f7cd0c06a5',
  helo: '1a9c37f824320cc1',
  ehlo: '1a9c37f9d78d35b9',
  'mail-from': '1a9c37fc5c0df525',
  'rcpt-to': '1a9c37fdc8eee799',
  data: '1a9c37feaba716e8',
  'data-line': '1a9c37ffd8d15f2f',
  commit: '1a9c3800f98076e9',
} as const;

/** What smtpd 6.8 starts a line of the session with, stamped at `timestamp` (seconds). */
const head = (sessionId: string, timestamp: number): Envelope => ({ version: '0.6', timestamp, subsystem: 'smtp-in', sessionId });

/** Protocol lines as smtpd 6.8 writes them, for one session. `connect` and `report` take the event's fields as written. */
export const line = {
  connect: (sid = SID, src = '127.0.0.1:60192', rdns = 'localhost') =>
    reportLineOf(head(sid, 1795635326.076777), 'link-connect', `${rdns}|pass|${src}|127.0.0.1:2540`),
  disconnect: (sid = SID) => reportLine({ ...head(sid, 1795635326.082345), event: { type: 'link-disconnect' } }),
  report: (event: string, sid = SID, params?: string) => reportLineOf(head(sid, 1795635326.077), event, params ?? null),
  request: (phase: keyof typeof TOKEN, param = '', sid = SID) =>
    filterLine({ ...head(sid, 1795635326.076808), phase, token: TOKEN[phase], param }),
};

export const result = (phase: keyof typeof TOKEN, decision: string, sid = SID) =>
  `filter-result|${sid}|${TOKEN[phase]}|${decision}`;
export const dataline = (text: string, sid = SID) => `filter-dataline|${sid}|${TOKEN['data-line']}|${text}`;

export interface HarnessOptions {
  readonly chain?: string | null;
  readonly services?: StepServices;
  readonly limits?: Partial<HostLimits>;
  readonly handshake?: readonly string[] | null;
  readonly events?: RuntimeEvents;
  /** What times step runs for `events.stepRan` (default: the host's clock). */
  readonly measure?: () => number;
  readonly smtpsPorts?: ReadonlySet<number>;
  /** The clock and logger the host uses; given when services must share them (default: fresh ones). */
  readonly clock?: FakeClock;
  readonly log?: RecordingLogger;
}

/** A FilterHost on a FakeClock, writing into an array of lines. */
export class HostHarness {
  readonly clock: FakeClock;
  readonly log: RecordingLogger;
  readonly host: FilterHost;
  /** Every line written, in order (bytes shown as latin1 when a chunk came as bytes). */
  readonly written: string[] = [];
  /** Every chunk written, as bytes (for byte-exact checks). */
  readonly raw: Buffer[] = [];
  private seen = 0;
  private partial = '';

  constructor(compiled: CompiledRules, options: HarnessOptions = {}) {
    this.clock = options.clock ?? new FakeClock();
    this.log = options.log ?? new RecordingLogger();
    const created = FilterHost.create({
      rules: compiled,
      chain: options.chain ?? null,
      output: {
        write: (chunk) => {
          this.raw.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
          const text = this.partial + (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1'));
          const parts = text.split('\n');
          this.partial = parts.pop() ?? '';
          this.written.push(...parts);
          return true;
        },
        once: () => undefined,
      },
      clock: this.clock,
      log: this.log,
      schedule: (fn) => fn(),
      ...(options.services !== undefined ? { services: options.services } : {}),
      ...(options.limits !== undefined ? { limits: options.limits } : {}),
      ...(options.events !== undefined ? { events: options.events } : {}),
      ...(options.measure !== undefined ? { measure: options.measure } : {}),
      ...(options.smtpsPorts !== undefined ? { smtpsPorts: options.smtpsPorts } : {}),
    });
    if (!created.ok) throw new Error(created.error);
    this.host = created.value;
    const handshake = options.handshake === undefined ? SMTPD_68_CONFIG : options.handshake;
    if (handshake !== null) this.feed(...handshake);
  }

  /** Feed lines (each gets its `\n`); return the lines written since the last call. */
  feed(...lines: string[]): string[] {
    for (const l of lines) this.host.feed(Buffer.from(`${l}\n`, 'utf8'));
    return this.take();
  }

  feedBytes(bytes: Buffer): string[] {
    this.host.feed(bytes);
    return this.take();
  }

  /** Lines written since the last call. */
  take(): string[] {
    const fresh = this.written.slice(this.seen);
    this.seen = this.written.length;
    return fresh;
  }

  /** Advance the fake clock and let promise callbacks run. */
  async advance(ms: number): Promise<string[]> {
    this.clock.advance(ms);
    await settle();
    return this.take();
  }

  messages(): (string | undefined)[] {
    return this.log.records.map((r) => r.msg);
  }
}

/** Let every pending promise callback run (setImmediate comes after the microtask queue). */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Facts with everything empty, for evaluator tests. */
export function facts(overrides: Partial<SessionFacts> = {}): SessionFacts {
  return {
    sessionId: SID,
    src: '192.0.2.7',
    srcPort: 5000,
    dest: '192.0.2.1',
    destPort: 25,
    local: false,
    rdns: null,
    fcrdns: null,
    helo: null,
    heloMethod: null,
    mailFrom: null,
    rcptTo: null,
    recipients: [],
    messageId: null,
    authUser: null,
    tls: null,
    size: null,
    ...overrides,
  };
}

/** The plan of one empty chain: what a Session needs when the test is about its facts or the table, not steps. */
export function emptyPlan(): ActivePlan {
  const p = buildPlan(rules([chain('main', [])]), null, 1, { log: silentLogger, services: testServices(), timings: DEFAULT_TIMINGS });
  assert.ok(p.ok);
  return p.ok ? p.value : (undefined as never);
}

/** A report line parsed, as the host hands it to Session.applyReport. */
export function reportEvent(l: string): ReportEvent {
  const p = parseInputLine(l);
  assert.ok(p.ok && p.value.kind === 'report', l);
  return p.ok && p.value.kind === 'report' ? p.value.event : (undefined as never);
}
