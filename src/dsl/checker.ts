/**
 * Semantic checks: small functions over the AST that each add diagnostics.
 * All of them run, so one pass reports every semantic problem in the file.
 */
import { FIELD_BY_NAME, misfit, wrongTestOf, type FieldDefinition, type FieldName, type ListFit } from '../conditions/fields.js';
import { rulePhaseOrder, type RulePhase } from '../protocol/phases.js';
import { decisionAt, smtpdRuleAt, type DecisionType, type SmtpdRuleId } from '../protocol/smtpd-rules.js';
import { namesImplicitTls } from '../steps/pause/define.js';
import { formatCidr } from '../support/net.js';
import { compileRegex, SUPPORTED_REGEX_FLAGS } from '../support/regex.js';
import type { ActionKind, ChainDecl, Condition, InlineList, ListDecl, ListRef, RegexLit, RulesFile, Step, StepOptionKind } from './ast.js';
import { checkOptions } from './check/options.js';
import type { Report } from './check/report.js';
import { checkStep } from './check/steps.js';
import { checkValues } from './check/values.js';
import type { Code } from './codes.js';
import type { ConvertedChain, ConvertedStep } from './convert.js';
import { didYouMean, diagnostic, type Diagnostic, type RelatedSpan } from './diagnostics.js';
import { ACTION_PHASES, isEarlier, stepNeedsDataLine, stepPhase, whenOf } from './inference.js';
import { EMPTY_LIST, resolveInline, type Located, type ResolvedList, type ResolveResult } from './lists.js';
import { itemShape } from './redact.js';
import type { SourceSpan } from './plan.js';

export interface CheckInput {
  readonly ast: RulesFile;
  /** The chains of `ast`, converted (dsl/convert.ts). */
  readonly chains: readonly ConvertedChain[];
  readonly lists: ResolveResult;
  /** The rules file's text, to tell an empty file from one without chains. */
  readonly text: string;
  readonly dataLineRegistered: boolean;
}

/**
 * Limits of values, as the checks had them inline; the option specs
 * (steps/) hold them now, and only the definitions' equivalence test still
 * reads these (deleted in issue 11 stage 8b).
 */
export const LIMITS = {
  pauseMaxMs: 300_000,
  timeoutMaxMs: 300_000,
  greylistDelayMaxMs: 86_400_000,
  autoWhitelistMax: 1_000_000,
  payOnceMinMs: 1000,
  payOnceMaxMs: 30 * 86_400_000,
} as const;

const COMMON_OPTIONS: readonly StepOptionKind[] = ['when', 'at', 'on-error'];
const PAUSE_OPTIONS: readonly StepOptionKind[] = [...COMMON_OPTIONS, 'pregreet', 'pay-once'];
const POLICY_OPTIONS: readonly StepOptionKind[] = [...COMMON_OPTIONS, 'timeout'];
const GREYLIST_OPTIONS: readonly StepOptionKind[] = [
  ...COMMON_OPTIONS,
  'delay',
  'max-age',
  'retry-window',
  'auto-whitelist',
  'ipv4-prefix',
  'ipv6-prefix',
  'store',
  'header',
];

/**
 * The decisions a step of each kind takes by itself, as its keyword says: what
 * smtpd's rules (protocol/smtpd-rules.ts) are checked against. A policy
 * server's or the greylist's answers are theirs, adapted at run time.
 */
const DECIDES: { readonly [K in ActionKind]: readonly DecisionType[] } = {
  pause: [],
  accept: [],
  reject: ['reject'],
  disconnect: ['disconnect'],
  junk: ['junk'],
  postgrey: [],
  policy: [],
  greylist: [],
};

/**
 * What the checker says of a step whose decision meets one of smtpd's rules at
 * the step's phase. Keyed by rule, so a new rule needs its diagnostic.
 * `showAt`: point at the `at` that placed the step there.
 */
const SMTPD_RULE_DIAGNOSTICS: { readonly [Id in SmtpdRuleId]: { readonly code: Code; readonly message: string; readonly hint: string; readonly showAt: boolean } } = {
  'reject-at-connect': {
    code: 'W005',
    message: 'smtpd cannot reject a client before the banner; this reject is compiled as a disconnect',
    hint: 'write `disconnect` to say so, or add `at helo` to reject the HELO instead',
    showAt: false,
  },
  'junk-at-commit': {
    code: 'E040',
    message: '`junk` cannot run at commit: smtpd exits when a filter junks a message after DATA',
    hint: 'junk at data (or earlier) instead',
    showAt: true,
  },
};

/** Which options each step kind takes, as the checks had it; the definitions say it now (E043), and only their equivalence test reads this (stage 8b deletes it). */
export const OPTIONS_FOR: Readonly<Record<ActionKind, readonly StepOptionKind[]>> = {
  pause: PAUSE_OPTIONS,
  accept: COMMON_OPTIONS,
  reject: COMMON_OPTIONS,
  disconnect: COMMON_OPTIONS,
  junk: COMMON_OPTIONS,
  postgrey: POLICY_OPTIONS,
  policy: POLICY_OPTIONS,
  greylist: GREYLIST_OPTIONS,
};

class Checker {
  readonly out: Diagnostic[] = [];
  /** First declaration of each list name. */
  readonly listsByName = new Map<string, ListDecl>();
  /** Uses seen per declaration and field tested against it (the first span is kept). */
  private readonly uses = new Map<ListDecl, Map<FieldName, SourceSpan>>();

  constructor(private readonly input: CheckInput) {
    for (const l of input.ast.lists) if (!this.listsByName.has(l.name.name)) this.listsByName.set(l.name.name, l);
  }

  add(code: Code, span: SourceSpan, message: string, extra: { hint?: string | undefined; related?: readonly RelatedSpan[] } = {}): void {
    this.out.push(diagnostic(code, span, message, extra));
  }

  run(): Diagnostic[] {
    this.checkHasChains();
    this.checkDuplicateNames();
    for (const decl of this.input.ast.lists) this.checkListItems(this.resolved(decl), decl.body.kind === 'inline' ? decl.body : null);
    for (const chain of this.input.chains) this.checkChain(chain);
    this.checkListUses();
    this.checkDataLine();
    return this.out;
  }

  resolved(decl: ListDecl): ResolvedList {
    return this.input.lists.byDecl.get(decl) ?? EMPTY_LIST;
  }

  checkHasChains(): void {
    if (this.input.ast.chains.length > 0) return;
    const span = { file: this.input.ast.file, line: 1, column: 1, endLine: 1, endColumn: 1 };
    const blank = this.input.text.replace(/#[^\r\n]*/g, '').trim() === '';
    if (blank) this.add('E007', span, 'the rules file is empty: there is no chain', { hint: 'add a chain, e.g. `chain main = pause 3s`' });
    else this.add('E007', span, 'the rules file defines no chain', { hint: 'add a chain, e.g. `chain main = pause 3s`' });
  }

  checkDuplicateNames(): void {
    const seen = new Map<string, SourceSpan>();
    for (const l of this.input.ast.lists) {
      const first = seen.get(l.name.name);
      if (first === undefined) seen.set(l.name.name, l.name.span);
      else this.add('E011', l.name.span, `list "${l.name.name}" is defined twice`, { related: [{ span: first, message: 'first defined here' }], hint: 'rename one of them or merge their items' });
    }
    const chains = new Map<string, SourceSpan>();
    for (const c of this.input.ast.chains) {
      const first = chains.get(c.name.name);
      if (first === undefined) chains.set(c.name.name, c.name.span);
      else this.add('E012', c.name.span, `chain "${c.name.name}" is defined twice`, { related: [{ span: first, message: 'first defined here' }] });
    }
  }

  /**
   * Malformed items, ranges with host bits, empty inline lists. Items of list
   * files are described without their text (see redact.ts); at most
   * MAX_LOCATED of each are located, then one diagnostic counts the rest.
   */
  checkListItems(list: ResolvedList, inline: InlineList | null): void {
    const inFile = list.file !== null;
    for (const item of list.invalid.shown) {
      const v = item.value;
      if (inFile) this.add('E014', item.span, `malformed list item ${itemShape(item.text)}: it ${v.reason}`, { hint: v.reasonHint });
      else this.add('E014', item.span, v.message, { hint: v.hint });
    }
    this.addHidden('E014', list.invalid, 'malformed items');
    for (const item of list.hostBits.shown) {
      const v = item.value;
      if (v.kind !== 'ip') continue;
      if (inFile) {
        this.add('W003', item.span, `address range ${itemShape(item.text)} has host bits set, so it matches more addresses than written`, {
          hint: 'write the network address (host bits zero), or drop the prefix length to match one address',
        });
      } else {
        this.add('W003', item.span, `"${item.text}" has host bits set; it matches all of ${formatCidr(v.range)}`, { hint: `write ${formatCidr(v.range)}, or drop the prefix length to match one address` });
      }
    }
    this.addHidden('W003', list.hostBits, 'address ranges with host bits set');
    if (inline !== null && inline.items.length === 0) {
      this.add('W002', inline.span, 'this list is empty, so `in` it is never true');
    }
  }

  /** `N more … are not shown one by one`, at the first of them, when some were left out. */
  private addHidden(code: Code, located: Located, what: string): void {
    if (located.firstHidden === null) return;
    const rest = located.count - located.shown.length;
    this.add(code, located.firstHidden, `${rest} more ${what} in this list from here on (only the first ${located.shown.length} are shown one by one)`);
  }

  checkListUses(): void {
    for (const decl of this.input.ast.lists) {
      if (this.listsByName.get(decl.name.name) !== decl) continue;
      if (!this.uses.has(decl)) {
        this.add('W001', decl.name.span, `list "${decl.name.name}" is never used`, { hint: 'use it in a condition (`src in NAME`) or remove it' });
      }
    }
  }

  /** Items that make no sense for `use in LIST` (the field's ListFit): decided per kind of item, located for the first few of each. */
  checkFit(list: ResolvedList, use: FieldName, fit: ListFit, useSpan: SourceSpan | null): void {
    const related = useSpan === null ? [] : [{ span: useSpan, message: `the list is used with \`${use} in\` here` }];
    for (const located of list.kinds.values()) {
      const sample = located.shown[0];
      if (sample === undefined) continue;
      const problem = misfit(sample.value, fit);
      if (problem === null) continue;
      for (const item of located.shown) {
        const subject = list.file === null ? `"${item.text}"` : `list item ${itemShape(item.text)}`;
        this.add('E015', item.span, `${subject} is ${problem.what}, but \`${use} in\` compares ${problem.wants}`, { hint: problem.hint, related });
      }
      if (located.firstHidden !== null) {
        const rest = located.count - located.shown.length;
        this.add('E015', located.firstHidden, `${rest} more items of this list from here on are ${problem.what} too (only the first ${located.shown.length} are shown one by one)`, { related });
      }
    }
  }

  checkChain({ node: chain, steps }: ConvertedChain): void {
    const placed: Array<{ step: Step; phase: RulePhase; index: number }> = [];
    const report: Report = (code, span, message, extra) => this.add(code, span, message, extra);
    steps.forEach((step, index) => {
      checkOptions(step, report);
      checkValues(step, report);
      if (step.when !== null) this.checkCondition(step.when.condition);
      const phase = this.checkPhase(step.node);
      checkStep(chain, step, report);
      this.checkForeignPregreet(step);
      placed.push({ step: step.node, phase, index });
    });
    this.checkReachable(placed);
    this.checkForeignPregreetOnSmtps(chain, steps);
  }

  /** Steps an unconditional accept, reject or disconnect keeps from ever running. */
  checkReachable(placed: ReadonlyArray<{ step: Step; phase: RulePhase; index: number }>): void {
    const terminators = placed.flatMap((p) => {
      // A dry-run step never ends anything: the chain goes on after it.
      if (whenOf(p.step) !== null || p.step.dryRun !== null) return [];
      const k = p.step.action.kind;
      // What ends the chain is what smtpd makes of it: a reject at connect is a disconnect.
      const kind = k === 'reject' ? decisionAt(k, p.phase) : k;
      return kind === 'accept' || kind === 'reject' || kind === 'disconnect' ? [{ ...p, kind }] : [];
    });
    for (const p of placed) {
      const blocker = terminators.find((t) => t.index !== p.index && hides(t.kind, t.phase, t.index, p.phase, p.index));
      if (blocker === undefined) continue;
      this.add('W007', p.step.action.span, `this step never runs: the unconditional ${blocker.kind} at ${blocker.phase} ends the chain first`, {
        related: [{ span: blocker.step.action.span, message: `unconditional ${blocker.kind}` }],
        hint: 'add a `when` condition to that step, or reorder the steps',
      });
    }
  }

  checkCondition(c: Condition): void {
    switch (c.kind) {
      case 'or':
      case 'and':
        for (const o of c.operands) this.checkCondition(o);
        return;
      case 'not':
        this.checkCondition(c.operand);
        return;
      case 'test':
        break;
    }
    const { field, test } = c;
    // The field's row says which tests it takes; any other is E045.
    const row = FIELD_BY_NAME[field];
    switch (test.op) {
      case 'present':
        if (row.tests.present === undefined) this.wrongTest(c.span, row);
        return;
      case 'match':
        if (row.tests.match === true) this.checkRegex(test.regex);
        else this.wrongTest(c.span, row);
        return;
      case 'in':
        if (row.tests.in !== undefined) this.checkListUse(field, row.tests.in, test.list);
        else this.wrongTest(c.span, row);
        return;
    }
  }

  wrongTest(span: SourceSpan, row: FieldDefinition): void {
    const wrong = wrongTestOf(row);
    this.add('E045', span, wrong.message, { hint: wrong.hint });
  }

  checkRegex(r: RegexLit): void {
    if (r.pattern === '') {
      this.add('E050', r.span, 'empty regex', { hint: 'an empty pattern matches everything; leave out the condition instead' });
      return;
    }
    const badFlag = [...r.flags].find((f, i) => !SUPPORTED_REGEX_FLAGS.includes(f) || r.flags.indexOf(f) !== i);
    if (badFlag !== undefined) {
      this.add('E051', r.span, `unknown or repeated regex flag "${badFlag}" in ${r.text}`, { hint: 'matching is case-insensitive already; `i` is the only flag' });
      return;
    }
    const compiled = compileRegex(r.pattern, r.flags);
    if (!compiled.ok) this.add('E050', r.span, compiled.error);
  }

  /** `use in LIST`: the list exists, its items fit the field (once per list and field), and the use is recorded (W001). */
  checkListUse(use: FieldName, fit: ListFit, list: ListRef): void {
    if (list.kind === 'inline') {
      const resolved = resolveInline(list);
      this.checkListItems(resolved, list);
      this.checkFit(resolved, use, fit, null);
      return;
    }
    const decl = this.listsByName.get(list.name.name);
    if (decl === undefined) {
      this.add('E010', list.name.span, `undefined list "${list.name.name}"`, { hint: didYouMean(list.name.name, this.listsByName.keys()) ?? 'define it with `list NAME = { ... }`' });
      return;
    }
    let uses = this.uses.get(decl);
    if (uses === undefined) {
      uses = new Map();
      this.uses.set(decl, uses);
    }
    if (!uses.has(use)) {
      uses.set(use, list.name.span);
      this.checkFit(this.resolved(decl), use, fit, list.name.span);
    }
  }

  /** Reports impossible phases; returns the phase the step runs at. */
  checkPhase(step: Step): RulePhase {
    const sp = stepPhase(step);
    const kind = step.action.kind;
    const at = sp.at;
    if (at !== null && isEarlier(at.phase, sp.earliest)) {
      const needs = ACTION_PHASES[kind].earliest;
      if (sp.reason !== null && !isEarlier(sp.reason.phase, needs) && sp.reason.phase === sp.earliest) {
        this.add('E041', at.span, `\`at ${at.phase}\` is earlier than this step can run: its condition looks at \`${sp.reason.field}\`, known from the ${sp.reason.phase} phase on`, {
          related: [{ span: sp.reason.span, message: `\`${sp.reason.field}\` is used here` }],
          hint: `remove \`at ${at.phase}\`, or use \`at ${sp.earliest}\` or later`,
        });
      } else {
        this.add('E042', at.span, `\`${kind}\` cannot run at ${at.phase}: it needs the envelope, known from the ${needs} phase on`, {
          hint: `use \`at ${needs}\` or later (the default is ${ACTION_PHASES[kind].default})`,
        });
      }
    }
    for (const decision of DECIDES[kind]) {
      const rule = smtpdRuleAt(decision, sp.phase);
      if (rule === null) continue;
      const said = SMTPD_RULE_DIAGNOSTICS[rule.id];
      this.add(said.code, step.action.span, said.message, {
        related: said.showAt && at !== null ? [{ span: at.span, message: `the step is placed at ${sp.phase} here` }] : [],
        hint: said.hint,
      });
    }
    return sp.phase;
  }

  /**
   * `pregreet` on a step that does not take it (E043 says so) still gets the
   * pause's E046 and W009, as the checker always gave them: the pause's own
   * checks see only its own options. Whether to keep saying it is for the
   * checker's rewrite (issue 11 stage 8b).
   */
  checkForeignPregreet(step: ConvertedStep): void {
    const pregreets = step.foreign.filter((o) => o.kind === 'pregreet');
    const { phase, at } = step.placement;
    if (phase !== 'connect') {
      for (const o of pregreets) {
        this.add('E046', o.keywordSpan, `\`pregreet\` needs the pause to run at connect, before the banner; this pause runs at ${phase}`, {
          related: at === null ? [] : [{ span: at.span, message: `the pause is placed at ${phase} here` }],
          hint: 'remove `pregreet`, or the `at`/`when` that moves the pause past connect',
        });
      }
    }
  }

  checkForeignPregreetOnSmtps(chain: ChainDecl, steps: readonly ConvertedStep[]): void {
    if (!namesImplicitTls(chain.name.name)) return;
    for (const step of steps) {
      const o = step.foreign.find((x) => x.kind === 'pregreet');
      if (o === undefined) continue;
      this.add('W009', o.keywordSpan, `chain "${chain.name.name}" is named for an smtps (implicit TLS) listener, where the client speaks first (its TLS hello): the filter does not apply \`pregreet\` there, so this pause runs without the early-talker check`, {
        related: [{ span: chain.name.span, message: 'the chain is named here' }],
        hint: 'remove `pregreet` from this chain; the filter skips it on the ports given with --smtps-ports (default 465)',
      });
    }
  }

  checkDataLine(): void {
    if (this.input.dataLineRegistered) return;
    for (const chain of this.input.ast.chains) {
      for (const step of chain.steps) {
        if (!stepNeedsDataLine(step)) continue;
        this.add('W008', step.action.span, 'this step may add headers, which needs the message lines (data-line), but the running filter did not register data-line when it started', {
          hint: 'restart smtpd so the filter registers data-line; until then the step runs without adding headers',
        });
        return;
      }
    }
  }
}

/**
 * Does an unconditional `kind` (step `ti` at `tp`) keep step `si` at `sp` from running?
 * Within a phase, steps run in chain order. An accept also covers later phases of
 * its scope (connect/helo: the session; mail-from, data: the transaction; rcpt-to:
 * that recipient only); a disconnect ends the session; a reject ends its phase.
 */
function hides(kind: 'accept' | 'reject' | 'disconnect', tp: RulePhase, ti: number, sp: RulePhase, si: number): boolean {
  if (tp === sp) return ti < si;
  if (rulePhaseOrder(sp) < rulePhaseOrder(tp)) return false;
  switch (kind) {
    case 'disconnect':
      return true;
    case 'reject':
      return false;
    case 'accept':
      return tp !== 'rcpt-to';
  }
}

export function check(input: CheckInput): Diagnostic[] {
  return new Checker(input).run();
}
