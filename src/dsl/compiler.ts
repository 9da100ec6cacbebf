/**
 * A valid file (check/) → CompiledRules: every step gets its phase, its
 * action as its definition compiles it from the values convert read (check
 * filled in the defaults), its keyword and its text, and its condition as a
 * predicate; each chain gets its steps grouped by phase. A file with errors
 * has no ValidFile. The result is frozen: the runtime swaps whole plans, it
 * never edits one.
 */
import type { FieldName } from '../conditions/fields.js';
import { RULE_PHASES, type RulePhase } from '../model/phases.js';
import { kindOf } from '../steps/catalogue.js';
import type { StepDefinition } from '../steps/spec.js';
import type { Condition } from './ast.js';
import type { ValidFile, ValidStep } from './check/index.js';
import { EMPTY_LIST } from './lists.js';
import type { CompiledChain, CompiledRules, CompiledStep, StepKind } from '../model/plan.js';
import { conditionText, PredicateBuilder } from './predicates.js';

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

function compileStep({ converted: step, input, condition: when }: ValidStep, index: number, predicates: PredicateBuilder): CompiledStep {
  const { definition } = step;
  const action = Object.freeze(definition.compile(input));
  const dryRun = step.node.dryRun !== null;
  return Object.freeze({
    index,
    action,
    name: nameOf(definition, action.kind),
    text: kindOf(action.kind).describe.text(action),
    phase: step.placement.phase,
    when: when === null ? null : predicates.build(when),
    whenText: when === null ? null : conditionText(when),
    span: step.node.span,
    onError: step.onError,
    dryRun,
    whenFields: Object.freeze(when === null ? [] : conditionFields(when)),
    // A dry-run step never adds a header: it does not act.
    needsDataLine: !dryRun && definition.needsDataLine(step.written),
  });
}

function compileChain({ node, steps: valid }: ValidFile['chains'][number], predicates: PredicateBuilder): CompiledChain {
  const steps = valid.map((step, index) => compileStep(step, index, predicates));
  const stepsByPhase = new Map<RulePhase, readonly CompiledStep[]>();
  for (const phase of RULE_PHASES) {
    const here = steps.filter((s) => s.phase === phase);
    if (here.length > 0) stepsByPhase.set(phase, Object.freeze(here));
  }
  return Object.freeze({ name: node.name.name, span: node.span, steps: Object.freeze(steps), stepsByPhase });
}

/** `files`: absolute paths of the rules file and its list files. */
export function compile(valid: ValidFile, files: readonly string[]): CompiledRules {
  const predicates = new PredicateBuilder({
    listsByName: valid.listsByName,
    resolved: (decl) => valid.lists.byDecl.get(decl) ?? EMPTY_LIST,
  });
  const chains = new Map<string, CompiledChain>();
  for (const c of valid.chains) chains.set(c.node.name.name, compileChain(c, predicates));
  const needsDataLine = [...chains.values()].some((c) => c.steps.some((s) => s.needsDataLine === true));
  return Object.freeze({ chains, files: Object.freeze([...files]), needsDataLine });
}
