/**
 * Token types of the rules language. Two lexer modes: `main` for everything,
 * and `list` inside `{ ... }`, where items such as `192.0.2.0/24`, `::1` or
 * `*.example.com` are single tokens whose meaning the checker decides.
 *
 * Every token has a LABEL, which is what grammar/ and error messages show.
 */
import { createToken, Lexer } from './chevrotain.js';
import type { TokenType } from 'chevrotain';
import { FIELDS, type FieldName } from '../conditions/fields.js';
import { RULE_PHASES, type RulePhase } from '../model/phases.js';
import { STEPS, type StepKeyword } from '../steps/catalogue.js';
import { SHAPE_OF, type StepDefinition, type ValueShape } from '../steps/spec.js';
import { STEP_WORDS, type ChoiceWord, type OptionWord } from '../steps/words.js';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\f\v]+/, group: Lexer.SKIPPED, line_breaks: true });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\r\n]*/, group: Lexer.SKIPPED });

/** Names of lists and chains. Hyphens allowed, like the keywords (`mail-from`). */
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_-]*/, label: 'NAME' });

/**
 * The reserved words, in the order did-you-mean breaks ties by (pinned by
 * test/fixtures/plans/keywords.json): the language's own words, then what the
 * catalogues name — step keywords, the steps' option and choice words, the
 * connectives, the condition fields — and last the phases no field spells. A new
 * step, option or field reserves its word here without a line in this file.
 */
const LANGUAGE_WORDS = ['list', 'file', 'chain', 'then', 'when', 'at', 'on-error', 'dry-run', 'tempfail', 'proceed'] as const;
const CONNECTIVES = ['not', 'and', 'or', 'in'] as const;

/** A word the lexer reserves; the named exports below are typed by it, so a misspelt one does not compile. */
export type ReservedWord =
  | (typeof LANGUAGE_WORDS)[number]
  | StepKeyword
  | OptionWord
  | ChoiceWord
  | (typeof CONNECTIVES)[number]
  | FieldName
  | RulePhase;

const RESERVED_WORDS: readonly ReservedWord[] = [
  ...new Set<ReservedWord>([
    ...LANGUAGE_WORDS,
    ...STEPS.map((d) => d.keyword),
    ...STEP_WORDS.map(([w]) => w),
    ...CONNECTIVES,
    ...FIELDS.map((f) => f.name),
    ...RULE_PHASES,
  ]),
];

/**
 * Token categories: what the grammar's alternatives take (plan §3). Each step
 * word is in STEP and in the one STEP_* category of its argument's shape, each
 * option word in OPTION and the one OPTION_* category of its value's shape; a
 * word with several roles is one token in several categories (`disconnect`:
 * STEP, STEP_STRING, CHOICE_REPLY; `helo`: FIELD, PHASE). The parser consumes
 * the shape categories, FIELD and PHASE; to-ast reads STEP and OPTION.
 */
function category(name: string): TokenType {
  return createToken({ name, pattern: Lexer.NA, label: name });
}
export const CATEGORIES = {
  STEP: category('STEP'),
  STEP_NONE: category('STEP_NONE'),
  STEP_NUMBER: category('STEP_NUMBER'),
  STEP_STRING: category('STEP_STRING'),
  STEP_ADDRESS: category('STEP_ADDRESS'),
  STEP_POINTS: category('STEP_POINTS'),
  OPTION: category('OPTION'),
  OPTION_NUMBER: category('OPTION_NUMBER'),
  OPTION_STRING: category('OPTION_STRING'),
  OPTION_FLAG: category('OPTION_FLAG'),
  OPTION_CHOICE: category('OPTION_CHOICE'),
  CHOICE_REPLY: category('CHOICE_REPLY'),
  CHOICE_WORD: category('CHOICE_WORD'),
  FIELD: category('FIELD'),
  PHASE: category('PHASE'),
} as const;
export type CategoryName = keyof typeof CATEGORIES;

/**
 * The grammar alternative for each shape of a step's argument (null: none) and
 * of an option's value. Null marks a shape with no alternative yet: a
 * definition using it is a catalogue mistake, refused when this module loads
 * rather than lexed into a grammar that cannot read it.
 */
const STEP_SHAPE: { readonly [S in ValueShape]: CategoryName | null } = {
  none: 'STEP_NONE',
  number: 'STEP_NUMBER',
  string: 'STEP_STRING',
  address: 'STEP_ADDRESS',
  choice: null,
  points: 'STEP_POINTS',
};
const OPTION_SHAPE: { readonly [S in ValueShape]: CategoryName | null } = {
  none: 'OPTION_FLAG',
  number: 'OPTION_NUMBER',
  string: 'OPTION_STRING',
  address: null,
  choice: 'OPTION_CHOICE',
  points: null,
};

/** The categories of every word, read from the catalogues. */
function categoriesOfWords(): ReadonlyMap<string, readonly CategoryName[]> {
  const of = new Map<string, CategoryName[]>();
  const add = (word: string, c: CategoryName): void => {
    const list = of.get(word) ?? [];
    if (!list.includes(c)) list.push(c);
    of.set(word, list);
  };
  const shaped = (table: typeof STEP_SHAPE, shape: ValueShape, where: string): CategoryName => {
    const c = table[shape];
    if (c === null) throw new Error(`${where}: the grammar has no alternative for a ${shape} value`);
    return c;
  };
  const optionShape = new Map<string, ValueShape>();
  for (const d of STEPS) {
    const step: StepDefinition = d;
    add(step.keyword, 'STEP');
    add(step.keyword, step.argument === null ? 'STEP_NONE' : shaped(STEP_SHAPE, SHAPE_OF[step.argument.type], `${step.keyword}'s argument`));
    for (const [name, spec] of Object.entries(step.options)) {
      const shape = SHAPE_OF[spec.type];
      // One token per word: `timeout` is one shape whichever step takes it.
      const seen = optionShape.get(name);
      if (seen !== undefined && seen !== shape) throw new Error(`option ${name}: ${seen} for one step, ${shape} for ${step.keyword}`);
      optionShape.set(name, shape);
      add(name, 'OPTION');
      add(name, shaped(OPTION_SHAPE, shape, `${step.keyword} ${name}`));
      for (const choice of spec.choices ?? []) add(choice.word, choice.reply ? 'CHOICE_REPLY' : 'CHOICE_WORD');
    }
  }
  for (const f of FIELDS) add(f.name, 'FIELD');
  for (const p of RULE_PHASES) add(p, 'PHASE');
  return of;
}

/** Categories in CATEGORIES order, whichever definition named them first. */
function inTableOrder(names: readonly CategoryName[]): TokenType[] {
  const wanted = new Set<string>(names);
  return Object.entries(CATEGORIES)
    .filter(([name]) => wanted.has(name))
    .map(([, t]) => t);
}

/** `max-age` → `MaxAge`: the token names the lexer tests and the parser's CST use. */
function tokenName(word: string): string {
  return word
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * One token per reserved word, in reserved-word order. Each is a whole word:
 * with more name characters after it, it is a name (longer_alt Identifier).
 * A word that another starts with (`tls` before `tls-version`) is not told
 * about the longer keywords: the lexer tries keywords longest first
 * (LEXING_ORDER), so a longer one has matched before its prefix is tried. (As
 * longer alternatives they would not do: chevrotain takes the first longer
 * alternative that matches, so `tls-version-x` would lex as `tls-version`
 * and a stray `-x`.)
 */
function reservedTokens(): ReadonlyMap<ReservedWord, TokenType> {
  const categories = categoriesOfWords();
  const created = new Map<ReservedWord, TokenType>();
  for (const word of RESERVED_WORDS) {
    created.set(
      word,
      createToken({
        name: tokenName(word),
        pattern: new RegExp(word.replace(/-/g, '\\-')),
        longer_alt: Identifier,
        categories: inTableOrder(categories.get(word) ?? []),
        label: `'${word}'`,
      }),
    );
  }
  return created;
}

function tokenWord(t: TokenType): string {
  return (t.LABEL ?? '').slice(1, -1);
}

const RESERVED = reservedTokens();

function reserved(word: ReservedWord): TokenType {
  const t = RESERVED.get(word);
  if (t === undefined) throw new Error(`${word} is not a reserved word`);
  return t;
}

export const List = reserved('list');
export const File = reserved('file');
export const Chain = reserved('chain');
export const Then = reserved('then');
export const When = reserved('when');
export const At = reserved('at');
export const OnError = reserved('on-error');
/** `dry-run STEP`: evaluated and logged as "would have", never acted on. */
export const DryRun = reserved('dry-run');
export const Tempfail = reserved('tempfail');
export const Proceed = reserved('proceed');
// Connectives. The step, option and choice words, the fields and the phases
// have no named export: the grammar reads them by category (CATEGORIES), so a
// new step kind or field adds no line here.
export const Not = reserved('not');
export const And = reserved('and');
export const Or = reserved('or');
export const In = reserved('in');

export const KEYWORD_TOKENS: readonly TokenType[] = [...RESERVED.values()];
/** The keywords as the lexer tries them: longest first (stable), so that no word is tried before a longer one it starts. */
const LEXING_ORDER: readonly TokenType[] = [...KEYWORD_TOKENS].sort((a, b) => tokenWord(b).length - tokenWord(a).length);
/** The spelling of every reserved word, for did-you-mean. */
export const KEYWORDS: readonly string[] = KEYWORD_TOKENS.map(tokenWord);
/** The token of a reserved word, null for any other word. */
export function keywordToken(word: string): TokenType | null {
  return RESERVED.get(word as ReservedWord) ?? null;
}

/**
 * The members of each category in their table's order, which is what an
 * expected-list shows: reserved-word order (the step words' is the
 * catalogue's), but the phases in the order sessions reach them, and the
 * fields in FIELDS order (a field that is also a step word, `score` or
 * `spf`, is reserved among the steps).
 */
export const CATEGORY_MEMBERS: ReadonlyMap<TokenType, readonly TokenType[]> = new Map(
  Object.values(CATEGORIES).map((c) => [
    c,
    c === CATEGORIES.PHASE
      ? RULE_PHASES.map(reserved)
      : c === CATEGORIES.FIELD
        ? FIELDS.map((f) => reserved(f.name))
        : KEYWORD_TOKENS.filter((t) => (t.CATEGORIES ?? []).includes(c)),
  ]),
);

export const LBrace = createToken({ name: 'LBrace', pattern: /\{/, push_mode: 'list', label: "'{'" });
export const RBrace = createToken({ name: 'RBrace', pattern: /\}/, pop_mode: true, label: "'}'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Tilde = createToken({ name: 'Tilde', pattern: /~/, label: "'~'" });
/** `>=`, `>`, `<=`, `<`: the compare form of a test (`score >= 2.5`); to-ast reads which. */
export const Compare = createToken({ name: 'Compare', pattern: /[<>]=?/, label: 'COMPARE' });

/** `"..."` on one line; `\"`, `\\`, `\n`, `\r`, `\t`, `\0` escapes are decoded by to-ast. */
export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"(?:[^"\\\r\n]|\\[^\r\n])*"/, label: 'STRING' });
/** A string that runs to the end of the line: reported, then parsed as if closed. */
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"(?:[^"\\\r\n]|\\[^\r\n])*\\?/, label: 'STRING' });

/** `'...'`: reported (strings use double quotes), then parsed as a string. */
export const SingleQuotedString = createToken({ name: 'SingleQuotedString', pattern: /'[^'\r\n]*'/, label: 'STRING' });

/** `/RE/flags` on one line; `\/` writes a slash. */
export const RegexLiteral = createToken({ name: 'RegexLiteral', pattern: /\/(?:[^/\\\r\n]|\\[^\r\n])*\/[A-Za-z]*/, label: 'REGEX' });
export const UnterminatedRegex = createToken({ name: 'UnterminatedRegex', pattern: /\/(?:[^/\\\r\n]|\\[^\r\n])*\\?/, label: 'REGEX' });

/**
 * `unix:/path`, `tcp:host:port` / `tcp:[v6]:port` or Postfix's `inet:host:port`,
 * as one token (quoted strings work too). Any `word:…` is lexed as an address
 * (outside lists nothing else has a colon), so that the checker can say what
 * is wrong with `tpc:…` or `local:…` in one located error with a hint, not
 * three lexer errors about a stray ":".
 */
export const SocketAddress = createToken({ name: 'SocketAddress', pattern: /[A-Za-z][A-Za-z0-9+.-]*:[^\s,{}()"#]*/, label: 'ADDRESS' });

/**
 * Durations (`3s`, `500ms`), counts (`24`) and decimals (`2.5`, `-1.5`, `+3`)
 * share one token; the checker reads them. A sign is part of the number (a
 * score's points, a threshold): nothing else starts with `+` or `-`.
 */
export const NumberLiteral = createToken({ name: 'NumberLiteral', pattern: /[+-]?[0-9][A-Za-z0-9_.]*/, label: 'NUMBER' });

// --- list mode ---------------------------------------------------------------

/** One list item: an address, range, domain or mail address. Its meaning is the checker's business. */
export const ListItem = createToken({ name: 'ListItem', pattern: /[^\s,{}()"#]+/, label: 'ITEM' });

/**
 * Words that cannot be list items but often follow a list someone forgot to
 * close. Inside `{ ... }` they end the list mode, so the parser reports one
 * missing `}` instead of a cascade. They match the main-mode keywords through
 * token categories, so the grammar consumes them as usual.
 */
function listModeExit(base: TokenType, word: string): TokenType {
  return createToken({
    name: `${base.name}InList`,
    pattern: new RegExp(word),
    longer_alt: ListItem,
    pop_mode: true,
    categories: [base],
    label: base.LABEL ?? word,
  });
}
export const ChainInList = listModeExit(Chain, 'chain');
export const ListInList = listModeExit(List, 'list');
export const ThenInList = listModeExit(Then, 'then');
export const WhenInList = listModeExit(When, 'when');
export const RParenInList = createToken({ name: 'RParenInList', pattern: /\)/, pop_mode: true, categories: [RParen], label: "')'" });

export const lexerDefinition = {
  defaultMode: 'main',
  modes: {
    main: [
      WhiteSpace,
      Comment,
      LBrace,
      RBrace,
      LParen,
      RParen,
      Equals,
      Tilde,
      Compare,
      StringLiteral,
      UnterminatedString,
      SingleQuotedString,
      RegexLiteral,
      UnterminatedRegex,
      SocketAddress,
      NumberLiteral,
      ...LEXING_ORDER,
      Identifier,
    ],
    list: [
      WhiteSpace,
      Comment,
      RBrace,
      Comma,
      LBrace,
      StringLiteral,
      UnterminatedString,
      SingleQuotedString,
      RParenInList,
      ChainInList,
      ListInList,
      ThenInList,
      WhenInList,
      ListItem,
    ],
  },
};

/** Every token type the parser may see (the parser's vocabulary). */
export const parserTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  LBrace,
  RBrace,
  LParen,
  RParen,
  Equals,
  Comma,
  Tilde,
  Compare,
  StringLiteral,
  UnterminatedString,
  SingleQuotedString,
  RegexLiteral,
  UnterminatedRegex,
  SocketAddress,
  NumberLiteral,
  ...KEYWORD_TOKENS,
  Identifier,
  ListItem,
  RParenInList,
  ChainInList,
  ListInList,
  ThenInList,
  WhenInList,
  ...Object.values(CATEGORIES),
];
