/**
 * `filter-rules replay`: recorded conversations with smtpd (`> ` lines) fed
 * through the rules by the real filter host (driver.ts), and the decisions
 * listed per session: each filter request, what smtpd was answered, and the
 * rule that decided; dry-run steps and step failures under their request.
 *
 * The listing is also the expectation format of `--expect FILE`: it is
 * stable (no timestamps, rule files by base name) so a rules change that
 * alters a decision shows up as a diff. Lines starting with `#` are
 * comments: the header is one, and expectation files may carry their own.
 */
import type { StepServices } from '../steps/service.js';
import type { CompiledChain, CompiledRules } from '../model/plan.js';
import type { FilterDecision } from '../model/decision.js';
import { decodeLine } from '../protocol/line-reader.js';
import { dataLinesFor, resultFor } from '../protocol/lines.js';
import { parseInputLine } from '../protocol/parse.js';
import type { FilterPhase } from '../model/phases.js';
import type { DryRunHit, StepFault } from '../runtime/evaluator.js';
import type { Logger } from '../support/log.js';
import { FilterDriver, type ServiceMode } from './driver.js';
import { shortRuleRef } from '../model/describe.js';
import { answerText, printable, table, truncate } from './text.js';
import { decisionWord, dryRunValues, toldAbout, type Told } from './told.js';
import { DEFAULT_HANDSHAKE, parseTranscript } from './transcript.js';

export interface ReplayRules {
  readonly rules: CompiledRules;
  readonly chain: CompiledChain;
}

export interface TranscriptFile {
  /** Shown in the report (the base name of the file, usually). */
  readonly name: string;
  readonly data: Buffer;
}

export interface ReplayOptions {
  readonly mode: ServiceMode;
  readonly startWallMs: number;
  /** Online: the step services to use (default: the production ones). */
  readonly services?: StepServices;
  /** Where the filter's log goes (default: nowhere; the listing is made from the runtime's events). */
  readonly log?: Logger;
}

export type ReplayEvent =
  | {
      readonly kind: 'answer';
      readonly request: FilterPhase;
      readonly param: string;
      /** `proceed`, `reject 550 ...`; `accept` shows as `proceed (accept)`. */
      readonly answer: string;
      /** `file:line` of the deciding rule, by base name. */
      readonly rule: string | null;
    }
  | { readonly kind: 'dry-run'; readonly text: string; readonly rule: string | null }
  | { readonly kind: 'failure'; readonly text: string; readonly rule: string | null }
  | { readonly kind: 'headers'; readonly lines: readonly string[] };

export interface ReplaySession {
  readonly id: string;
  readonly transcript: string;
  client: string | null;
  readonly events: ReplayEvent[];
}

export interface ReplayReport {
  readonly sessions: readonly ReplaySession[];
  readonly requests: number;
  readonly unanswered: number;
}

export async function runReplay(loaded: ReplayRules, files: readonly TranscriptFile[], options: ReplayOptions): Promise<ReplayReport> {
  const sessions: ReplaySession[] = [];
  let requests = 0;
  let unanswered = 0;
  for (const file of files) {
    for (const run of parseTranscript(file.data)) {
      const created = FilterDriver.create({
        rules: loaded.rules,
        chain: loaded.chain.name,
        mode: options.mode,
        startWallMs: options.startWallMs,
        ...(options.services !== undefined ? { services: options.services } : {}),
        ...(options.log !== undefined ? { log: options.log } : {}),
      });
      if (!created.ok) throw new Error(created.error);
      const driver = created.value;
      const open = new Map<string, ReplaySession>();
      const sessionOf = (id: string): ReplaySession => {
        let s = open.get(id);
        if (s === undefined) {
          s = { id, transcript: file.name, client: null, events: [] };
          open.set(id, s);
          sessions.push(s);
        }
        return s;
      };
      /** Data-line requests seen per session since the last data request (the first may bring headers). */
      const streamed = new Map<string, number>();
      try {
        if (!run.hasHandshake) for (const line of DEFAULT_HANDSHAKE) driver.feed(line);
        driver.takeOutput();
        for (const input of run.inputs) {
          driver.forget();
          const parsed = parseInputLine(decodeLine(input.bytes).text);
          const line = parsed.ok ? parsed.value : null;
          if (line?.kind === 'report' && line.event.type === 'link-connect') {
            // A reused id is a new session.
            open.delete(line.sessionId);
            sessionOf(line.sessionId).client = line.event.srcText;
          }
          if (line?.kind !== 'filter') {
            driver.feed(input.bytes);
            await driver.settle();
            driver.takeOutput();
            continue;
          }
          const session = sessionOf(line.sessionId);
          if (line.phase === 'data-line') {
            const n = streamed.get(line.sessionId) ?? 0;
            streamed.set(line.sessionId, n + 1);
            driver.feed(input.bytes);
            await driver.settle();
            const echoed = dataLinesFor(driver.takeOutput(), line.sessionId);
            if (n === 0 && echoed.length > 1) session.events.push({ kind: 'headers', lines: echoed.slice(0, -1) });
            continue;
          }
          if (line.phase === 'data') streamed.set(line.sessionId, 0);
          requests++;
          driver.feed(input.bytes);
          await driver.settle();
          const result = resultFor(driver.takeOutput(), line.sessionId, line.token);
          if (result === undefined) unanswered++;
          const told = toldAbout(driver.events, line.sessionId, line.phase);
          session.events.push(answerEvent(line.phase, line.param, result, told));
          // Failures before dry-runs, as the filter logs them.
          for (const f of told.faults) session.events.push({ kind: 'failure', text: failureLine(f.fault), rule: shortRuleRef(f.fault.step.span) });
          for (const d of told.dryRuns) session.events.push({ kind: 'dry-run', text: dryRunLine(d.hit), rule: shortRuleRef(d.hit.step.span) });
        }
      } finally {
        await driver.end();
      }
    }
  }
  return { sessions, requests, unanswered };
}

function answerEvent(request: FilterPhase, param: string, result: FilterDecision | undefined, told: Told): ReplayEvent {
  const decision = told.decision;
  let answer = result === undefined ? 'NO ANSWER' : answerText(result);
  if (decision !== null && decisionWord(decision) === 'accept') answer = `${answer} (accept)`;
  const step = decision?.evaluation?.step ?? null;
  return { kind: 'answer', request, param, answer, rule: step === null ? null : shortRuleRef(step.span) };
}

function dryRunLine(hit: DryRunHit): string {
  const v = dryRunValues(hit);
  if (v.would === 'error') return `failed (${v.error ?? 'error'}), ignored`;
  if (v.offline) return 'not asked (offline), would proceed';
  let text = `would ${v.would}${v.reply === null ? '' : ` ${printable(v.reply)}`}`;
  if (v.answer !== null) text += ` (answer: ${printable(v.answer)})`;
  else if (v.greylist !== null) text += ` (greylist: ${v.greylist})`;
  return text;
}

/** The step's kind, as the `step failed` line names it (a postgrey step is a policy step there). */
function failureLine(f: StepFault): string {
  return `${f.step.action.kind} failed: ${f.error} (on-error ${f.step.onError})`;
}

// --- the report as text ---------------------------------------------------------

const PARAM_WIDTH = 48;

function requestLabel(request: FilterPhase, param: string): string {
  // The connect request's `rdns|address` is in the session line already.
  if (param === '' || request === 'connect' || request === 'data' || request === 'commit') return request;
  return `${request} ${truncate(printable(param), PARAM_WIDTH)}`;
}

/** The listing: one block per session. Comment lines (`#`) are not compared by --expect. */
export function formatReplay(report: ReplayReport, header: string): string {
  const out: string[] = [`# ${header}`];
  for (const s of report.sessions) {
    if (s.events.length === 0) continue;
    out.push(`session ${s.id} (${s.transcript}${s.client === null ? '' : `, client ${s.client}`})`);
    const first = s.events[0];
    if (s.client === null && first?.kind === 'answer' && first.request !== 'connect') {
      // A transcript that starts mid-session (a rotated --record file): the filter
      // never judges a session it does not know, so these are tempfails, not rules.
      out.push(`# ${s.id}: its connect is not in the transcript; the filter answers a session it does not know with a tempfail (no rule runs)`);
    }
    const rows: string[][] = [];
    for (const e of s.events) {
      switch (e.kind) {
        case 'answer':
          rows.push([`  ${requestLabel(e.request, e.param)}`, e.answer, e.rule === null ? '' : `[${e.rule}]`]);
          break;
        case 'dry-run':
          rows.push(['    dry-run', e.text, e.rule === null ? '' : `[${e.rule}]`]);
          break;
        case 'failure':
          rows.push(['    ! failure', e.text, e.rule === null ? '' : `[${e.rule}]`]);
          break;
        case 'headers':
          for (const h of e.lines) rows.push(['    header added', printable(h), '']);
          break;
      }
    }
    out.push(...table(rows));
  }
  const counts = new Map<string, number>();
  for (const s of report.sessions) {
    for (const e of s.events) {
      if (e.kind !== 'answer') continue;
      const word = e.answer.split(' ')[0] ?? '';
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  const summary = [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
  out.push(`# ${report.sessions.length} session(s), ${report.requests} request(s)${summary === '' ? '' : `: ${summary}`}`);
  if (report.unanswered > 0) out.push(`# ${report.unanswered} request(s) got NO ANSWER: a bug, please report it`);
  return `${out.join('\n')}\n`;
}
