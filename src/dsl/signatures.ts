/**
 * Step signatures, read from the catalogue (src/steps/catalogue.ts): what
 * each step keyword takes after it — its argument, and its options with
 * their value types, ranges and defaults — as grammar rules and as the rows
 * of the options table. The parser takes any option after any step and the
 * checker holds each step to its signature, so these rules are the
 * documentation of that signature, generated so that it cannot drift:
 * grammar/rules.ebnf and grammar/railroad.html show the rules,
 * grammar/REFERENCE.md and filter-rules.rules(5) the table (doc-sections.ts
 * renders it; gen-grammar.ts writes them all).
 *
 * Pure: definitions in, chevrotain GAST and table rows out. Each function
 * takes the definitions, so the tests can run them on a doctored catalogue.
 */
import { formatResolverAddress } from '../dns/resolver-address.js';
import { formatLimitKey, formatRate } from '../model/limits.js';
import { formatDnsListEntry } from '../dns/sites.js';
import type { IProduction, Rule as GastRule, TokenType } from 'chevrotain';
import { formatPolicyAddress } from '../model/address.js';
import { formatPoints } from '../model/score.js';
import { STEPS } from '../steps/catalogue.js';
import type { OptionSpec, StepDefinition, ValueSpec, ValueType, ValueTypes } from '../steps/spec.js';
import { SHAPE_OF } from '../steps/spec.js';
import { STEP_WORDS } from '../steps/words.js';
import { formatDuration } from '../support/units.js';
import { Alternation, Alternative, NonTerminal, Option, Repetition, Rule, Terminal } from './chevrotain.js';
import { keywordToken, NumberLiteral, StringLiteral } from './tokens.js';

/**
 * The grammar rule that names each value type in a signature, and what the
 * checker reads in it (a comment of rules.ebnf). Flags and choices have no
 * rule of their own: a flag is its word alone, a choice its words.
 */
export const VALUE_RULES: { readonly [T in ValueType]: { readonly rule: string; readonly about: string } | null } = {
  duration: { rule: 'duration', about: 'a whole number and a unit, no space: 500ms 3s 5m 2h 35d (E020)' },
  count: { rule: 'count', about: 'a whole number (E022)' },
  reply: { rule: 'reply', about: 'one SMTP reply line: a 4xx or 5xx code, a space, text (E030-E032)' },
  'policy-address': { rule: 'policyAddress', about: 'unix:/path, tcp:host:port or inet:host:port (E024)' },
  'store-url': { rule: 'storeUrl', about: '"sqlite:/path.db", "redis://host:port/db", "valkey://..." or "redis+unix:///path.sock" (E025)' },
  flag: null,
  choice: null,
  'dns-list': { rule: 'dnsList', about: 'postscreen\'s "zone=filter*weight", then named codes "name=filter" (E070)' },
  'dns-name': { rule: 'dnsName', about: 'a letter, then letters, digits, - and _ (E071)' },
  'resolver-address': { rule: 'resolverAddress', about: '"127.0.0.1:5353" or "[::1]:5353" (E072)' },
  points: { rule: 'points', about: 'a decimal with a sign, up to 3 decimals (E075), then a label, a word in a string: +2 "no-rdns" (E076)' },
  'http-url': { rule: 'httpUrl', about: '"http://host:port" (E095)' },
  'settings-id': { rule: 'settingsId', about: 'a letter or digit, then letters, digits, -, _ and . (E096)' },
  rate: { rule: 'rate', about: 'a count per period, "30/1h", or a count at once, "10" (E085)' },
  'limit-key': { rule: 'limitKey', about: '"global", or parts joined by +: "src(24,64)+sender-domain" (E086)' },
  'counter-store-url': { rule: 'counterStoreUrl', about: '"memory:", "sqlite:/path.db", "redis://host:port/db" (E087)' },
  'signing-domain': { rule: 'signingDomain', about: 'a DNS name without a trailing dot: "example.org" (E107)' },
  'dkim-selector': { rule: 'dkimSelector', about: 'DNS labels: letters, digits and -, separated by dots (E108)' },
  'key-file': { rule: 'keyFile', about: 'the path of a PEM private key, relative to the rules file (E109; unreadable E110, wrong E111)' },
};

/**
 * The options of the language itself, which every step takes (the parser's
 * whenClause, atClause and onErrorClause): the `common` rule of the
 * signatures and the first rows of the options table. Their cells are
 * written here, as the catalogue's specs write theirs.
 */
export interface CommonOption {
  /** The parser rule that reads it. */
  readonly rule: string;
  /** The option as written, for the table: `at PHASE`. */
  readonly written: string;
  readonly default: string;
  readonly allowed: string;
  readonly meaning: string;
}

export const COMMON_OPTIONS: readonly CommonOption[] = [
  {
    rule: 'whenClause',
    written: 'when CONDITION',
    default: 'none (always)',
    allowed: 'see [Conditions](#6-conditions)',
    meaning: 'the step runs only when the condition holds',
  },
  {
    rule: 'atClause',
    written: 'at PHASE',
    default: 'inferred (see [Phases](#5-phases))',
    allowed: 'the inferred phase or later (E041, E042)',
    meaning: 'the phase the step runs at',
  },
  {
    rule: 'onErrorClause',
    written: 'on-error tempfail|proceed',
    default: '`tempfail`',
    allowed: '`tempfail` or `proceed`',
    meaning: 'what to do when the step itself fails (policy server down, store error, the step’s deadline): answer a temporary failure, or go on with the next step as if this one had not matched',
  },
];

/** The name of the rule every signature repeats for the language's own options. */
export const COMMON_RULE = 'common';

/** `dkim-sign` → `dkimSign`: rule names are camelCase, like the parser's. */
export function ruleName(word: string): string {
  return word.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** The token of a reserved word; a signature word the lexer does not reserve is a catalogue mistake. */
function wordToken(word: string): TokenType {
  const t = keywordToken(word);
  if (t === null) throw new Error(`signatures: ${word} is not a reserved word (src/steps/words.ts, src/steps/catalogue.ts)`);
  return t;
}

function valueRuleOf(type: ValueType): string {
  const r = VALUE_RULES[type];
  if (r === null) throw new Error(`signatures: a ${type} has no value rule`);
  return r.rule;
}

/** What follows an option word: nothing (a flag), one of its choice words, or its value's rule. */
function optionValue(spec: OptionSpec, used: Set<ValueType>): IProduction[] {
  if (spec.type === 'flag') return [];
  if (spec.type === 'choice') {
    const choices = spec.choices ?? [];
    if (choices.length === 0) throw new Error(`signatures: option ${spec.name} is a choice without choices`);
    if (choices.some((c) => c.reply)) used.add('reply');
    const alternatives = choices.map(
      (c) =>
        new Alternative({
          definition: [new Terminal({ terminalType: wordToken(c.word) }), ...(c.reply ? [new Option({ definition: [new NonTerminal({ nonTerminalName: valueRuleOf('reply') })] })] : [])],
        }),
    );
    return [new Alternation({ definition: alternatives })];
  }
  used.add(spec.type);
  return [new NonTerminal({ nonTerminalName: valueRuleOf(spec.type) })];
}

/** `pause ::= 'pause' duration ( 'pregreet' ( 'disconnect' reply? | 'log' ) | 'pay-once' duration | common )*` */
function stepRule(d: StepDefinition, used: Set<ValueType>): GastRule {
  const head: IProduction[] = [new Terminal({ terminalType: wordToken(d.keyword) })];
  if (d.argument !== null) {
    used.add(d.argument.type);
    head.push(new NonTerminal({ nonTerminalName: valueRuleOf(d.argument.type) }));
  }
  const common = new NonTerminal({ nonTerminalName: COMMON_RULE });
  const options = Object.values(d.options).map((spec) => new Alternative({ definition: [new Terminal({ terminalType: wordToken(spec.name) }), ...optionValue(spec, used)] }));
  const repeated = options.length === 0 ? [common] : [new Alternation({ definition: [...options, new Alternative({ definition: [common] })] })];
  return new Rule({ name: ruleName(d.keyword), definition: [...head, new Repetition({ definition: repeated })] });
}

/** The grammar a value of `type` is written in: the token (or the parser rule) of its shape. */
function valueRule(type: ValueType): GastRule {
  const shape = SHAPE_OF[type];
  const definition =
    shape === 'number'
      ? [new Terminal({ terminalType: NumberLiteral })]
      : shape === 'string'
        ? [new Terminal({ terminalType: StringLiteral })]
        : shape === 'address'
          ? [new NonTerminal({ nonTerminalName: 'serverAddress' })]
          : shape === 'points'
            ? [new Terminal({ terminalType: NumberLiteral }), new Terminal({ terminalType: StringLiteral })]
            : null;
  if (definition === null) throw new Error(`signatures: a ${type} (${shape}) has no value rule`);
  return new Rule({ name: valueRuleOf(type), definition });
}

export interface SignatureGrammar {
  /** One rule per step keyword, in catalogue order. */
  readonly steps: readonly GastRule[];
  /** `common ::= whenClause | atClause | onErrorClause`. */
  readonly common: GastRule;
  /** One rule per value type the signatures use, in ValueTypes order. */
  readonly values: readonly GastRule[];
  /** The rules of the parser the signatures refer to (checked to exist by gen-grammar). */
  readonly parserRules: readonly string[];
}

/** The signatures of `steps` as GAST rules, for rules.ebnf and railroad.html. */
export function signatureGrammar(steps: readonly StepDefinition[] = STEPS): SignatureGrammar {
  const used = new Set<ValueType>();
  const stepRules = steps.map((d) => stepRule(d, used));
  const common = new Rule({
    name: COMMON_RULE,
    definition: [new Alternation({ definition: COMMON_OPTIONS.map((o) => new Alternative({ definition: [new NonTerminal({ nonTerminalName: o.rule })] })) })],
  });
  const values = (Object.keys(SHAPE_OF) as ValueType[]).filter((t) => used.has(t)).map(valueRule);
  const parserRules = [...COMMON_OPTIONS.map((o) => o.rule), ...(used.has('policy-address') ? ['serverAddress'] : [])];
  return { steps: stepRules, common, values, parserRules };
}

// --- the options table -----------------------------------------------------

/** One row of the options table: an option, and the steps that take it with this very spec. */
export interface OptionRow {
  readonly spec: OptionSpec;
  /** Step keywords, in catalogue order. */
  readonly steps: readonly string[];
}

/** What a row shows of a spec: two steps whose specs show the same share a row. */
function rowKey(spec: OptionSpec): string {
  return JSON.stringify([spec.name, spec.type, spec.docName, spec.default, spec.min ?? null, spec.max ?? null, spec.doc, spec.choices ?? null]);
}

/** The option rows of `steps`, in reserved-word order (STEP_WORDS), then in the order first taken. */
export function optionRows(steps: readonly StepDefinition[] = STEPS): OptionRow[] {
  const rows = new Map<string, { spec: OptionSpec; steps: string[] }>();
  for (const d of steps) {
    for (const spec of Object.values(d.options)) {
      const key = rowKey(spec);
      const row = rows.get(key) ?? { spec, steps: [] };
      if (!row.steps.includes(d.keyword)) row.steps.push(d.keyword);
      rows.set(key, row);
    }
  }
  const order = (spec: OptionSpec): number => {
    const i = STEP_WORDS.findIndex(([w]) => w === spec.name);
    return i < 0 ? STEP_WORDS.length : i;
  };
  // Array.prototype.sort is stable: rows of one word, and words STEP_WORDS lacks, keep their order.
  return [...rows.values()].sort((a, b) => order(a.spec) - order(b.spec));
}

/** A default as the rules would write it, in backticks; `off` for an option that is off unless written. */
export function formatDefault(spec: OptionSpec): string {
  const value = spec.default;
  if (value === null) return 'off';
  const shown = ((): string => {
    switch (spec.type) {
      case 'duration':
        return formatDuration(value as ValueTypes['duration']);
      case 'count':
        return String(value as ValueTypes['count']);
      case 'reply':
      case 'store-url':
      case 'counter-store-url':
      case 'dns-name':
      case 'http-url':
      case 'settings-id':
      case 'signing-domain':
      case 'dkim-selector':
      case 'key-file':
        return JSON.stringify(value as string);
      case 'rate':
        return JSON.stringify(formatRate(value as ValueTypes['rate']));
      case 'limit-key':
        return JSON.stringify(formatLimitKey(value as ValueTypes['limit-key']));
      case 'dns-list':
        return JSON.stringify(formatDnsListEntry(value as ValueTypes['dns-list']));
      case 'resolver-address':
        return JSON.stringify(formatResolverAddress(value as ValueTypes['resolver-address']));
      case 'policy-address':
        return formatPolicyAddress(value as ValueTypes['policy-address']);
      case 'flag':
        return 'on';
      case 'choice': {
        const c = value as ValueTypes['choice'];
        return c.reply === null ? c.word : `${c.word} ${JSON.stringify(c.reply)}`;
      }
      case 'points': {
        const p = value as ValueTypes['points'];
        return `${formatPoints(p.milli)} ${JSON.stringify(p.label)}`;
      }
    }
  })();
  return `\`${shown}\``;
}

/**
 * The range of a numeric value, from its spec's bounds: `` `1s … 1d` ``, or,
 * for a duration from 1 ms (durations are whole milliseconds), "more than 0,
 * at most `5m`", as the range error says it. Null when the value is not
 * bounded.
 */
export function formatRange(spec: ValueSpec): string | null {
  const { min, max } = spec;
  if (spec.type !== 'duration' && spec.type !== 'count') return null;
  const show = (n: number): string => (spec.type === 'duration' ? formatDuration(n) : String(n));
  if (min === undefined && max === undefined) return null;
  if (spec.type === 'duration' && min === 1) return max === undefined ? 'more than 0' : `more than 0, at most \`${show(max)}\``;
  if (min === undefined) return `at most \`${show(max ?? 0)}\``;
  if (max === undefined) return `at least \`${show(min)}\``;
  return `\`${show(min)} … ${show(max)}\``;
}

/** The allowed cell: the range the bounds give, then what the spec's doc adds to it; null when neither says anything. */
export function allowedText(spec: OptionSpec): string | null {
  const parts = [formatRange(spec), spec.doc.allowed].filter((p): p is string => p !== null && p.trim() !== '');
  return parts.length === 0 ? null : parts.join(', ');
}
