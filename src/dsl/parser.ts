/**
 * The grammar, and nothing else: a chevrotain CstParser whose rules are class
 * fields. Meaning lives in to-ast.ts and checker.ts. One module-level instance
 * is reused by assigning `parser.input`, which resets its state.
 *
 * Error recovery is on, so one file yields all its syntax errors. Errors come
 * out of chevrotain through the message provider below, which encodes what was
 * expected as data; parse() turns that into located diagnostics with hints.
 */
import { CstParser, EOF, type CstNode, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';
import { closest, diagnostic, type Diagnostic } from './diagnostics.js';
import type { SourceText } from './source.js';
import * as T from './tokens.js';

interface Expectation {
  readonly expected: readonly string[];
}

/** Names of the first tokens of each path, deduplicated, in grammar order. */
function firsts(paths: readonly (readonly TokenType[])[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const first = p[0];
    if (first !== undefined && !out.includes(first.name)) out.push(first.name);
  }
  return out;
}

const encode = (e: Expectation): string => JSON.stringify(e);

const messageProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected }) => encode({ expected: [expected.name] }),
  buildNotAllInputParsedMessage: () => encode({ expected: [T.List.name, T.Chain.name] }),
  buildNoViableAltMessage: ({ expectedPathsPerAlt }) => encode({ expected: firsts(expectedPathsPerAlt.flat()) }),
  buildEarlyExitMessage: ({ expectedIterationPaths }) => encode({ expected: firsts(expectedIterationPaths) }),
};

export class RulesParser extends CstParser {
  constructor() {
    super(T.parserTokens, {
      recoveryEnabled: true,
      maxLookahead: 3,
      nodeLocationTracking: 'onlyOffset',
      errorMessageProvider: messageProvider,
    });
    this.performSelfAnalysis();
  }

  /** A file: list and chain declarations, in any order. */
  public rulesFile = this.RULE('rulesFile', () => {
    this.MANY(() => {
      this.OR([{ ALT: () => this.SUBRULE(this.listDecl) }, { ALT: () => this.SUBRULE(this.chainDecl) }]);
    });
  });

  public listDecl = this.RULE('listDecl', () => {
    this.CONSUME(T.List);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.OR([
      { ALT: () => this.SUBRULE(this.listBody) },
      {
        ALT: () => {
          this.CONSUME(T.File);
          this.CONSUME(T.StringLiteral);
        },
      },
    ]);
  });

  /** `{ item, item, ... }`; a trailing comma is allowed. */
  public listBody = this.RULE('listBody', () => {
    this.CONSUME(T.LBrace);
    this.OPTION(() => {
      this.SUBRULE(this.listItem);
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.SUBRULE2(this.listItem);
      });
      this.OPTION2(() => this.CONSUME2(T.Comma));
    });
    this.CONSUME(T.RBrace);
  });

  public listItem = this.RULE('listItem', () => {
    this.OR([{ ALT: () => this.CONSUME(T.ListItem) }, { ALT: () => this.CONSUME(T.StringLiteral) }]);
  });

  public chainDecl = this.RULE('chainDecl', () => {
    this.CONSUME(T.Chain);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.step);
    this.MANY(() => {
      this.CONSUME(T.Then);
      this.SUBRULE2(this.step);
    });
  });

  /** An action, then its options and modifiers in any order (the checker says which fit). */
  public step = this.RULE('step', () => {
    this.SUBRULE(this.action);
    this.MANY(() => this.SUBRULE(this.stepOption));
  });

  public action = this.RULE('action', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Pause);
          this.CONSUME(T.NumberLiteral);
        },
      },
      { ALT: () => this.CONSUME(T.Accept) },
      {
        ALT: () => {
          this.CONSUME(T.Reject);
          this.CONSUME(T.StringLiteral);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Disconnect);
          this.CONSUME2(T.StringLiteral);
        },
      },
      { ALT: () => this.CONSUME(T.Junk) },
      {
        ALT: () => {
          this.CONSUME(T.Postgrey);
          this.SUBRULE(this.serverAddress);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Policy);
          this.SUBRULE2(this.serverAddress);
        },
      },
      { ALT: () => this.CONSUME(T.Greylist) },
    ]);
  });

  /** `unix:/path`, `tcp:host:port`, or the same as a quoted string. */
  public serverAddress = this.RULE('serverAddress', () => {
    this.OR([{ ALT: () => this.CONSUME(T.SocketAddress) }, { ALT: () => this.CONSUME(T.StringLiteral) }]);
  });

  public stepOption = this.RULE('stepOption', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.whenClause) },
      { ALT: () => this.SUBRULE(this.atClause) },
      { ALT: () => this.SUBRULE(this.onErrorClause) },
      { ALT: () => this.SUBRULE(this.policyOption) },
      { ALT: () => this.SUBRULE(this.greylistOption) },
    ]);
  });

  public whenClause = this.RULE('whenClause', () => {
    this.CONSUME(T.When);
    this.SUBRULE(this.orExpr);
  });

  public atClause = this.RULE('atClause', () => {
    this.CONSUME(T.At);
    this.SUBRULE(this.phaseName);
  });

  public onErrorClause = this.RULE('onErrorClause', () => {
    this.CONSUME(T.OnError);
    this.OR([{ ALT: () => this.CONSUME(T.Tempfail) }, { ALT: () => this.CONSUME(T.Proceed) }]);
  });

  /** Options of `postgrey` and `policy`. */
  public policyOption = this.RULE('policyOption', () => {
    this.CONSUME(T.Timeout);
    this.CONSUME(T.NumberLiteral);
  });

  /** Options of `greylist`. */
  public greylistOption = this.RULE('greylistOption', () => {
    this.OR([
      {
        ALT: () => {
          this.OR2([
            { ALT: () => this.CONSUME(T.Delay) },
            { ALT: () => this.CONSUME(T.MaxAge) },
            { ALT: () => this.CONSUME(T.RetryWindow) },
            { ALT: () => this.CONSUME(T.AutoWhitelist) },
            { ALT: () => this.CONSUME(T.Ipv4Prefix) },
            { ALT: () => this.CONSUME(T.Ipv6Prefix) },
          ]);
          this.CONSUME(T.NumberLiteral);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Store);
          this.CONSUME(T.StringLiteral);
        },
      },
      { ALT: () => this.CONSUME(T.Header) },
    ]);
  });

  public phaseName = this.RULE('phaseName', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Connect) },
      { ALT: () => this.CONSUME(T.Helo) },
      { ALT: () => this.CONSUME(T.MailFrom) },
      { ALT: () => this.CONSUME(T.RcptTo) },
      { ALT: () => this.CONSUME(T.Data) },
      { ALT: () => this.CONSUME(T.Commit) },
    ]);
  });

  /** Precedence: not > and > or. */
  public orExpr = this.RULE('orExpr', () => {
    this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.Or);
      this.SUBRULE2(this.andExpr);
    });
  });

  public andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(T.And);
      this.SUBRULE2(this.notExpr);
    });
  });

  public notExpr = this.RULE('notExpr', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.primary) },
    ]);
  });

  public primary = this.RULE('primary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.orExpr);
          this.CONSUME(T.RParen);
        },
      },
      { ALT: () => this.SUBRULE(this.test) },
    ]);
  });

  /** `FIELD`, `FIELD ~ /RE/` or `FIELD in LIST`; which fit which field is the checker's call. */
  public test = this.RULE('test', () => {
    this.SUBRULE(this.field);
    this.OPTION(() => {
      this.OR([
        {
          ALT: () => {
            this.CONSUME(T.Tilde);
            this.CONSUME(T.RegexLiteral);
          },
        },
        {
          ALT: () => {
            this.CONSUME(T.In);
            this.SUBRULE(this.listRef);
          },
        },
      ]);
    });
  });

  public field = this.RULE('field', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Src) },
      { ALT: () => this.CONSUME(T.Rdns) },
      { ALT: () => this.CONSUME(T.Fcrdns) },
      { ALT: () => this.CONSUME(T.Helo) },
      { ALT: () => this.CONSUME(T.MailFrom) },
      { ALT: () => this.CONSUME(T.RcptTo) },
    ]);
  });

  public listRef = this.RULE('listRef', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Identifier) }, { ALT: () => this.SUBRULE(this.listBody) }]);
  });
}

/** The one instance; `parse` resets it through `parser.input`. */
export const parser = new RulesParser();

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
      return 'an address (unix:/path or tcp:host:port)';
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

function decode(message: string): Expectation {
  try {
    const parsed: unknown = JSON.parse(message);
    if (parsed !== null && typeof parsed === 'object' && 'expected' in parsed && Array.isArray(parsed.expected)) {
      return { expected: parsed.expected.filter((x: unknown): x is string => typeof x === 'string') };
    }
  } catch {
    // not one of ours: fall through
  }
  return { expected: [] };
}

/** Keyword spellings among the expected token names. */
function expectedWords(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    const label = TOKEN_BY_NAME.get(n)?.LABEL;
    if (label !== undefined && label.startsWith("'") && /^'[a-z-]+'$/.test(label)) out.push(label.slice(1, -1));
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

/**
 * chevrotain cannot re-synchronise inside a chain (its step loop ends the
 * rule), so a stray word after a step would hide every later error in that
 * chain. After such an error, drop the stray tokens up to the next `then` and
 * parse again; errors past that point are added. Bounded, and each round
 * removes at least one token, so it terminates.
 */
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
      const { expected } = decode(e.message);
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
  } else if (KEYWORD_TYPES.has(token.tokenType) && expected.includes(T.Identifier.name)) {
    hint = `"${word}" is a reserved word; choose another name`;
  }
  return diagnostic('E004', span, `expected ${oxford(expected.map(describeToken))}, found ${found}`, hint === undefined ? {} : { hint });
}
