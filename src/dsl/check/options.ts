/**
 * Which options a step may be written with: those its definition takes
 * (E043 for any other, saying which steps take it), each once (E044).
 */
import { STEPS } from '../../steps/catalogue.js';
import type { StepDefinition } from '../../steps/spec.js';
import type { StepOption } from '../ast.js';
import type { ConvertedStep } from '../convert.js';
import type { Report } from './report.js';

const DEFINITIONS: readonly StepDefinition[] = STEPS;

/** The step keywords that take option `word`, in catalogue order. */
function takers(word: string): string[] {
  return DEFINITIONS.filter((d) => Object.hasOwn(d.options, word)).map((d) => d.keyword);
}

export function checkOptions(step: ConvertedStep, report: Report): void {
  const keyword = step.definition.keyword;
  const foreign = new Set<StepOption>(step.foreign);
  const seen = new Map<StepOption['kind'], StepOption>();
  for (const o of step.node.options) {
    if (foreign.has(o)) {
      report('E043', o.keywordSpan, `\`${o.kind}\` is not an option of \`${keyword}\``, { hint: `\`${o.kind}\` applies to ${takers(o.kind).join(', ')}` });
      continue;
    }
    const first = seen.get(o.kind);
    if (first !== undefined) {
      report('E044', o.keywordSpan, `\`${o.kind}\` is given twice for this step`, {
        related: [{ span: first.keywordSpan, message: 'first given here' }],
        hint: o.kind === 'when' ? 'combine the conditions with `and` or `or`' : undefined,
      });
      continue;
    }
    seen.set(o.kind, o);
  }
}
