/**
 * The parser's grammar as EBNF text, printed from chevrotain's GAST (the
 * grammar the parser actually runs), so grammar/rules.ebnf cannot drift from
 * the code. Notation: W3C-style `::=`, `|`, `?`, `*`, `+`, `( )`; keywords in
 * single quotes; token categories and classes in capitals, defined at the end
 * (a category as the words it stands for, a class as its pattern).
 */
import { Alternation, Alternative, NonTerminal, Option, Repetition, RepetitionMandatory, RepetitionMandatoryWithSeparator, RepetitionWithSeparator, Rule, Terminal } from './chevrotain.js';
import type { IProduction, Rule as GastRule, TokenType } from 'chevrotain';

type Printed = { readonly text: string; /** True when it needs parentheses inside a sequence or before a suffix. */ readonly compound: boolean };

function terminalName(t: TokenType): string {
  return t.LABEL ?? t.name;
}

function group(p: Printed): string {
  return p.compound ? `( ${p.text} )` : p.text;
}

function sequence(defs: readonly IProduction[], terminals: Set<TokenType>): Printed {
  const parts = defs.map((d) => print(d, terminals));
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  return { text: parts.map((p) => (p.compound && p.text.includes('|') ? `( ${p.text} )` : p.text)).join(' '), compound: parts.length > 1 };
}

function print(p: IProduction, terminals: Set<TokenType>): Printed {
  if (p instanceof Terminal) {
    terminals.add(p.terminalType);
    return { text: terminalName(p.terminalType), compound: false };
  }
  if (p instanceof NonTerminal) return { text: p.nonTerminalName, compound: false };
  if (p instanceof Alternation) {
    const alts = p.definition.map((a) => print(a, terminals));
    return { text: alts.map((a) => a.text).join(' | '), compound: alts.length > 1 };
  }
  if (p instanceof Alternative) return sequence(p.definition, terminals);
  if (p instanceof Option) return { text: `${group(sequence(p.definition, terminals))}?`, compound: false };
  if (p instanceof Repetition) return { text: `${group(sequence(p.definition, terminals))}*`, compound: false };
  if (p instanceof RepetitionMandatory) return { text: `${group(sequence(p.definition, terminals))}+`, compound: false };
  if (p instanceof RepetitionWithSeparator || p instanceof RepetitionMandatoryWithSeparator) {
    terminals.add(p.separator);
    const body = group(sequence(p.definition, terminals));
    const text = `${body} ( ${terminalName(p.separator)} ${body} )*`;
    return p instanceof RepetitionWithSeparator ? { text: `( ${text} )?`, compound: false } : { text, compound: true };
  }
  if (p instanceof Rule) return sequence(p.definition, terminals);
  throw new Error(`ebnf: unknown production ${p.constructor.name}`);
}

export interface EbnfOptions {
  /** Lines put at the top as comments. */
  readonly header: readonly string[];
  /** The words of each token category the grammar consumes (tokens.ts CATEGORY_MEMBERS), printed as its definition. */
  readonly categories: ReadonlyMap<TokenType, readonly TokenType[]>;
  /** Comment lines above the categories. */
  readonly categoryNotes: readonly string[];
  /** Extra lines about tokens (comments, white space). */
  readonly tokenNotes: readonly string[];
  /** Rules that are not the parser's (the step signatures), each group after its comment lines, before the categories. */
  readonly sections?: readonly EbnfSection[];
}

export interface EbnfSection {
  readonly notes: readonly string[];
  readonly rules: readonly GastRule[];
  /** A comment after a rule, by rule name. */
  readonly comments?: ReadonlyMap<string, string>;
}

/** `rules` as `name ::= …` lines, their names padded to one width; a rule of one alternation gets a line per alternative. */
function ruleLines(rules: readonly GastRule[], terminals: Set<TokenType>, comments: ReadonlyMap<string, string> = new Map()): string[] {
  const lines: string[] = [];
  const width = Math.max(...rules.map((r) => r.name.length));
  for (const rule of rules) {
    const lhs = rule.name.padEnd(width);
    const only = rule.definition.length === 1 ? rule.definition[0] : undefined;
    const comment = comments.get(rule.name);
    const after = comment === undefined ? '' : `  (* ${comment} *)`;
    if (only instanceof Alternation) {
      // One alternative per line reads better than a long `a | b | c`.
      only.definition.forEach((alt, i) => {
        const text = print(alt, terminals).text;
        lines.push(i === 0 ? `${lhs} ::= ${text}` : `${' '.repeat(width)}   | ${text}`);
      });
      if (after !== '') lines[lines.length - 1] += after;
    } else {
      lines.push(`${lhs} ::= ${print(rule, terminals).text}${after}`);
    }
  }
  return lines;
}

/** EBNF for `rules` (in the given order) and the sections' rules, followed by the categories and token classes they use. */
export function toEbnf(rules: readonly GastRule[], options: EbnfOptions): string {
  const terminals = new Set<TokenType>();
  const lines: string[] = options.header.map((h) => `(* ${h} *)`);
  lines.push('', ...ruleLines(rules, terminals));
  for (const section of options.sections ?? []) {
    lines.push('', ...section.notes.map((n) => `(* ${n} *)`), '', ...ruleLines(section.rules, terminals, section.comments));
  }
  // Categories in the order the grammar first uses them, each as the words it stands for.
  const categories = [...terminals].filter((t) => options.categories.has(t));
  if (categories.length > 0) {
    lines.push('', ...options.categoryNotes.map((n) => `(* ${n} *)`), '');
    const w = Math.max(...categories.map((t) => terminalName(t).length));
    for (const c of categories) {
      const members = options.categories.get(c) ?? [];
      if (members.length === 0) throw new Error(`ebnf: category ${c.name} has no words`);
      lines.push(`${terminalName(c).padEnd(w)} ::= ${members.map(terminalName).join(' | ')}`);
    }
  }
  const classes = [...terminals].filter((t) => !options.categories.has(t) && !(t.LABEL ?? '').startsWith("'"));
  if (classes.length > 0) {
    lines.push('', '(* token classes, as the lexer matches them (JavaScript regex syntax) *)', '');
    const w = Math.max(...classes.map((t) => terminalName(t).length));
    for (const t of classes.sort((a, b) => terminalName(a).localeCompare(terminalName(b)))) {
      const pattern = t.PATTERN instanceof RegExp ? `/${t.PATTERN.source}/` : String(t.PATTERN);
      lines.push(`${terminalName(t).padEnd(w)} ::= ${pattern}`);
    }
  }
  if (options.tokenNotes.length > 0) {
    lines.push('');
    for (const n of options.tokenNotes) lines.push(`(* ${n} *)`);
  }
  return `${lines.join('\n')}\n`;
}
