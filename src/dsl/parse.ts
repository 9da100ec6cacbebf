/**
 * Running the parser: tokens → CST plus syntax diagnostics. Turns chevrotain's
 * recognition errors into located, coded messages with hints (did-you-mean for
 * misspelt keywords, unclosed braces reported at the brace), keeps going after
 * errors, and refuses absurdly deep nesting before the recursive parser sees it.
 */
import { EOF } from './chevrotain.js';
import type { CstNode, IToken, TokenType } from 'chevrotain';
import { closest } from '../support/closest.js';
import { diagnostic, type Diagnostic } from './diagnostics.js';
import { decodeExpectation, parser } from './parser.js';
import type { SourceText } from './source.js';
import * as T from './tokens.js';

export interface ParseResult {
  readonly cst: CstNode;
  readonly diagnostics: Diagnostic[];
}

const KEYWORD_TYPES = new Set<TokenType>(T.KEYWORD_TOKENS);
const TOKEN_BY_NAME = new Map<string, TokenType>(T.parserTokens.map((t) => [t.name, t]));
TOKEN_BY_NAME.set(EOF.name, EOF);

function describeToken(name: string): string {
  if (name === EOF.name) return 'end of file';
  const t = TOKEN_BY_NAME.get(name);
  const label = t?.LABEL ?? name;
  switch (label) {
    case 'NAME':
      return 'a name';
    case 'STRING':
      return 'a string';
    case 'REGEX':
      return 'a regex /.../';
    case 'ADDRESS':
      return 'an address (unix:/path, tcp:host:port or inet:host:port)';
    case 'NUMBER':
      return 'a number or duration';
    case 'ITEM':
      return 'a list item';
    default:
      return label;
  }
}

function describeFound(token: IToken): string {
  if (token.tokenType === EOF) return 'end of file';
  const image = token.image.length > 40 ? `${token.image.slice(0, 40)}...` : token.image;
  return `"${image}"`;
}

function oxford(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? 'something else';
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1] ?? ''}`;
}

const CATEGORY_BY_NAME = new Map<string, TokenType>(Object.values(T.CATEGORIES).map((c) => [c.name, c]));

/** The words of a run of categories: their wider category's order when one holds them all, else each in turn. */
function membersOfRun(run: readonly TokenType[]): TokenType[] {
  const members = run.flatMap((c) => T.CATEGORY_MEMBERS.get(c) ?? []);
  if (run.length > 1) {
    const wider = [...T.CATEGORY_MEMBERS.values()].find((all) => members.every((m) => all.includes(m)));
    if (wider !== undefined) return wider.filter((m) => members.includes(m));
  }
  return members;
}

/**
 * The expected token names with each category replaced by its words, so a
 * message lists `'pause', 'accept', …` as the word-by-word grammar did. A run
 * of categories from one alternation (STEP_NUMBER, STEP_NONE, … of `action`)
 * lists its words in the order of the category that holds them all (STEP: the
 * catalogue's), not shape by shape; each word once.
 */
function expandCategories(names: readonly string[]): string[] {
  const out: string[] = [];
  const add = (name: string): void => {
    if (!out.includes(name)) out.push(name);
  };
  let run: TokenType[] = [];
  const flush = (): void => {
    for (const m of membersOfRun(run)) add(m.name);
    run = [];
  };
  for (const name of names) {
    const category = CATEGORY_BY_NAME.get(name);
    if (category !== undefined) {
      run.push(category);
      continue;
    }
    flush();
    add(name);
  }
  flush();
  return out;
}

/** Keyword spellings among the expected token names. */
function expectedWords(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    const label = TOKEN_BY_NAME.get(n)?.LABEL;
    if (label !== undefined && label.startsWith("'") && /^'[a-z][a-z0-9-]*'$/.test(label)) out.push(label.slice(1, -1));
  }
  return out;
}

/** Span of a token; EOF (which has no offset) points at the end of the text. */
function tokenSpan(source: SourceText, token: IToken) {
  if (token.tokenType === EOF || !Number.isFinite(token.startOffset)) return source.endSpan();
  return source.span(token.startOffset, token.startOffset + token.image.length);
}

/** The `{` left open before `offset`, if any (scanning the token stream). */
function unclosedBraceBefore(tokens: readonly IToken[], offset: number): IToken | null {
  const stack: IToken[] = [];
  for (const t of tokens) {
    if (Number.isFinite(offset) && t.startOffset >= offset) break;
    if (t.tokenType === T.LBrace) stack.push(t);
    else if (t.tokenType === T.RBrace) stack.pop();
  }
  return stack[stack.length - 1] ?? null;
}

/** Where a stray token inside a chain ends: the next `then`, `list`, `chain` or the end. */
const RESUME_AT = new Set<TokenType>([T.Then, T.List, T.Chain]);

/** The keyword (`chain` or `list`) of the declaration `offset` is in, if any. */
function enclosingDecl(tokens: readonly IToken[], offset: number): TokenType | null {
  let decl: TokenType | null = null;
  for (const t of tokens) {
    if (t.startOffset >= offset) break;
    if (t.tokenType === T.Chain || t.tokenType === T.List) decl = t.tokenType;
  }
  return decl;
}

/** Deeper conditions would exhaust the stack of the recursive parser; nobody writes them. */
export const MAX_CONDITION_DEPTH = 50;

/**
 * The first `(` or `not` nested deeper than MAX_CONDITION_DEPTH, if any.
 * Depth counts open parentheses and the `not`s in front of each group.
 */
function tooDeep(tokens: readonly IToken[]): IToken | null {
  const groups: number[] = [];
  let nots = 0;
  let depth = 0;
  for (const t of tokens) {
    if (t.tokenType === T.Not) {
      nots++;
      depth++;
    } else if (t.tokenType === T.LParen) {
      groups.push(nots);
      nots = 0;
      depth++;
    } else if (t.tokenType === T.RParen || t.tokenType === T.RParenInList) {
      depth -= nots;
      nots = 0;
      const outer = groups.pop();
      if (outer !== undefined) depth -= outer + 1;
    } else {
      depth -= nots;
      nots = 0;
    }
    if (depth > MAX_CONDITION_DEPTH) return t;
  }
  return null;
}

/**
 * Tokens → CST and syntax diagnostics.
 *
 * chevrotain cannot re-synchronise inside a chain (its step loop ends the
 * rule), so a stray word after a step would hide every later error in that
 * chain. After such an error, drop the stray tokens up to the next `then` and
 * parse again; errors past that point are added. Bounded, and each round
 * removes at least one token, so it terminates.
 */
export function parse(tokens: IToken[], source: SourceText): ParseResult {
  const deep = tooDeep(tokens);
  if (deep !== null) {
    // Refuse before chevrotain recurses into it: a stack overflow is not a diagnostic.
    const d = diagnostic('E009', tokenSpan(source, deep), `condition nested more than ${MAX_CONDITION_DEPTH} levels deep`, {
      hint: 'flatten it with `and`/`or`, or split it across steps',
    });
    parser.input = [];
    return { cst: parser.rulesFile(), diagnostics: [d] };
  }
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<number>();
  let stream = tokens;
  let cst: CstNode | undefined;
  let after = -1;
  for (let round = 0; round < 50; round++) {
    parser.input = stream;
    const tree = parser.rulesFile();
    cst = cst ?? tree;
    let restart: number | null = null;
    for (const e of parser.errors) {
      const offset = Number.isFinite(e.token.startOffset) ? e.token.startOffset : source.text.length;
      if (offset <= after || seen.has(offset)) continue;
      seen.add(offset);
      const expected = expandCategories(decodeExpectation(e.message).expected);
      const topLevel = expected.length > 0 && expected.every((x) => x === EOF.name || x === T.List.name || x === T.Chain.name);
      const strayInChain = topLevel && e.token.tokenType !== EOF && enclosingDecl(stream, offset) === T.Chain;
      diagnostics.push(describeError(e.token, strayInChain ? STRAY_IN_CHAIN : expected, stream, source));
      if (strayInChain && restart === null) restart = offset;
    }
    if (restart === null) break;
    const from = stream.findIndex((t) => t.startOffset === restart);
    let to = from + 1;
    while (to < stream.length && !RESUME_AT.has((stream[to] as IToken).tokenType)) to++;
    const next = stream[to];
    if (from < 0 || next === undefined || next.tokenType !== T.Then) break;
    stream = [...stream.slice(0, from), ...stream.slice(to)];
    after = restart;
  }
  return { cst: cst ?? parser.rulesFile(), diagnostics };
}

/** Tokens that end an unclosed list (see tokens.ts). */
const LIST_EXITS = new Set<TokenType>([T.ChainInList, T.ListInList, T.ThenInList, T.WhenInList, T.RParenInList]);

/** What may follow a complete step: these are what a stray word is measured against. */
const STRAY_IN_CHAIN: readonly string[] = [T.Then.name, T.When.name, T.At.name, T.OnError.name, T.Chain.name, T.List.name, EOF.name];

function describeError(token: IToken, expected: readonly string[], tokens: readonly IToken[], source: SourceText): Diagnostic {
  const span = tokenSpan(source, token);
  const open = unclosedBraceBefore(tokens, token.startOffset);
  if (open !== null && (token.tokenType === EOF || LIST_EXITS.has(token.tokenType))) {
    return diagnostic('E005', source.span(open.startOffset, open.startOffset + 1), 'this `{` is never closed', {
      related: [{ span, message: `expected "}" before ${describeFound(token)}` }],
      hint: 'close the list with `}`',
    });
  }
  const found = describeFound(token);
  if (token.tokenType === T.Comma && expected.includes(T.RBrace.name)) {
    return diagnostic('E004', span, 'expected a list item or "}", found ","', { hint: 'remove the extra comma' });
  }
  if (token.tokenType === T.RBrace && open === null) {
    return diagnostic('E004', span, 'unmatched "}": no list is open here');
  }
  const isItem = token.tokenType === T.ListItem || token.tokenType === T.StringLiteral;
  if (isItem && expected.includes(T.RBrace.name)) {
    return diagnostic('E004', span, `expected "," or "}", found ${found}`, { hint: 'separate list items with commas' });
  }
  let hint: string | undefined;
  const word = token.image;
  if (token.tokenType === T.Identifier) {
    const suggestion = closest(word, expectedWords(expected)) ?? closest(word, T.KEYWORDS);
    if (suggestion !== null) hint = `did you mean "${suggestion}"?`;
  } else if (token.tokenType === T.DryRun) {
    hint = '`dry-run` goes in front of the action it marks: `then dry-run reject "..." when ...`';
  } else if (KEYWORD_TYPES.has(token.tokenType) && expected.includes(T.Identifier.name)) {
    hint = `"${word}" is a reserved word; choose another name`;
  }
  return diagnostic('E004', span, `expected ${oxford(expected.map(describeToken))}, found ${found}`, hint === undefined ? {} : { hint });
}
