/**
 * Token types of the rules language. Two lexer modes: `main` for everything,
 * and `list` inside `{ ... }`, where items such as `192.0.2.0/24`, `::1` or
 * `*.example.com` are single tokens whose meaning the checker decides.
 *
 * Every token has a LABEL, which is what grammar/ and error messages show.
 */
import { createToken, Lexer } from './chevrotain.js';
import type { TokenType } from 'chevrotain';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\f\v]+/, group: Lexer.SKIPPED, line_breaks: true });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\r\n]*/, group: Lexer.SKIPPED });

/** Names of lists and chains. Hyphens allowed, like the keywords (`mail-from`). */
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_-]*/, label: 'NAME' });

/** Words in this table are reserved; each one also knows the other keywords' spelling for did-you-mean. */
const keywordTokens: TokenType[] = [];
function keyword(word: string, name: string): TokenType {
  const t = createToken({ name, pattern: new RegExp(word.replace(/-/g, '\\-')), longer_alt: Identifier, label: `'${word}'` });
  keywordTokens.push(t);
  return t;
}

export const List = keyword('list', 'List');
export const File = keyword('file', 'File');
export const Chain = keyword('chain', 'Chain');
export const Then = keyword('then', 'Then');
export const When = keyword('when', 'When');
export const At = keyword('at', 'At');
export const OnError = keyword('on-error', 'OnError');
/** `dry-run STEP`: evaluated and logged as "would have", never acted on. */
export const DryRun = keyword('dry-run', 'DryRun');
export const Tempfail = keyword('tempfail', 'Tempfail');
export const Proceed = keyword('proceed', 'Proceed');
// actions
export const Pause = keyword('pause', 'Pause');
export const Accept = keyword('accept', 'Accept');
export const Reject = keyword('reject', 'Reject');
export const Disconnect = keyword('disconnect', 'Disconnect');
export const Junk = keyword('junk', 'Junk');
export const Postgrey = keyword('postgrey', 'Postgrey');
export const Policy = keyword('policy', 'Policy');
export const Greylist = keyword('greylist', 'Greylist');
// action options
export const Timeout = keyword('timeout', 'Timeout');
export const Delay = keyword('delay', 'Delay');
export const MaxAge = keyword('max-age', 'MaxAge');
export const RetryWindow = keyword('retry-window', 'RetryWindow');
export const AutoWhitelist = keyword('auto-whitelist', 'AutoWhitelist');
export const Ipv4Prefix = keyword('ipv4-prefix', 'Ipv4Prefix');
export const Ipv6Prefix = keyword('ipv6-prefix', 'Ipv6Prefix');
export const Store = keyword('store', 'Store');
export const Header = keyword('header', 'Header');
// pause options: early talkers (pre-greeting traffic) and pay-once
export const Pregreet = keyword('pregreet', 'Pregreet');
export const Log = keyword('log', 'Log');
export const PayOnce = keyword('pay-once', 'PayOnce');
// conditions
export const Not = keyword('not', 'Not');
export const And = keyword('and', 'And');
export const Or = keyword('or', 'Or');
export const In = keyword('in', 'In');
export const Src = keyword('src', 'Src');
export const Rdns = keyword('rdns', 'Rdns');
export const Fcrdns = keyword('fcrdns', 'Fcrdns');
export const Helo = keyword('helo', 'Helo');
export const MailFrom = keyword('mail-from', 'MailFrom');
export const RcptTo = keyword('rcpt-to', 'RcptTo');
// phases (helo, mail-from and rcpt-to double as fields)
export const Connect = keyword('connect', 'Connect');
export const Data = keyword('data', 'Data');
export const Commit = keyword('commit', 'Commit');

export const KEYWORD_TOKENS: readonly TokenType[] = keywordTokens;
/** The spelling of every reserved word, for did-you-mean. */
export const KEYWORDS: readonly string[] = keywordTokens.map((t) => (t.LABEL ?? '').slice(1, -1));

export const LBrace = createToken({ name: 'LBrace', pattern: /\{/, push_mode: 'list', label: "'{'" });
export const RBrace = createToken({ name: 'RBrace', pattern: /\}/, pop_mode: true, label: "'}'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Tilde = createToken({ name: 'Tilde', pattern: /~/, label: "'~'" });

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

/** Durations (`3s`, `500ms`) and counts (`24`) share one token; the checker reads them. */
export const NumberLiteral = createToken({ name: 'NumberLiteral', pattern: /[0-9][A-Za-z0-9_.]*/, label: 'NUMBER' });

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
      StringLiteral,
      UnterminatedString,
      SingleQuotedString,
      RegexLiteral,
      UnterminatedRegex,
      SocketAddress,
      NumberLiteral,
      ...keywordTokens,
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
  StringLiteral,
  UnterminatedString,
  SingleQuotedString,
  RegexLiteral,
  UnterminatedRegex,
  SocketAddress,
  NumberLiteral,
  ...keywordTokens,
  Identifier,
  ListItem,
  RParenInList,
  ChainInList,
  ListInList,
  ThenInList,
  WhenInList,
];
