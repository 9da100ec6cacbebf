/**
 * When a step runs. A step runs at the earliest phase where everything it
 * looks at is known; `at PHASE` may move it later, never earlier. Shared by
 * the checker (which reports impossible `at`s) and the compiler, through
 * the convert stage's `placement`.
 */
import { FIELD_BY_NAME, type FieldName } from '../conditions/fields.js';
import { isEarlier, later, type RulePhase } from '../model/phases.js';
import type { StepDefinition } from '../steps/spec.js';
import type { Condition, Step, StepOption } from './ast.js';
import type { SourceSpan } from '../model/span.js';

/** The field that forces the latest phase in a condition, with where it is written. */
export interface PhaseReason {
  readonly phase: RulePhase;
  readonly field: FieldName;
  readonly span: SourceSpan;
}

export function conditionPhase(c: Condition): PhaseReason | null {
  switch (c.kind) {
    case 'test':
      return { phase: FIELD_BY_NAME[c.field].knownFrom, field: c.field, span: c.fieldSpan };
    case 'not':
      return conditionPhase(c.operand);
    case 'and':
    case 'or': {
      let best: PhaseReason | null = null;
      for (const o of c.operands) {
        const r = conditionPhase(o);
        if (r !== null && (best === null || isEarlier(best.phase, r.phase))) best = r;
      }
      return best;
    }
  }
}

export interface StepPhase {
  /** Where the step runs. */
  readonly phase: RulePhase;
  /** The earliest phase the step could run at. */
  readonly earliest: RulePhase;
  /** Where it would run without `at`. */
  readonly inferred: RulePhase;
  readonly at: Extract<StepOption, { kind: 'at' }> | null;
  /** The condition's latest field, when it is what decides `earliest`. */
  readonly reason: PhaseReason | null;
}

export function whenOf(step: Step): Extract<StepOption, { kind: 'when' }> | null {
  for (const o of step.options) if (o.kind === 'when') return o;
  return null;
}

/** Where `step` runs, given where its kind may run and runs by default (its definition's `phases`). */
export function stepPhase(step: Step, action: StepDefinition['phases']): StepPhase {
  const when = whenOf(step);
  const reason = when === null ? null : conditionPhase(when.condition);
  const condPhase = reason?.phase ?? 'connect';
  const earliest = later(action.earliest, condPhase);
  const inferred = later(action.default, condPhase);
  let at: StepPhase['at'] = null;
  for (const o of step.options) if (o.kind === 'at') at = at ?? o;
  const phase = at === null ? inferred : later(at.phase, earliest);
  const decisive = reason !== null && !isEarlier(reason.phase, action.earliest) ? reason : null;
  return { phase, earliest, inferred, at, reason: decisive };
}
