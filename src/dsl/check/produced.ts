/**
 * Tests of a field that only a step gives a value (`spf in …` needs an `spf`
 * step, `spf-helo in …` one with `check-helo`) where no such step runs
 * before (W040, W041): the test is never true there, which is surely not
 * what was meant. "Before" is the order steps run in: an earlier phase, or
 * the same phase earlier in the chain.
 */
import { FIELD_BY_NAME, type FieldName } from '../../conditions/fields.js';
import { rulePhaseOrder } from '../../model/phases.js';
import type { SourceSpan } from '../../model/span.js';
import type { Condition } from '../ast.js';
import type { ConvertedChain, ConvertedStep } from '../convert.js';
import type { Report } from './report.js';

/** Each field a condition tests, once, at its first test. */
function fieldTests(c: Condition, out = new Map<FieldName, SourceSpan>()): Map<FieldName, SourceSpan> {
  switch (c.kind) {
    case 'or':
    case 'and':
      for (const o of c.operands) fieldTests(o, out);
      return out;
    case 'not':
      return fieldTests(c.operand, out);
    case 'test':
      if (!out.has(c.field)) out.set(c.field, c.fieldSpan);
      return out;
  }
}

function runsBefore(a: ConvertedStep, ai: number, b: ConvertedStep, bi: number): boolean {
  const pa = rulePhaseOrder(a.placement.phase);
  const pb = rulePhaseOrder(b.placement.phase);
  return pa < pb || (pa === pb && ai < bi);
}

export function checkProduced({ steps }: ConvertedChain, report: Report): void {
  steps.forEach((step, index) => {
    if (step.when === null) return;
    for (const [field, span] of fieldTests(step.when.condition)) {
      const by = FIELD_BY_NAME[field].producedBy;
      if (by === undefined) continue;
      const before = steps.filter((s, i) => s.definition.keyword === by.keyword && runsBefore(s, i, step, index));
      const wanted = by.option === undefined ? by.keyword : `${by.keyword} ${by.option}`;
      if (before.length === 0) {
        report('W040', span, `\`${field}\` is never known here: no \`${by.keyword}\` step runs before this one`, { hint: `put \`${wanted}\` before this step, at the same phase or earlier` });
      } else if (by.option !== undefined && !before.some((s) => s.written.has(by.option ?? ''))) {
        report('W041', span, `\`${field}\` is never known here: no \`${by.keyword}\` step before this one has \`${by.option}\``, {
          hint: `write \`${wanted}\``,
          related: before.map((s) => ({ span: s.node.action.span, message: `an \`${by.keyword}\` step without \`${by.option}\`` })),
        });
      }
    }
  });
}
