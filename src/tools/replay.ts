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
import type { CompiledChain, CompiledRules, CompiledStep } from '../dsl/plan.js';
import type { FilterDecision } from '../model/decision.js';
import { decodeLine } from '../protocol/line-reader.js';
import { dataLinesFor, resultFor } from '../protocol/lines.js';
import { parseInputLine } from '../protocol/parse.js';
import type { FilterPhase } from '../protocol/phases.js';
import type { LogRecord } from '../support/log.js';
import { FilterDriver, type ServiceMode } from './driver.js';
import { answerText, printable, table, truncate } from './text.js';
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
          const mark = driver.log.records.length;
          driver.feed(input.bytes);
          await driver.settle();
          const result = resultFor(driver.takeOutput(), line.sessionId, line.token);
          if (result === undefined) unanswered++;
          const records = driver.records(mark).filter((r) => r.fields.session === line.sessionId && r.fields.phase === line.phase);
          session.events.push(answerEvent(line.phase, line.param, result, records, loaded.chain));
          for (const r of records) {
            if (r.msg === 'dry-run') session.events.push({ kind: 'dry-run', text: dryRunLine(r), rule: ruleField(r, loaded.chain) });
            if (r.msg === 'step failed') session.events.push({ kind: 'failure', text: failureLine(r), rule: ruleField(r, loaded.chain) });
          }
        }
      } finally {
        await driver.end();
      }
    }
  }
  return { sessions, requests, unanswered };
}

function str(record: LogRecord, name: string): string | null {
  const v = record.fields[name];
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : null;
}

/** The rule as `base:line` (the log has the path the rules were compiled under). */
function ruleField(record: LogRecord, chain: CompiledChain): string | null {
  const rule = str(record, 'rule');
  if (rule === null) return null;
  const step = chain.steps.find((s: CompiledStep) => `${s.span.file}:${s.span.line}` === rule);
  const shown = step === undefined ? rule : `${baseName(step.span.file)}:${step.span.line}`;
  return shown;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function answerEvent(request: FilterPhase, param: string, result: FilterDecision | undefined, records: readonly LogRecord[], chain: CompiledChain): ReplayEvent {
  const decision = records.find((r) => r.msg === 'decision');
  let answer = result === undefined ? 'NO ANSWER' : answerText(result);
  if (decision !== undefined && str(decision, 'decision') === 'accept') answer = `${answer} (accept)`;
  return { kind: 'answer', request, param, answer, rule: decision === undefined ? null : ruleField(decision, chain) };
}

function dryRunLine(record: LogRecord): string {
  const would = str(record, 'would') ?? '?';
  if (would === 'error') return `failed (${str(record, 'error') ?? 'error'}), ignored`;
  if (str(record, 'offline') === 'true') return 'not asked (offline), would proceed';
  const reply = str(record, 'reply');
  const answer = str(record, 'answer');
  const greylist = str(record, 'greylist');
  let text = `would ${would}${reply === null ? '' : ` ${printable(reply)}`}`;
  if (answer !== null) text += ` (answer: ${printable(answer)})`;
  else if (greylist !== null) text += ` (greylist: ${greylist})`;
  return text;
}

function failureLine(record: LogRecord): string {
  const step = str(record, 'step') ?? 'step';
  return `${step} failed: ${str(record, 'error') ?? 'error'} (on-error ${str(record, 'onError') ?? '?'})`;
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
