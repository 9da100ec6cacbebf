/**
 * The convert stage (AST → converted steps): each step joined to its
 * definition in the catalogue, and every value it was written with read once
 * by its type's parser (values.ts VALUE_PARSERS), with its problems coded and
 * located. The checks report those problems and the compiler reads the
 * values; neither parses a value again.
 *
 * Options the step does not take (E043) are set apart, not read: their values
 * mean nothing for this step. Pure: no diagnostics are made here.
 */
import type { OnError } from '../model/plan.js';
import { STEP_BY_KEYWORD } from '../steps/catalogue.js';
import type { OptionSpec, StepDefinition, ValueSpec } from '../steps/spec.js';
import type { OptionWord } from '../steps/words.js';
import type { ChainDecl, OptionOf, RulesFile, Step, StepOption, ValueNode } from './ast.js';
import { stepPhase, type StepPhase } from './inference.js';
import { readValue, type CodedProblem } from './values.js';

export type { CodedProblem } from './values.js';

/** A written value and what its type's parser made of it: the value (null after an error) and its problems. */
export interface Converted<T = unknown> {
  /** Null for a flag, which is written without a value. */
  readonly node: ValueNode | null;
  readonly value: T | null;
  readonly problems: readonly CodedProblem[];
}

/** An option of the catalogue (not `when`, `at` or `on-error`). */
export type CatalogueOption = OptionOf<OptionWord>;

export interface ConvertedOption {
  readonly node: CatalogueOption;
  readonly spec: OptionSpec;
  readonly value: Converted;
}

export interface ConvertedStep {
  readonly node: Step;
  readonly definition: StepDefinition;
  /** Null for a step that takes none. */
  readonly argument: Converted | null;
  /** The options the step takes, every occurrence, in the order written (E044 reports the repeats). */
  readonly options: readonly ConvertedOption[];
  /** Options the step does not take (E043), not read. */
  readonly foreign: readonly CatalogueOption[];
  /** The first `when`, `at` and `on-error` (a second is E044's). */
  readonly when: OptionOf<'when'> | null;
  readonly at: OptionOf<'at'> | null;
  readonly onError: OnError;
  /** Where the step runs, and why there. */
  readonly placement: StepPhase;
  /** The words of the options written that the step takes. */
  readonly written: ReadonlySet<string>;
}

export interface ConvertedChain {
  readonly node: ChainDecl;
  readonly steps: readonly ConvertedStep[];
}

function converted<T>(node: ValueNode | null, spec: ValueSpec): Converted<T> {
  const { value, problems } = readValue(node, spec);
  return { node, value: value as T | null, problems };
}

const isCatalogueOption = (o: StepOption): o is CatalogueOption => o.kind !== 'when' && o.kind !== 'at' && o.kind !== 'on-error';

export function convertStep(step: Step): ConvertedStep {
  const definition = STEP_BY_KEYWORD.get(step.action.kind);
  // to-ast reads only catalogued keywords (CstShapeError otherwise).
  if (definition === undefined) throw new Error(`bug: step ${step.action.kind} is not in the catalogue`);
  const options: ConvertedOption[] = [];
  const foreign: CatalogueOption[] = [];
  let when: OptionOf<'when'> | null = null;
  let at: OptionOf<'at'> | null = null;
  let onError: OnError | null = null;
  for (const o of step.options) {
    if (isCatalogueOption(o)) {
      const spec = Object.hasOwn(definition.options, o.kind) ? definition.options[o.kind] : undefined;
      if (spec === undefined) foreign.push(o);
      else options.push({ node: o, spec, value: converted(o.value, spec) });
    } else if (o.kind === 'when') when = when ?? o;
    else if (o.kind === 'at') at = at ?? o;
    else onError = onError ?? o.value;
  }
  return {
    node: step,
    definition,
    argument: definition.argument === null ? null : converted(step.action.argument, definition.argument),
    options,
    foreign,
    when,
    at,
    onError: onError ?? 'tempfail',
    placement: stepPhase(step, definition.phases),
    written: new Set(options.map((o) => o.spec.name)),
  };
}

export function convert(ast: RulesFile): ConvertedChain[] {
  return ast.chains.map((node) => ({ node, steps: node.steps.map(convertStep) }));
}
