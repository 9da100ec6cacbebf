/**
 * Checked AST → CompiledRules: every step gets its phase, its action with
 * defaults filled in, and its condition as a predicate; each chain gets its
 * steps grouped by phase. Only run on an AST the checker found no errors in.
 * The result is frozen: the runtime swaps whole plans, it never edits one.
 */
import type { FieldName } from '../conditions/fields.js';
import { RULE_PHASES, type RulePhase } from '../protocol/phases.js';
import { SMTPD_RULE } from '../protocol/smtpd-rules.js';
import { shaped, type Action, type ChainDecl, type Condition, type ListDecl, type RulesFile, type Step, type OptionOf, type StepOption, type ValueShapeOf } from './ast.js';
import { stepNeedsDataLine, stepPhase, whenOf } from './inference.js';
import { EMPTY_LIST, type ResolvedList } from './lists.js';
import type { CompiledChain, CompiledRules, CompiledStep, PolicyAddress, StepAction } from './plan.js';
import type { GreylistStepOptions } from '../steps/greylist/define.js';
import { conditionText, PredicateBuilder } from './predicates.js';
import { DEFAULT_GREYLIST_STORE, GREYLIST_DEFAULTS, POLICY_DEFAULT_TIMEOUT_MS, PREGREET_DEFAULT_REPLY, parseCount, parseDuration, parsePolicyAddress, type Parsed } from './values.js';

export interface CompileInput {
  readonly ast: RulesFile;
  readonly resolved: ReadonlyMap<ListDecl, ResolvedList>;
  /** Absolute paths of the rules file and its list files. */
  readonly files: readonly string[];
}

const REJECT_AT_CONNECT = SMTPD_RULE['reject-at-connect'];

/** The checker has validated every value; a failure here is a bug. */
function must<T>(p: Parsed<T>, what: string): T {
  if (!p.ok) throw new Error(`compiler: unchecked ${what}: ${p.problem.message}`);
  return p.value;
}

function option<K extends StepOption['kind']>(step: Step, kind: K): OptionOf<K> | undefined {
  return step.options.find((o): o is OptionOf<K> => o.kind === kind);
}

type NumericOptionName = 'timeout' | 'delay' | 'max-age' | 'retry-window' | 'auto-whitelist' | 'ipv4-prefix' | 'ipv6-prefix' | 'pay-once';

function numericOption(step: Step, kind: NumericOptionName): { readonly text: string } | undefined {
  const o = option(step, kind);
  return o === undefined ? undefined : shaped(o.value, 'number');
}

function durationOption(step: Step, kind: 'timeout' | 'delay' | 'max-age' | 'retry-window', fallback: number): number {
  const lit = numericOption(step, kind);
  return lit === undefined ? fallback : must(parseDuration(lit.text), kind);
}

function countOption(step: Step, kind: 'auto-whitelist' | 'ipv4-prefix' | 'ipv6-prefix', fallback: number): number {
  const lit = numericOption(step, kind);
  return lit === undefined ? fallback : must(parseCount(lit.text), kind);
}

function storeOf(o: OptionOf<'store'> | undefined): string {
  return o === undefined ? DEFAULT_GREYLIST_STORE : shaped(o.value, 'string').value;
}

/** `pregreet disconnect ["REPLY"]` | `pregreet log`; the checker took only those two words. */
function pregreetOf(v: ValueShapeOf<'choice'>): { action: 'disconnect' | 'log'; reply: string } {
  if (v.word !== 'disconnect' && v.word !== 'log') throw new Error(`compiler: unchecked pregreet ${v.word}`);
  return { action: v.word, reply: v.reply?.value ?? PREGREET_DEFAULT_REPLY };
}

function compileAction(action: Action, step: Step, phase: RulePhase): StepAction {
  switch (action.kind) {
    case 'pause': {
      const durationMs = must(parseDuration(shaped(action.argument, 'number').text), 'pause duration');
      // Options only when written, so a plain pause compiles exactly as before.
      const pregreet = option(step, 'pregreet');
      const payOnce = numericOption(step, 'pay-once');
      return {
        kind: 'pause',
        durationMs,
        ...(pregreet === undefined
          ? {}
          : { pregreet: Object.freeze(pregreetOf(shaped(pregreet.value, 'choice'))) }),
        ...(payOnce === undefined ? {} : { payOnceMs: must(parseDuration(payOnce.text), 'pay-once') }),
      };
    }
    case 'accept':
      return { kind: 'accept' };
    case 'reject':
      // smtpd cannot reject before the banner (the session would hang at 503s): what its rule sends instead.
      return phase === REJECT_AT_CONNECT.phase
        ? { kind: REJECT_AT_CONNECT.becomes, reply: shaped(action.argument, 'string').value }
        : { kind: 'reject', reply: shaped(action.argument, 'string').value };
    case 'disconnect':
      return { kind: 'disconnect', reply: shaped(action.argument, 'string').value };
    case 'junk':
      return { kind: 'junk' };
    case 'postgrey':
    case 'policy': {
      const address: PolicyAddress = must(parsePolicyAddress(shaped(action.argument, 'address').value), 'policy address');
      return { kind: 'policy', options: { flavor: action.kind, address, timeoutMs: durationOption(step, 'timeout', POLICY_DEFAULT_TIMEOUT_MS) } };
    }
    case 'greylist': {
      const options: GreylistStepOptions = {
        delayMs: durationOption(step, 'delay', GREYLIST_DEFAULTS.delayMs),
        maxAgeMs: durationOption(step, 'max-age', GREYLIST_DEFAULTS.maxAgeMs),
        retryWindowMs: durationOption(step, 'retry-window', GREYLIST_DEFAULTS.retryWindowMs),
        autoWhitelistAfter: countOption(step, 'auto-whitelist', GREYLIST_DEFAULTS.autoWhitelistAfter),
        ipv4Prefix: countOption(step, 'ipv4-prefix', GREYLIST_DEFAULTS.ipv4Prefix),
        ipv6Prefix: countOption(step, 'ipv6-prefix', GREYLIST_DEFAULTS.ipv6Prefix),
        store: storeOf(option(step, 'store')),
        header: option(step, 'header') !== undefined,
      };
      return { kind: 'greylist', options: Object.freeze(options) };
    }
  }
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

function compileChain(chain: ChainDecl, predicates: PredicateBuilder): CompiledChain {
  const steps: CompiledStep[] = chain.steps.map((step, index) => {
    const { phase } = stepPhase(step);
    const when = whenOf(step);
    return Object.freeze({
      index,
      action: Object.freeze(compileAction(step.action, step, phase)),
      phase,
      when: when === null ? null : predicates.build(when.condition),
      whenText: when === null ? null : conditionText(when.condition),
      span: step.span,
      onError: option(step, 'on-error')?.value ?? 'tempfail',
      dryRun: step.dryRun !== null,
      whenFields: Object.freeze(when === null ? [] : conditionFields(when.condition)),
      needsDataLine: stepNeedsDataLine(step),
    });
  });
  const stepsByPhase = new Map<RulePhase, readonly CompiledStep[]>();
  for (const phase of RULE_PHASES) {
    const here = steps.filter((s) => s.phase === phase);
    if (here.length > 0) stepsByPhase.set(phase, Object.freeze(here));
  }
  return Object.freeze({ name: chain.name.name, span: chain.span, steps: Object.freeze(steps), stepsByPhase });
}

export function compile(input: CompileInput): CompiledRules {
  const listsByName = new Map<string, ListDecl>();
  for (const l of input.ast.lists) if (!listsByName.has(l.name.name)) listsByName.set(l.name.name, l);
  const predicates = new PredicateBuilder({
    listsByName,
    resolved: (decl) => input.resolved.get(decl) ?? EMPTY_LIST,
  });
  const chains = new Map<string, CompiledChain>();
  for (const c of input.ast.chains) chains.set(c.name.name, compileChain(c, predicates));
  const needsDataLine = [...chains.values()].some((c) => c.steps.some((s) => s.needsDataLine === true));
  return Object.freeze({ chains, files: Object.freeze([...input.files]), needsDataLine });
}
