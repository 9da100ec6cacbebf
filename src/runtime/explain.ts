/**
 * Explaining decisions in the log. A decision line says which rule decided
 * (`file:line`); these helpers add what the rule's condition looked at — the
 * fields it reads, with their values at that moment — and write one line per
 * dry-run step ("would have"). Pure apart from the logger; nothing here runs
 * unless a line is logged.
 */
import { fieldNamed, type ExplainValue } from '../conditions/fields.js';
import type { CompiledStep, SessionFacts } from '../model/plan.js';
import { ruleRef } from '../model/describe.js';
import type { Logger } from '../support/log.js';
import { replyOf } from '../model/decision.js';
import { scoreBreakdown } from '../model/score.js';
import type { DryRunHit, Evaluation } from './evaluator.js';

/** `{helo: "[192.0.2.1]"}` for `helo ~ /.../`, each field as its row explains it; null for a step without a condition. */
export function conditionValues(step: CompiledStep, facts: SessionFacts): Record<string, ExplainValue> | null {
  const fields = step.whenFields;
  if (fields === undefined || fields.length === 0) return null;
  const values: Record<string, ExplainValue> = {};
  for (const f of fields) values[f] = fieldNamed(f)?.explain(facts) ?? null;
  return values;
}

/**
 * The session's score and what it is made of, `7 (zen +3, no-rdns +2,
 * helo-literal +2)`, for a decision's log line; nothing while nothing has
 * added to it (most rules files have no scores).
 */
export function scoreField(facts: SessionFacts): { score?: string } {
  const score = facts.score;
  if (score === undefined || score.parts().length === 0) return {};
  return { score: scoreBreakdown(score) };
}

/** Log fields explaining why `step` ran: its condition and the values it read. Empty without a condition. */
export function explainStep(step: CompiledStep | null, facts: SessionFacts): { condition?: string; values?: Record<string, ExplainValue> } {
  if (step === null || step.whenText === null) return {};
  const values = conditionValues(step, facts);
  return values === null ? { condition: step.whenText } : { condition: step.whenText, values };
}

/**
 * What a dry-run step would have done, in one word: `pause`, `proceed`,
 * `accept`, `reject`, `junk`, …, `score` (would have added to the score),
 * `defer-if-permit`/`defer-if-reject` (would
 * have armed that deferral), or `error`.
 */
export function wouldHave(hit: DryRunHit): string {
  switch (hit.would) {
    case 'pause':
    case 'score':
    case 'accept':
    case 'error':
      return hit.would;
    case 'continue':
      return 'proceed';
    case 'decide':
      return hit.decision?.type ?? 'proceed';
    case 'arm':
      return hit.deferral?.when === 'if-reject' ? 'defer-if-reject' : 'defer-if-permit';
  }
}

/** Whether the step would have changed anything (decided, accepted, waited, scored, or added a header). */
export function wouldAct(hit: DryRunHit): boolean {
  switch (hit.would) {
    case 'pause':
    case 'score':
    case 'accept':
    case 'decide':
    case 'arm':
      return true;
    case 'continue':
      return hit.addHeaders.length > 0;
    case 'error':
      return false;
  }
}

export interface ExplainContext {
  readonly session: string;
  /** The filter request (`ehlo`, `rcpt-to`, …). */
  readonly phase: string;
  readonly client: string;
}

/**
 * One line per dry-run step that ran: info when it would have acted, warn
 * when it failed, debug when it would have let the command through.
 */
export function logDryRuns(log: Logger, context: ExplainContext, evaluation: Evaluation): void {
  for (const hit of evaluation.dryRuns) {
    const would = wouldHave(hit);
    const reply = hit.decision !== null ? replyOf(hit.decision) : (hit.deferral?.reply ?? null);
    const fields = {
      ...context,
      rule: ruleRef(hit.step.span),
      step: hit.step.action.kind,
      dryRun: true,
      would,
      ...(reply !== null ? { reply } : {}),
      ...(hit.addHeaders.length > 0 ? { headers: hit.addHeaders } : {}),
      ...(hit.error !== null ? { error: hit.error } : {}),
      ...explainStep(hit.step, evaluation.facts),
      ...scoreField(evaluation.facts),
      ...hit.detail,
    };
    if (hit.would === 'error') log.warn(fields, 'dry-run');
    else if (wouldAct(hit)) log.info(fields, 'dry-run');
    else log.debug(fields, 'dry-run');
  }
}
