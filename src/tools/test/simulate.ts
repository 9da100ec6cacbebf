/**
 * `filter-rules test`: one synthetic SMTP session through the rules, phase by
 * phase, as smtpd would present it to the filter (the protocol lines of
 * smtpd 6.8), run by the real filter host (see driver.ts). What it collects,
 * for every step of every phase, is whether its condition held (with the
 * values it read) and what the step did, then what smtpd was answered;
 * report.ts turns that into text.
 *
 * A TLS client says EHLO, STARTTLS, then EHLO again (the helo steps run
 * twice, as in smtpd); an authenticated one then AUTH. Rules never run at
 * starttls or auth: what the filter hears is smtpd's report of each (link-tls,
 * link-auth in the protocol's field order), shown as a row of its own.
 *
 * The session follows smtpd: a refused HELO or MAIL FROM ends it (smtpd
 * answers the next commands with 503 and never asks the filter), a refused
 * recipient does not, no accepted recipient means no DATA, a disconnect ends
 * everything. Pauses are not waited for.
 */
import type { StepServices } from '../../steps/service.js';
import type { CompiledChain, CompiledRules, CompiledStep } from '../../model/plan.js';
import { replyOf, type FilterDecision } from '../../model/decision.js';
import { connectParam, dataLinesFor, endpointText, filterLine, parseOutputLine, reportLine, resultFor } from '../../protocol/lines.js';
import { RULE_PHASES, type FilterPhase, type RulePhase } from '../../model/phases.js';
import type { Endpoint, Envelope, ReportEvent } from '../../protocol/types.js';
import type { DecisionEvent, StepRanEvent } from '../../runtime/events.js';
import type { DryRunHit } from '../../runtime/evaluator.js';
import { conditionValues } from '../../runtime/explain.js';
import { type ExplainValue } from '../../conditions/fields.js';
import { kindOf } from '../../steps/catalogue.js';
import type { Logger } from '../../support/log.js';
import { FilterDriver, type ConditionEvent, type ServiceMode } from '../driver.js';
import type { SyntheticSession } from '../synthetic-session.js';
import { DEFAULT_HANDSHAKE } from '../transcript.js';
import { answerText, duration, printable } from '../text.js';
import { decisionWord, dryRunValues, toldAbout, type Told } from '../told.js';

export interface LoadedRulesInput {
  readonly rules: CompiledRules;
  readonly chain: CompiledChain;
  /** Texts of the rules files, to show each step as written. */
  readonly sources: ReadonlyMap<string, string>;
}

export interface TestOptions {
  readonly mode: ServiceMode;
  /** Start of virtual time (wall clock). */
  readonly startWallMs: number;
  /** Online: the step services to use (default: the production ones). */
  readonly services?: StepServices;
  /** Where the filter's log goes (default: nowhere; the report is made from the runtime's events). */
  readonly log?: Logger;
}

export type ConditionResult = 'true' | 'false' | 'none' | 'not reached';

export interface StepRow {
  readonly step: CompiledStep;
  readonly condition: ConditionResult;
  readonly values: Readonly<Record<string, ExplainValue>> | null;
  /** What the step did; '' when it did not run. */
  readonly result: string;
}

export interface PhaseReport {
  /** Null for what the client does where rules never run (STARTTLS, AUTH): smtpd only reports it. */
  readonly phase: RulePhase | null;
  readonly request: FilterPhase;
  /** The command's argument (HELO name, address); null at connect/data/commit. */
  readonly param: string | null;
  readonly rows: readonly StepRow[];
  /** Why no step row is shown, when none is. */
  readonly note: string | null;
  /** What smtpd was answered: `proceed`, `reject 550 ...`; '' for a phase never reached. */
  readonly answer: string;
}

export interface TestReport {
  readonly chain: string;
  readonly rulesFile: string;
  readonly session: SyntheticSession;
  readonly mode: ServiceMode;
  readonly phases: readonly PhaseReport[];
  /** How the session ended, in one sentence. */
  readonly outcome: string;
  /** Header lines the filter added to the message. */
  readonly headersAdded: readonly string[];
  /** Dry-run steps that would have acted. */
  readonly wouldHave: number;
}

const SID = '7e57000000000001';
const MSGID = '7e570001';
const TOKENS: Readonly<Record<string, string>> = {
  connect: '7e57c0de00000001',
  ehlo: '7e57c0de00000002',
  'mail-from': '7e57c0de00000003',
  'rcpt-to': '7e57c0de00000004',
  data: '7e57c0de00000005',
  'data-line': '7e57c0de00000006',
  commit: '7e57c0de00000007',
};

/** The request's token, as smtpd would have it: one per phase (the chain entry). */
function tokenOf(phase: FilterPhase): string {
  return TOKENS[phase] ?? '7e57c0de000000ff';
}

/** Run the session. Never throws for rule problems: those are in the report. */
export async function runTestSession(loaded: LoadedRulesInput, session: SyntheticSession, options: TestOptions): Promise<TestReport> {
  const chain = loaded.chain;
  const created = FilterDriver.create({
    rules: loaded.rules,
    chain: chain.name,
    mode: options.mode,
    startWallMs: options.startWallMs,
    ...(options.services !== undefined ? { services: options.services } : {}),
    ...(options.log !== undefined ? { log: options.log } : {}),
  });
  if (!created.ok) throw new Error(created.error);
  const driver = created.value;
  const run = new SessionRun(driver, chain, session, options.mode);
  try {
    return await run.all(options.mode, loaded.rules.files[0] ?? chain.span.file);
  } finally {
    await driver.end();
  }
}

type Flow = { readonly go: true } | { readonly go: false; readonly outcome: string };

class SessionRun {
  private readonly phases: PhaseReport[] = [];
  private readonly dataLine: boolean;
  private junk = false;
  private headersAdded: string[] = [];
  private wouldHave = 0;

  constructor(
    private readonly driver: FilterDriver,
    private readonly chain: CompiledChain,
    private readonly session: SyntheticSession,
    private readonly mode: ServiceMode,
  ) {
    for (const line of DEFAULT_HANDSHAKE) driver.feed(line);
    this.dataLine = driver.takeOutput().some((line) => {
      const written = parseOutputLine(line);
      return written.ok && written.value.kind === 'register-filter' && written.value.phase === 'data-line';
    });
  }

  async all(mode: ServiceMode, rulesFile: string): Promise<TestReport> {
    const outcome = await this.converse();
    this.report({ type: 'link-disconnect' });
    // Phases with steps the session never got to.
    for (const phase of RULE_PHASES) {
      if ((this.chain.stepsByPhase.get(phase) ?? []).length === 0 || this.phases.some((p) => p.phase === phase)) continue;
      this.phases.push({ phase, request: phase === 'helo' ? 'ehlo' : phase, param: null, rows: [], note: 'not reached: the session ended before it', answer: '' });
    }
    return {
      chain: this.chain.name,
      rulesFile,
      session: this.session,
      mode,
      phases: this.phases,
      outcome: outcome + (this.junk ? '; marked as junk (smtpd adds "X-Spam: Yes")' : ''),
      headersAdded: this.headersAdded,
      wouldHave: this.wouldHave,
    };
  }

  private async converse(): Promise<string> {
    const s = this.session;
    const src: Endpoint = { address: s.src, port: 50000, local: false };
    const dest: Endpoint = { address: s.src.includes(':') ? '2001:db8::25' : '192.0.2.25', port: 25, local: false };
    this.report({ type: 'link-connect', rdns: s.rdns, fcrdns: s.fcrdns, src, dest, srcText: endpointText(src) });
    let flow = await this.request('connect', 'connect', connectParam(s.rdns, src), null);
    if (!flow.go) return flow.outcome;
    this.report({ type: 'link-greeting', hostname: 'mx.test' });

    this.report({ type: 'protocol-client', command: `EHLO ${s.helo}` });
    flow = await this.request('ehlo', 'helo', s.helo, s.helo);
    if (!flow.go) return flow.outcome;
    this.report({ type: 'link-identify', method: 'EHLO', identity: s.helo });

    if (s.tls !== null) {
      // smtpd asks no filter at starttls (the rules register no such phase); after
      // the handshake it reports link-tls, and the client starts over with EHLO.
      this.report({ type: 'protocol-client', command: 'STARTTLS' });
      this.report({ type: 'link-tls', tls: s.tls });
      this.reported('starttls', null, `TLS ${printable(s.tls)}, reported (link-tls)`);
      this.report({ type: 'protocol-client', command: `EHLO ${s.helo}` });
      flow = await this.request('ehlo', 'helo', s.helo, s.helo);
      if (!flow.go) return flow.outcome;
      this.report({ type: 'link-identify', method: 'EHLO', identity: s.helo });
    }
    if (s.authUser !== null) {
      this.report({ type: 'protocol-client', command: 'AUTH PLAIN ********' });
      this.report({ type: 'link-auth', username: s.authUser, result: 'pass' });
      this.reported('auth', s.authUser, 'authenticated, reported (link-auth)');
    }

    this.report({ type: 'protocol-client', command: `MAIL FROM:<${s.mailFrom}>` });
    flow = await this.request('mail-from', 'mail-from', s.mailFrom, `<${s.mailFrom}>`);
    if (!flow.go) return flow.outcome;
    this.report({ type: 'tx-begin', messageId: MSGID });
    this.report({ type: 'tx-mail', messageId: MSGID, result: 'ok', address: s.mailFrom });

    const accepted: string[] = [];
    for (const rcpt of s.rcptTo) {
      this.report({ type: 'protocol-client', command: `RCPT TO:<${rcpt}>` });
      const decision = await this.ask('rcpt-to', 'rcpt-to', rcpt, `<${rcpt}>`);
      if (decision?.type === 'reject') {
        // One recipient refused; the transaction goes on with the others.
        const temp = decision.reply.startsWith('4');
        this.report({ type: 'tx-rcpt', messageId: MSGID, result: temp ? 'tempfail' : 'permfail', address: rcpt });
        continue;
      }
      flow = this.flow('rcpt-to', decision);
      if (!flow.go) return flow.outcome;
      this.report({ type: 'tx-envelope', messageId: MSGID, envelopeId: `${MSGID}00000001` });
      this.report({ type: 'tx-rcpt', messageId: MSGID, result: 'ok', address: rcpt });
      accepted.push(rcpt);
    }
    if (accepted.length === 0) return 'no recipient accepted: smtpd answers DATA with 503, no message';

    this.report({ type: 'protocol-client', command: 'DATA' });
    flow = await this.request('data', 'data', '', null);
    if (!flow.go) return flow.outcome;
    this.report({ type: 'tx-data', messageId: MSGID, result: 'ok' });
    if (this.dataLine) await this.message(accepted);

    this.report({ type: 'protocol-client', command: '.' });
    flow = await this.request('commit', 'commit', '', null);
    if (!flow.go) return flow.outcome;
    this.report({ type: 'tx-commit', messageId: MSGID, size: 512 });
    return `message accepted for ${accepted.length} of ${s.rcptTo.length} recipient(s)`;
  }

  /** Stream a small message through data-line and note the header lines the filter put in front. */
  private async message(recipients: readonly string[]): Promise<void> {
    const lines = [
      'Received: from mx.test (filter-rules test)',
      `From: <${this.session.mailFrom}>`,
      `To: ${recipients.map((r) => `<${r}>`).join(', ')}`,
      'Subject: filter-rules test',
      '',
      'test message',
      '.',
    ];
    const token = tokenOf('data-line');
    const echoed: string[] = [];
    for (const line of lines) {
      this.driver.feed(filterLine({ ...this.head(), phase: 'data-line', token, param: line }));
      await this.driver.settle();
      echoed.push(...dataLinesFor(this.driver.takeOutput(), SID, token));
    }
    const first = echoed.indexOf(lines[0] ?? '');
    this.headersAdded = first > 0 ? echoed.slice(0, first) : [];
  }

  /** A row for what smtpd only reported: no request, no step, no answer. */
  private reported(request: 'starttls' | 'auth', param: string | null, note: string): void {
    this.phases.push({ phase: null, request, param, rows: [], note, answer: '' });
  }

  private report(event: ReportEvent): void {
    this.driver.feed(reportLine({ ...this.head(), event }));
  }

  /** What smtpd 6.8 starts every line with, stamped with the virtual clock. */
  private head(): Envelope {
    return { version: '0.6', timestamp: this.driver.clock.now() / 1000, subsystem: 'smtp-in', sessionId: SID };
  }

  /** Send one filter request and say whether the session goes on. */
  private async request(request: FilterPhase, phase: RulePhase, param: string, shown: string | null): Promise<Flow> {
    return this.flow(phase, await this.ask(request, phase, param, shown));
  }

  /** Send one filter request, wait for its answer, and record the phase's report. */
  private async ask(request: FilterPhase, phase: RulePhase, param: string, shown: string | null): Promise<FilterDecision | undefined> {
    const token = tokenOf(request);
    const marks = { conditions: this.driver.conditions.length, events: this.driver.events.length };
    this.driver.feed(filterLine({ ...this.head(), phase: request, token, param }));
    await this.driver.settle();
    const result = resultFor(this.driver.takeOutput(), SID, token);
    const told = toldAbout(this.driver.events.slice(marks.events), SID, request);
    const conditions = this.driver.conditions.slice(marks.conditions).filter((c) => c.sessionId === SID);
    const steps = this.chain.stepsByPhase.get(phase) ?? [];
    const rows = this.rows(steps, conditions, told);
    const note =
      steps.length === 0 ? 'no step at this phase' : conditions.length === 0 ? 'skipped: an earlier accept covers this phase' : null;
    const answer = result === undefined ? 'no answer (a bug: please report it)' : answerText(result);
    this.phases.push({ phase, request, param: shown, rows: note === null ? rows : [], note, answer });
    return result;
  }

  private rows(steps: readonly CompiledStep[], conditions: readonly ConditionEvent[], told: Told): StepRow[] {
    const decision = told.decision;
    const ran = conditions.filter((c) => c.held !== false);
    // The step that decided (an armed DEFER_IF_PERMIT decides after later
    // steps ran); the last step that ran when there is none.
    const decider = decision?.evaluation?.step ?? null;
    const named = decider === null ? undefined : ran.findLast((c) => c.step.index === decider.index);
    const last = named ?? ran.at(-1);
    return steps.map((step): StepRow => {
      const seen = conditions.find((c) => c.step.index === step.index);
      if (seen === undefined) return { step, condition: 'not reached', values: null, result: '' };
      const values = conditionValues(step, seen.facts);
      if (seen.held === false) return { step, condition: 'false', values, result: '-' };
      const condition: ConditionResult = seen.held === null ? 'none' : 'true';
      if (step.dryRun === true) {
        const hit = told.dryRuns.find((d) => d.hit.step.index === step.index)?.hit;
        const result = hit === undefined ? 'dry-run' : dryRunText(hit);
        if (hit !== undefined && isActing(hit)) this.wouldHave++;
        return { step, condition, values, result };
      }
      const run = told.runs.find((r) => r.step.index === step.index);
      const deciding = decision !== null && last !== undefined && last.step.index === step.index;
      const parts: string[] = [];
      if (run !== undefined) parts.push(runText(step, run, this.mode === 'offline'));
      else {
        const notRun = kindOf(step.action.kind).describe.notRun?.(step.action);
        if (notRun !== undefined) parts.push(notRun);
      }
      // A failed run already says so (and which on-error applied): show only the decision then.
      if (deciding) parts.push(decisionText(decision, step.phase, run?.result.ok !== false));
      if (parts.length === 0) parts.push('ran');
      return { step, condition, values, result: parts.join(' → ') };
    });
  }

  private flow(phase: RulePhase, decision: FilterDecision | undefined): Flow {
    if (decision === undefined) return { go: false, outcome: `no answer at ${phase}` };
    switch (decision.type) {
      case 'proceed':
      case 'rewrite':
        return { go: true };
      case 'junk':
        this.junk = true;
        return { go: true };
      case 'disconnect':
        return { go: false, outcome: `disconnected at ${phase}: ${printable(decision.reply)}` };
      case 'reject':
        return { go: false, outcome: rejectOutcome(phase, decision.reply) };
    }
  }
}

function rejectOutcome(phase: RulePhase, reply: string): string {
  const shown = printable(reply);
  switch (phase) {
    case 'connect':
      return `refused at connect: ${shown}`;
    case 'helo':
      return `EHLO refused (${shown}): smtpd answers MAIL FROM with 503, the session cannot go on`;
    case 'mail-from':
      return `MAIL FROM refused (${shown}): no transaction`;
    case 'rcpt-to':
      return `recipient refused: ${shown}`;
    case 'data':
      return `DATA refused: ${shown}`;
    case 'commit':
      return `message refused after DATA: ${shown}`;
  }
}

/** What an `accept` covers at each phase (see the reference, "accept and its scope"). */
const ACCEPT_SCOPE: Readonly<Record<RulePhase, string>> = {
  connect: 'the rest of the session',
  helo: 'the rest of the session',
  'mail-from': 'the rest of this transaction',
  'rcpt-to': 'this recipient',
  data: 'the rest of this transaction',
  commit: 'this message',
};

function decisionText(e: DecisionEvent, phase: RulePhase, withFault = true): string {
  const decision = decisionWord(e);
  if (decision === 'accept') return `accept: ${ACCEPT_SCOPE[phase]}`;
  const reply = replyOf(e.sent);
  const fault = e.evaluation?.fault?.error ?? null;
  let text = reply === null ? decision : `${decision} ${printable(reply)}`;
  if (fault !== null && withFault) text = `failed (${fault}), on-error tempfail: ${text}`;
  if (e.note !== null) text += ` (${e.note})`;
  return text;
}

/** It would have done something: not a plain proceed, not a failure. */
function isActing(hit: DryRunHit): boolean {
  const would = dryRunValues(hit).would;
  return would !== 'proceed' && would !== 'error';
}

function dryRunText(hit: DryRunHit): string {
  const v = dryRunValues(hit);
  if (v.would === 'error') return `dry-run: failed (${v.error ?? 'unknown error'}), ignored`;
  if (v.offline) return 'dry-run: not asked (--offline), would proceed';
  if (v.would === 'pause' && v.pausedMs !== null) return `dry-run: would pause ${duration(v.pausedMs)}`;
  let text = `dry-run: would ${v.would}${v.reply === null ? '' : ` ${printable(v.reply)}`}`;
  if (v.answer !== null) text += ` (answer: ${printable(v.answer)})`;
  else if (v.greylist !== null) text += ` (greylist: ${v.greylist})`;
  return text;
}

/** A run of a step of an external kind: not asked (offline), what it answered and how long it took, or how it failed. */
function runText(step: CompiledStep, run: StepRanEvent, offline: boolean): string {
  const what = step.name;
  if (offline) return `${what}: not asked (--offline), goes on as if it said DUNNO`;
  const ms = Math.round(run.ms);
  if (!run.result.ok) return `${what} failed after ${ms} ms (${run.result.error}), on-error ${step.onError}`;
  const outcome = run.result.outcome;
  const said = kindOf(step.action.kind).describe.outcome?.(outcome.detail ?? {}) ?? ` ${outcome.type}`;
  const headers = outcome.type === 'continue' && outcome.addHeaders !== undefined && outcome.addHeaders.length > 0 ? ', adds a header' : '';
  return `${what}${printable(said)} (${ms} ms${headers})`;
}
