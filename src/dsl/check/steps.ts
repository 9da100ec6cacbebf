/**
 * A step's own checks (its definition's `checks`: E026, W004, E046, W009),
 * run over the view of the step they are written against: values already
 * read, spans, placement and the chain's name.
 */
import { CODES, type Code } from '../codes.js';
import type { ChainDecl } from '../ast.js';
import type { ConvertedStep } from '../convert.js';
import type { CheckView, OptionPlace, OptionSpec, ValueType, ValueTypes } from '../../steps/spec.js';
import type { OptionWord } from '../../steps/words.js';
import type { Report } from './report.js';

/** What the definition's checks see of `step`. */
export function viewOf(chain: ChainDecl, step: ConvertedStep): CheckView {
  const action = step.node.action;
  const node = step.argument?.node ?? null;
  const argument =
    node === null
      ? null
      : node.shape === 'number'
        ? { text: node.text, span: node.span }
        : node.shape === 'choice'
          ? { text: node.word, span: node.span }
          : { text: node.value, span: node.span };
  const written = (name: string) => step.options.filter((o) => o.spec.name === name);
  const { phase, at } = step.placement;
  return {
    keyword: step.definition.keyword,
    actionSpan: action.span,
    argument,
    value: <T extends ValueType>(spec: OptionSpec<T>): ValueTypes[T] | null => (written(spec.name).at(-1)?.value.value ?? null) as ValueTypes[T] | null,
    occurrences: (name: OptionWord): readonly OptionPlace[] =>
      written(name).map((o) => ({ keywordSpan: o.node.keywordSpan, span: o.node.span, valueSpan: o.value.node?.span ?? null })),
    placement: { phase, at: at === null ? null : { phase: at.phase, span: at.span } },
    chain: { name: chain.name.name, nameSpan: chain.name.span },
  };
}

const isCode = (code: string): code is Code => Object.hasOwn(CODES, code);

export function checkStep(chain: ChainDecl, step: ConvertedStep, report: Report): void {
  const { definition } = step;
  if (definition.checks.length === 0) return;
  const view = viewOf(chain, step);
  for (const check of definition.checks) {
    check(view, (code, span, message, extra = {}) => {
      // A code outside the definition's list would be undocumented: a catalogue mistake, not the user's.
      if (!definition.codes.includes(code) || !isCode(code)) throw new Error(`bug: ${definition.keyword} reported ${code}, which is not one of its codes`);
      report(code, span, message, extra);
    });
  }
}
