/**
 * The filter in-process for fuzzing: a FilterHost on a FakeClock, rules
 * compiled from real rules text by the real compiler, and stand-in step
 * services (a policy server simulated on the fake clock, greylisting on an
 * in-memory store), so hostile conversations run thousands of times a minute
 * and never sleep.
 */
import type { StepContext, StepOutcome, StepRunner } from '../../../src/model/runner.js';
import { compileRulesSource } from '../../../src/dsl/index.js';
import type { CompiledRules, CompiledStep } from '../../../src/model/plan.js';
import { FilterHost, type HostLimits } from '../../../src/runtime/host.js';
import { stateless, type StepServices } from '../../../src/steps/service.js';
import { createServices } from '../../../src/steps/services.js';
import { MemoryGreylistStore } from '../../../src/store/memory.js';
import { FakeClock } from '../../../src/support/clock.js';
import type { Logger, LogFn } from '../../../src/support/log.js';
import { ok } from '../../../src/support/result.js';
import type { Action } from './corpus.js';
import { ProtocolOracle } from './oracle.js';

/** Compile rules text (no list files) or fail the test loudly. */
export function compileText(text: string, file = '/etc/mail/fuzz.rules'): CompiledRules {
  const r = compileRulesSource(text, file, { readFile: (p) => { throw Object.assign(new Error(`no file ${p}`), { code: 'ENOENT' }); } });
  if (!r.ok) throw new Error(`fuzz rules do not compile:\n${r.diagnostics.map((d) => `${d.span.line}:${d.span.column} ${d.code} ${d.message}`).join('\n')}`);
  return r.rules;
}

/** A logger that keeps only what the fuzz properties look at: counts per message, and the errors. */
export class CountingLogger implements Logger {
  constructor(
    readonly counts: Map<string, number> = new Map(),
    readonly errors: { msg: string; fields: Record<string, unknown> }[] = [],
  ) {}
  private log(level: string, obj: object, msg?: string): void {
    const m = msg ?? '';
    this.counts.set(m, (this.counts.get(m) ?? 0) + 1);
    if (level === 'error') this.errors.push({ msg: m, fields: { ...obj } });
  }
  debug: LogFn = (o, m) => this.log('debug', o, m);
  info: LogFn = (o, m) => this.log('info', o, m);
  warn: LogFn = (o, m) => this.log('warn', o, m);
  error: LogFn = (o, m) => this.log('error', o, m);
  child(): Logger {
    return this;
  }
}

/** FNV-1a: a stable choice of behaviour per request, so two runs of one case behave alike. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const after = (ctx: StepContext, ms: number, fn: () => StepOutcome): Promise<StepOutcome> =>
  new Promise((resolve, reject) => {
    const timer = ctx.clock.setTimer(ms, () => {
      try {
        resolve(fn());
      } catch (e) {
        reject(e);
      }
    });
    ctx.signal.addEventListener('abort', () => {
      timer.cancel();
      reject(new Error('aborted'));
    }, { once: true });
  });

/**
 * A policy server on the fake clock. Per request (chosen by a hash of the
 * session, phase and step) it answers at once, later, too late, never (even
 * ignoring the abort), rejects, adds a header, or fails. `buggy` adds answers
 * no step should ever give (a 250 reply, a CR LF inside a reply).
 */
function simulatedPolicy(step: CompiledStep, buggy: boolean): StepRunner {
  return {
    step,
    run(ctx) {
      const pick = hash(`${ctx.facts.sessionId}|${ctx.request}|${step.index}|${ctx.facts.rcptTo ?? ''}`) % (buggy ? 12 : 9);
      switch (pick) {
        case 0:
          return { type: 'continue' };
        case 1:
          return after(ctx, 5, () => ({ type: 'continue', detail: { answer: 'DUNNO' } }));
        case 2:
          return after(ctx, 300, () => ({ type: 'decide', decision: { type: 'reject', reply: '450 4.7.1 Greylisted | see http://x/' } }));
        case 3:
          return after(ctx, 10, () => ({ type: 'continue', addHeaders: ['X-Greylist: delayed 1 seconds by fuzz'] }));
        case 4:
          // Hangs past every deadline, but honours the abort.
          return after(ctx, 3_600_000, () => ({ type: 'continue' }));
        case 5:
          // Never settles at all: only the request watchdog can answer.
          return new Promise<StepOutcome>(() => {});
        case 6:
          return after(ctx, 20, () => {
            throw new Error('policy server closed the connection');
          });
        case 7:
          throw new Error('cannot connect: ENOENT');
        case 8:
          return after(ctx, 1, () => ({ type: 'decide', decision: { type: 'disconnect', reply: '421 4.7.0 policy says bye' } }));
        case 9:
          return { type: 'decide', decision: { type: 'reject', reply: '250 2.0.0 looks fine' } };
        case 10:
          return after(ctx, 2, () => ({ type: 'decide', decision: { type: 'reject', reply: '550 5.7.1 two\r\nlines' } }));
        default:
          return { type: 'decide', decision: { type: 'rewrite', value: 'x|y' } };
      }
    },
  };
}

/** Greylisting without memory: the same request always gets the same answer (for before/after comparisons). */
function statelessGreylist(step: CompiledStep): StepRunner {
  return {
    step,
    run: (ctx) =>
      ctx.facts.rcptTo !== null && hash(ctx.facts.rcptTo) % 2 === 0
        ? { type: 'decide', decision: { type: 'reject', reply: '451 4.7.1 Greylisted, please try again in 300 seconds' } }
        : { type: 'continue' },
  };
}

/**
 * A step that asks the outside (DNS, rspamd) or keeps counts (limits, which
 * may name a SQLite file) and records nothing: real lookups and counters that
 * carry on from one run to the next would make before/after runs differ.
 */
function passThrough(step: CompiledStep): StepRunner {
  return { step, run: () => ({ type: 'continue' }) };
}

/**
 * The filter's services with the outside replaced: a simulated policy
 * server, greylisting on an in-memory store (or without memory), and DNS
 * lists, SPF, rspamd and limits that only pass on (no DNS, no HTTP, no
 * files). No
 * socket table is watched (platform `fuzz`): pauses only wait.
 */
export function fuzzServices(clock: FakeClock, log: Logger, buggy = false, greylist: 'memory' | 'stateless' = 'memory'): StepServices {
  return createServices(
    {
      clock,
      log,
      platform: 'fuzz',
      greylist: { open: () => ok(new MemoryGreylistStore()), hostname: 'fuzz.example', version: '0', utcOffsetMinutes: () => 0 },
    },
    {
      replace: {
        policy: stateless((step) => simulatedPolicy(step, buggy)),
        dnsbl: stateless<'dnsbl'>(passThrough),
        spf: stateless<'spf'>(passThrough),
        rspamd: stateless<'rspamd'>(passThrough),
        limit: stateless<'limit'>(passThrough),
        ...(greylist === 'stateless' ? { greylist: stateless<'greylist'>(statelessGreylist) } : {}),
      },
    },
  );
}

export interface RuleSet {
  readonly name: string;
  readonly rules: CompiledRules;
  /** Steps that may answer through a promise that is not a timer (greylist): chunking then changes timing. */
  readonly microtaskAsync: boolean;
  /** Steps that deliberately give invalid answers (the writer's fallback must catch them). */
  readonly buggy: boolean;
}

export function ruleSets(): RuleSet[] {
  return [
    {
      name: 'antispam',
      microtaskAsync: false,
      buggy: false,
      rules: compileText(`
list trusted = { 127.0.0.5, ::1 }
list blocked = { bulk@spam.example, "" }
chain main =
    accept when src in trusted
    then pause 3s
    then reject "550 5.7.1 bare IP | literal in HELO" when helo ~ /^\\[?[0-9.]+\\]?$/
    then disconnect "421 4.7.0 go away" when mail-from ~ /^bulk@/ or mail-from in blocked
    then junk when mail-from ~ /^junk@/ or rdns ~ /(dsl|dynamic|pool)[.-]/
    then reject "550 5.1.1 no such user" when rcpt-to ~ /^(root|nobody|deny)@/
    then junk at data when helo ~ /^x/
    then reject "451 4.7.1 try later" at commit when mail-from ~ /^d@/
    then accept at mail-from when mail-from ~ /^alice@/
    then pause 500ms at rcpt-to when rcpt-to ~ /mailtest/
`),
    },
    {
      name: 'policy-greylist',
      microtaskAsync: true,
      buggy: false,
      rules: compileText(`
chain main =
    pause 200ms at helo when helo ~ /^vm$/
    then policy unix:/run/fuzz/policy.sock timeout 1s on-error proceed
    then postgrey unix:/run/fuzz/postgrey.sock timeout 2s at mail-from
    then greylist delay 1s store "sqlite:/nonexistent/fuzz.db" header when rcpt-to ~ /(grey|mailtest)/
    then reject "550 5.7.1 refused" when rcpt-to ~ /deny/
    then policy tcp:127.0.0.1:10023 at commit on-error tempfail
`),
    },
    {
      name: 'policy-timers',
      microtaskAsync: false,
      buggy: false,
      rules: compileText(`
chain main =
    policy unix:/run/fuzz/policy.sock timeout 1s at mail-from
    then postgrey unix:/run/fuzz/postgrey.sock timeout 2s on-error proceed
    then policy unix:/run/fuzz/policy.sock at data
`),
    },
    {
      name: 'backtracking-patterns',
      microtaskAsync: false,
      buggy: false,
      rules: compileText(`
chain main =
    reject "550 5.7.1 nested" when helo ~ /^(a+)+$/ or helo ~ /^(a|aa)*b$/
    then reject "550 5.7.1 sender" when mail-from ~ /^(([a-z])+.)+[A-Z]([a-z])+$/
    then junk when rcpt-to ~ /(x+x+)+y/
`),
    },
    { name: 'empty', microtaskAsync: false, buggy: false, rules: compileText('chain main = accept when src in { 192.0.2.1 } at commit') },
    {
      name: 'buggy-policy',
      microtaskAsync: false,
      buggy: true,
      rules: compileText(`
chain main =
    policy unix:/run/fuzz/policy.sock at mail-from
    then policy unix:/run/fuzz/policy.sock
    then policy unix:/run/fuzz/policy.sock at data
    then policy unix:/run/fuzz/policy.sock at commit
`),
    },
  ];
}

/** Let promise callbacks run (setImmediate comes after the microtask queue). */
export async function settle(rounds = 2): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export interface RunOptions {
  readonly limits?: Partial<HostLimits>;
  /** Check every step with the oracle (needs one line per feed). */
  readonly oracle?: boolean;
}

export interface RunResult {
  readonly output: string[];
  readonly oracle: ProtocolOracle | null;
  readonly log: CountingLogger;
  readonly host: FilterHost;
  /** Bytes written after the last line end (smtpd would wait for the rest forever). */
  readonly unterminated: string;
}

/** Longer than any budget (pauses ≤ 300 s, watchdogs, greylist timers): every request must be answered after it. */
const DRAIN_MS = 3_600_000;

export async function runConversation(set: RuleSet, actions: readonly Action[], options: RunOptions = {}): Promise<RunResult> {
  const clock = new FakeClock();
  const log = new CountingLogger();
  const output: string[] = [];
  let partial = '';
  let fresh: string[] = [];
  const created = FilterHost.create({
    rules: set.rules,
    chain: null,
    clock,
    log,
    schedule: (fn) => fn(),
    services: fuzzServices(clock, log, set.buggy),
    output: {
      write: (chunk) => {
        // Compared as bytes (one char per byte): echoes must be byte-exact.
        const text = partial + (typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk)).toString('latin1');
        const parts = text.split('\n');
        partial = parts.pop() ?? '';
        output.push(...parts);
        fresh.push(...parts);
        return true;
      },
      once: () => undefined,
    },
    ...(options.limits !== undefined ? { limits: options.limits } : {}),
  });
  if (!created.ok) throw new Error(created.error);
  const host = created.value;
  const oracle = options.oracle === true ? new ProtocolOracle({ maxLineBytes: options.limits?.maxLineBytes ?? 1024 * 1024 }) : null;
  const take = (): void => {
    oracle?.output(fresh);
    fresh = [];
  };
  for (const a of actions) {
    if (a.kind === 'bytes') {
      oracle?.input(a.data);
      host.feed(a.data);
    } else {
      clock.advance(a.ms);
    }
    take();
    await settle();
    take();
  }
  // Time passes beyond every deadline: every request still open must be answered now.
  for (let i = 0; i < 4; i++) {
    clock.advance(DRAIN_MS);
    await settle(3);
    take();
  }
  oracle?.finish();
  return { output, oracle, log, host, unterminated: partial };
}

/** Log messages that mean a bug of ours, not hostile input. */
export const BUG_MESSAGES = ['internal error while handling a line', 'internal error while judging a request', 'internal error while reading input'];
