/**
 * One greylisting request asked of both sides of the differential test:
 *
 *  - ours: the built-in `greylist` step, compiled from rules text, run by its
 *    step runner over a real SQLite store, on a clock the test sets;
 *  - postgrey 1.37, the real daemon, over its policy socket with the request
 *    our `postgrey` step would send, plus `policy_test_time` (postgrey's own
 *    test hook: it then decides as if that were the time), so both sides see
 *    the same second and the test never waits for time to pass.
 *
 * Each answer becomes one line to compare: `greylist new 60`,
 * `greylist early-retry 31`, `pass delayed 61`, `pass known`, `pass awl`.
 * postgrey's answer says greylist-or-pass and the seconds (its texts are set
 * to `%s`/`%t`); which pass it was (triplet or client auto-whitelist) and new
 * vs early-retry come from its log, one `action=` line per request, in order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGreylistRunnerFactory } from '../../../src/steps/greylist/run.js';
import type { StepOutcome, StepRunner } from '../../../src/model/runner.js';
import { compileRulesSource } from '../../../src/dsl/index.js';
import { PolicyClient } from '../../../src/policy/client.js';
import { netConnector } from '../../../src/policy/net.js';
import { buildPolicyRequest } from '../../../src/policy/request.js';
import { GreylistStores } from '../../../src/store/registry.js';
import { systemClock, type Clock } from '../../../src/support/clock.js';
import { RecordingLogger } from '../../../src/support/log.js';
import { waitFor } from '../../e2e/harness/wait.js';
import { Postgrey, sessionFacts } from '../policy/postgrey.js';

export interface GreylistSettings {
  readonly delaySeconds: number;
  /** Whole hours: postgrey's --retry-window takes days or `Nh`. */
  readonly retryWindowHours: number;
  /** Whole days (postgrey's --max-age). */
  readonly maxAgeDays: number;
  readonly autoWhitelist: number;
}

export interface Request {
  /** Epoch seconds (postgrey's clock has one-second steps; ours gets the same instant in ms). */
  readonly at: number;
  readonly client: string;
  readonly sender: string;
  readonly recipient: string;
}

/**
 * Wall time set by the test. It may go backwards (one scenario needs that,
 * which FakeClock cannot do). Its timers never fire: the store's purge never
 * runs, like postgrey's maintenance, which runs on the real clock at night,
 * so neither side forgets anything except by its lookup rules.
 */
class SetClock implements Clock {
  wallMs = 0;
  now(): number {
    return this.wallMs;
  }
  monotonic(): number {
    return 0;
  }
  setTimer(): { cancel(): void } {
    return { cancel: () => undefined };
  }
}

/** Our built-in step: rules text → compiled step → runner over SQLite in a temp dir. */
export class OurGreylist {
  private readonly clock = new SetClock();
  private readonly stores: GreylistStores;
  private readonly runner: StepRunner;

  private constructor(
    readonly dir: string,
    settings: GreylistSettings,
  ) {
    const log = new RecordingLogger();
    const rules =
      `chain inbound = greylist delay ${settings.delaySeconds}s retry-window ${settings.retryWindowHours}h` +
      ` max-age ${settings.maxAgeDays}d auto-whitelist ${settings.autoWhitelist}` +
      ` ipv4-prefix 24 ipv6-prefix 64 store "sqlite:${join(dir, 'greylist.db')}"\n`;
    const compiled = compileRulesSource(rules, join(dir, 'differential.rules'));
    if (!compiled.ok) throw new Error(`rules did not compile: ${compiled.diagnostics.map((d) => d.message).join('; ')}`);
    const step = [...compiled.rules.chains.values()][0]?.steps[0];
    if (step === undefined) throw new Error('no greylist step compiled');
    this.stores = new GreylistStores({ clock: this.clock, log });
    this.runner = createGreylistRunnerFactory({ clock: this.clock, log, stores: this.stores, hostname: 'mx.test' })(step);
  }

  static create(settings: GreylistSettings): OurGreylist {
    return new OurGreylist(mkdtempSync(join(tmpdir(), 'filter-rules-differential-')), settings);
  }

  async ask(req: Request): Promise<string> {
    this.clock.wallMs = req.at * 1000;
    const facts = sessionFacts({ src: req.client, mailFrom: req.sender, rcptTo: req.recipient });
    const outcome: StepOutcome = await this.runner.run({
      facts,
      phase: 'rcpt-to',
      request: 'rcpt-to',
      clock: this.clock,
      signal: new AbortController().signal,
    });
    return describeOurs(outcome);
  }

  async dispose(): Promise<void> {
    await this.stores.closeAll();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function describeOurs(outcome: StepOutcome): string {
  const d = outcome.detail ?? {};
  if (outcome.type === 'decide') {
    const reply = outcome.decision.type === 'reject' ? outcome.decision.reply : '';
    const seconds = /try again in (\d+) seconds?/.exec(reply)?.[1];
    if (seconds === undefined || String(d['retryIn']) !== seconds) {
      throw new Error(`greylist reply and detail disagree: ${JSON.stringify(reply)} ${JSON.stringify(d)}`);
    }
    return `greylist ${String(d['greylist'])} ${seconds}`;
  }
  if (outcome.type !== 'continue') throw new Error(`unexpected outcome ${JSON.stringify(outcome)}`);
  switch (d['greylist']) {
    case 'pass':
      return `pass delayed ${String(d['delayed'])}`;
    case 'known':
      return 'pass known';
    case 'client-awl':
      return 'pass awl';
    default:
      throw new Error(`unexpected greylist detail ${JSON.stringify(d)}`);
  }
}

/** postgrey's log line for one decision: `[QUEUE_ID: ]action=greylist, reason=early-retry (31s missing), …`. */
const LOG_DECISION = /^(?:[^\s:]+: )?action=(greylist|pass), reason=(new|early-retry \(\d+s missing\)|triplet found|client AWL|client whitelist|recipient whitelist)(?:, delay=(\d+))?/gm;

/** A real postgrey set up like our step, answering with the seconds only. */
export class TheirGreylist {
  private readonly client: PolicyClient;
  private readonly answers: string[] = [];

  private constructor(private readonly pg: Postgrey) {
    this.client = new PolicyClient({
      address: { kind: 'unix', path: pg.socket },
      connect: netConnector,
      clock: systemClock,
      log: new RecordingLogger(),
      // One connection: postgrey answers in order and its log lines follow the same order.
      maxConnections: 1,
    });
  }

  static async start(settings: GreylistSettings): Promise<TheirGreylist> {
    const pg = await Postgrey.start(settings.delaySeconds, [
      `--retry-window=${settings.retryWindowHours}h`,
      `--max-age=${settings.maxAgeDays}`,
      `--auto-whitelist-clients=${settings.autoWhitelist}`,
      // Our step has no built-in whitelists (the rules do that); Debian's default files would apply here.
      '--whitelist-clients=/dev/null',
      '--whitelist-recipients=/dev/null',
      '--greylist-text=greylisted %s',
      '--x-greylist-header=X-Greylist: delayed %t',
    ]);
    return new TheirGreylist(pg);
  }

  get log(): string {
    return this.pg.stderr;
  }

  /** Sends the request; the answer is kept until `decisions()` pairs it with its log line. */
  async ask(req: Request): Promise<void> {
    const facts = sessionFacts({ src: req.client, mailFrom: req.sender, rcptTo: req.recipient });
    const attributes = [...buildPolicyRequest(facts, 'rcpt-to'), ['policy_test_time', String(req.at)] as const];
    const answer = await this.client.query(attributes, { timeoutMs: 30_000 });
    this.answers.push(answer.action ?? '(no action)');
  }

  /** Every decision so far, in the form described above (waits for postgrey's log to catch up). */
  async decisions(): Promise<string[]> {
    const n = this.answers.length;
    const logged = await waitFor(
      () => {
        const lines = [...this.pg.stderr.matchAll(LOG_DECISION)];
        return lines.length >= n ? lines : null;
      },
      { timeoutMs: 30_000, what: `${n} decision lines in postgrey's log`, explain: () => this.pg.stderr.slice(-2000) },
    );
    if (logged.length !== n) throw new Error(`postgrey logged ${logged.length} decisions for ${n} requests`);
    return this.answers.map((action, i) => describeTheirs(action, logged[i] as RegExpMatchArray));
  }

  async dispose(): Promise<void> {
    this.client.destroy();
    await this.pg.dispose();
  }
}

function describeTheirs(action: string, line: RegExpMatchArray): string {
  const [, verdict, reason, delay] = line;
  const defer = /^DEFER_IF_PERMIT (?:4\.2\.0 )?greylisted (\d+)$/.exec(action);
  const prepend = /^PREPEND X-Greylist: delayed (\d+)$/.exec(action);
  if (defer) {
    if (verdict !== 'greylist') throw new Error(`postgrey answered ${action} but logged ${line[0]}`);
    return `greylist ${reason === 'new' ? 'new' : 'early-retry'} ${defer[1]}`;
  }
  if (verdict !== 'pass') throw new Error(`postgrey answered ${action} but logged ${line[0]}`);
  if (prepend) {
    if (delay !== prepend[1]) throw new Error(`postgrey answered ${action} but logged ${line[0]}`);
    return `pass delayed ${prepend[1]}`;
  }
  if (action !== 'DUNNO') throw new Error(`unexpected postgrey answer ${JSON.stringify(action)}`);
  if (reason === 'client AWL') return 'pass awl';
  if (reason === 'triplet found') return 'pass known';
  return `pass ${reason ?? '?'}`;
}
