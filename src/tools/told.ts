/**
 * What the runtime told about one filter request, read from its events
 * (runtime/events.ts), for the `test` and `replay` reports: the decision,
 * the faults, the dry-run steps and the runs of the steps that ask another
 * process or a store. The values are those the filter's log lines carry
 * (requests.ts, explain.ts), taken from the events, so a report never
 * depends on how the log is worded. Pure.
 */
import { replyOf } from '../model/decision.js';
import type { FilterPhase } from '../model/phases.js';
import type { CompiledStep } from '../model/plan.js';
import type { StepDetail } from '../model/runner.js';
import type { DecisionEvent, DryRunEvent, FaultEvent, RuntimeEvent, StepRanEvent } from '../runtime/events.js';
import type { DryRunHit } from '../runtime/evaluator.js';
import { wouldHave } from '../runtime/explain.js';
import { SERVICES } from '../steps/services.js';

export interface Told {
  /** The request's decision, when a step (or a step's fault) ended the phase: when the filter logs a `decision` line. */
  readonly decision: DecisionEvent | null;
  /** Step failures, in order (on-error proceed ones too). */
  readonly faults: readonly FaultEvent[];
  /** Dry-run steps, in order. */
  readonly dryRuns: readonly DryRunEvent[];
  /** Runs of the steps whose kind asks another process or a store (`external`), in the order they ended. */
  readonly runs: readonly StepRanEvent[];
}

/** The step's kind asks another process or a store: `--offline` stubs it, and the reports list its runs. */
export function isExternal(step: CompiledStep): boolean {
  return SERVICES[step.action.kind].external;
}

/**
 * A decision the filter logs: one a step took (or its fault), not a plain
 * proceed at the end of the chain, nor a phase no step ran at.
 */
function logged(e: DecisionEvent): boolean {
  return e.kind !== 'none' && (e.kind !== 'end' || e.sent.type !== 'proceed');
}

/** What `events` say about the request `request` of session `sessionId`. */
export function toldAbout(events: readonly RuntimeEvent[], sessionId: string, request: FilterPhase): Told {
  let decision: DecisionEvent | null = null;
  const faults: FaultEvent[] = [];
  const dryRuns: DryRunEvent[] = [];
  const runs: StepRanEvent[] = [];
  for (const e of events) {
    switch (e.type) {
      case 'decision':
        if (e.sessionId === sessionId && e.request === request && decision === null && logged(e)) decision = e;
        break;
      case 'fault':
        if (e.sessionId === sessionId && e.request === request) faults.push(e);
        break;
      case 'dry-run':
        if (e.sessionId === sessionId && e.request === request) dryRuns.push(e);
        break;
      case 'step-ran':
        if (e.sessionId === sessionId && e.request === request && isExternal(e.step)) runs.push(e);
        break;
      case 'early-talker':
      case 'session-evicted':
      case 'unknown-session':
        break;
    }
  }
  return { decision, faults, dryRuns, runs };
}

/** A detail value as a log field reads: strings as they are, numbers and booleans as text; null otherwise. */
export function detailText(detail: StepDetail, name: string): string | null {
  const v = detail[name];
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : null;
}

/** What a dry-run step's log line says: what it would have done, and the details the reports show. */
export interface DryRunValues {
  /** `pause`, `proceed`, `reject`, …, `error` (explain.ts wouldHave). */
  readonly would: string;
  readonly reply: string | null;
  readonly error: string | null;
  /** The policy server's answer, the greylist verdict. */
  readonly answer: string | null;
  readonly greylist: string | null;
  /** Not asked: --offline. */
  readonly offline: boolean;
  /** How long a pause would have waited. */
  readonly pausedMs: number | null;
}

export function dryRunValues(hit: DryRunHit): DryRunValues {
  const pausedMs = hit.detail['pausedMs'];
  return {
    would: wouldHave(hit),
    reply: hit.decision !== null ? replyOf(hit.decision) : (hit.deferral?.reply ?? null),
    error: hit.error,
    answer: detailText(hit.detail, 'answer'),
    greylist: detailText(hit.detail, 'greylist'),
    offline: detailText(hit.detail, 'offline') === 'true',
    pausedMs: typeof pausedMs === 'number' ? pausedMs : null,
  };
}

/** `accept`, or the type of what was sent (`reject`, `disconnect`, `junk`, …): the decision line's `decision`. */
export function decisionWord(e: DecisionEvent): string {
  return e.kind === 'accept' ? 'accept' : e.sent.type;
}
