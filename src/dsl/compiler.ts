/**
 * Checked steps → CompiledRules: every step gets its phase, its action as its
 * definition compiles it from the values convert read (defaults filled in),
 * its keyword and its text, and its condition as a predicate; each chain gets
 * its steps grouped by phase. Only run on steps the checker found no errors
 * in. The result is frozen: the runtime swaps whole plans, it never edits one.
 */
import type { FieldName } from '../conditions/fields.js';
import type { StepKind } from '../model/plan.js';
import { RULE_PHASES, type RulePhase } from '../protocol/phases.js';
import { kindOf } from '../steps/catalogue.js';
import type { OptionSpecs, StepDefinition, StepInput, ValueType } from '../steps/spec.js';
import type { Condition, ListDecl, RulesFile } from './ast.js';
import type { Converted, ConvertedChain, ConvertedStep } from './convert.js';
import { EMPTY_LIST, type ResolvedList } from './lists.js';
import type { CompiledChain, CompiledRules, CompiledStep } from './plan.js';
import { conditionText, PredicateBuilder } from './predicates.js';

export interface CompileInput {
  readonly ast: RulesFile;
  /** The chains of `ast`, converted and checked. */
  readonly chains: readonly ConvertedChain[];
  readonly resolved: ReadonlyMap<ListDecl, ResolvedList>;
  /** Absolute paths of the rules file and its list files. */
  readonly files: readonly string[];
}

/** A value the checker passed; null here would be a value with an error that reached compile: a bug. */
function checked(c: Converted, what: string): unknown {
  if (c.value === null) throw new Error(`compiler: ${what} with an error reached compile`);
  return c.value;
}

/** What the step's definition compiles from: its checked values, the default of each option not written. */
function inputOf(step: ConvertedStep): StepInput<ValueType | null, OptionSpecs> {
  const keyword = step.definition.keyword;
  const options: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(step.definition.options)) {
    // The first occurrence: a repeat is E044, so there is only one.
    const written = step.options.find((o) => o.spec.name === name);
    options[name] = written === undefined ? (spec.default ?? undefined) : checked(written.value, `${keyword} ${name}`);
  }
  const argument = step.argument === null ? null : checked(step.argument, `${keyword}'s argument`);
  return { argument, options, phase: step.placement.phase } as StepInput<ValueType | null, OptionSpecs>;
}

/** The fields a condition reads, in order of first use (for explain logs). */
function conditionFields(c: Condition, out: FieldName[] = []): FieldName[] {
  switch (c.kind) {
    case 'or':
    case 'and':
      for (const o of c.operands) conditionFields(o, out);
      return out;
    case 'not':
      return conditionFields(c.operand, out);
    case 'test':
      if (!out.includes(c.field)) out.push(c.field);
      return out;
  }
}

/**
 * What logs and tools call the step: its keyword as written (`postgrey` for a
 * step of kind policy), unless it compiled to another of its kinds than its
 * own, which smtpd's rules make it (`reject` at connect runs as `disconnect`).
 */
function nameOf(definition: StepDefinition, kind: StepKind): string {
  return kind === definition.compiles[0] ? definition.keyword : kind;
}

function compileStep(step: ConvertedStep, index: number, predicates: PredicateBuilder): CompiledStep {
  const { definition, when } = step;
  const action = Object.freeze(definition.compile(inputOf(step)));
  const dryRun = step.node.dryRun !== null;
  return Object.freeze({
    index,
    action,
    name: nameOf(definition, action.kind),
    text: kindOf(action.kind).describe.text(action),
    phase: step.placement.phase,
    when: when === null ? null : predicates.build(when.condition),
    whenText: when === null ? null : conditionText(when.condition),
    span: step.node.span,
    onError: step.onError,
    dryRun,
    whenFields: Object.freeze(when === null ? [] : conditionFields(when.condition)),
    // A dry-run step never adds a header: it does not act.
    needsDataLine: !dryRun && definition.needsDataLine(step.written),
  });
}

function compileChain({ node, steps: converted }: ConvertedChain, predicates: PredicateBuilder): CompiledChain {
  const steps = converted.map((step, index) => compileStep(step, index, predicates));
  const stepsByPhase = new Map<RulePhase, readonly CompiledStep[]>();
  for (const phase of RULE_PHASES) {
    const here = steps.filter((s) => s.phase === phase);
    if (here.length > 0) stepsByPhase.set(phase, Object.freeze(here));
  }
  return Object.freeze({ name: node.name.name, span: node.span, steps: Object.freeze(steps), stepsByPhase });
}

export function compile(input: CompileInput): CompiledRules {
  const listsByName = new Map<string, ListDecl>();
  for (const l of input.ast.lists) if (!listsByName.has(l.name.name)) listsByName.set(l.name.name, l);
  const predicates = new PredicateBuilder({
    listsByName,
    resolved: (decl) => input.resolved.get(decl) ?? EMPTY_LIST,
  });
  const chains = new Map<string, CompiledChain>();
  for (const c of input.chains) chains.set(c.node.name.name, compileChain(c, predicates));
  const needsDataLine = [...chains.values()].some((c) => c.steps.some((s) => s.needsDataLine === true));
  return Object.freeze({ chains, files: Object.freeze([...input.files]), needsDataLine });
}
