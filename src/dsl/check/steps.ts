/**
 * A step's own checks (its definition's `checks`: E026, W004, E046, W009),
 * run over the view of the step they are written against: values already
 * read, spans, placement and the chain's name.
 *
 * And one the checker always made of a foreign option: a `pregreet` written
 * on a step that does not take it (E043) still gets the pause's E046 and
 * W009 (checkForeign). Kept, not dropped, because no message may change in
 * this rewrite (the goldens and the stage-0 mutation digests pin them), and
 * what they say holds of any step: a pregreet past connect or on an smtps
 * chain would be moot even if the step took it. They are the pause
 * definition's own checks, run over a view of the foreign occurrences, so
 * the words live in one place.
 */
import { CODES, type Code } from '../codes.js';
import type { ChainDecl } from '../ast.js';
import type { CatalogueOption, ConvertedStep } from '../convert.js';
import { pauseStep } from '../../steps/pause/define.js';
import type { CheckReport, CheckView, OptionPlace, OptionSpec, StepDefinition, ValueType, ValueTypes } from '../../steps/spec.js';
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
          : node.shape === 'points'
            ? { text: `${node.number.text} ${JSON.stringify(node.label.value)}`, span: node.span }
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

/** Passes a definition's reports on; a code outside its list would be undocumented: a catalogue mistake, not the user's. */
function reporterOf(definition: StepDefinition, report: Report): CheckReport {
  return (code, span, message, extra = {}) => {
    if (!definition.codes.includes(code) || !isCode(code)) throw new Error(`bug: ${definition.keyword} reported ${code}, which is not one of its codes`);
    report(code, span, message, extra);
  };
}

export function checkStep(chain: ChainDecl, step: ConvertedStep, report: Report): void {
  const { definition } = step;
  if (definition.checks.length === 0) return;
  const view = viewOf(chain, step);
  const reporter = reporterOf(definition, report);
  for (const check of definition.checks) check(view, reporter);
}

/** Foreign options whose taker's checks still apply (see the top of this file), with the definition whose checks they get. */
const FOREIGN_CHECKED: ReadonlyMap<OptionWord, StepDefinition> = new Map<OptionWord, StepDefinition>([['pregreet', pauseStep]]);

const placeOf = (o: CatalogueOption): OptionPlace => ({ keywordSpan: o.keywordSpan, span: o.span, valueSpan: o.value?.span ?? null });

/** The taker's checks over a view that sees only the foreign occurrences of its word (their values are not read: null). */
export function checkForeign(chain: ChainDecl, step: ConvertedStep, report: Report): void {
  for (const [word, taker] of FOREIGN_CHECKED) {
    const written = step.foreign.filter((o) => o.kind === word);
    if (written.length === 0) continue;
    const view: CheckView = {
      ...viewOf(chain, step),
      value: () => null,
      occurrences: (name) => (name === word ? written.map(placeOf) : []),
    };
    const reporter = reporterOf(taker, report);
    for (const check of taker.checks) check(view, reporter);
  }
}
