/**
 * Text → tokens, with every lexing problem as a located diagnostic. Lexing
 * never stops at the first problem: unknown characters are skipped, and an
 * unterminated string or regex is reported once and then handed to the parser
 * as if it had been closed at the end of its line, so parsing can go on.
 */
import { Lexer } from './chevrotain.js';
import type { IToken, TokenType } from 'chevrotain';
import { diagnostic, type Diagnostic } from './diagnostics.js';
import type { SourceText } from './source.js';
import {
  lexerDefinition,
  RegexLiteral,
  SingleQuotedString,
  StringLiteral,
  UnterminatedRegex,
  UnterminatedString,
} from './tokens.js';

const lexer = new Lexer(lexerDefinition, {
  positionTracking: 'full',
  ensureOptimizations: false,
  lineTerminatorsPattern: /\r\n?|\n/g,
  lineTerminatorCharacters: ['\n', '\r'],
});

export interface LexResult {
  readonly tokens: IToken[];
  readonly diagnostics: Diagnostic[];
}

/** Hints for characters people bring from other languages. */
const CHARACTER_HINTS: Readonly<Record<string, string>> = {
  ';': 'steps are separated by `then`, not `;`',
  "'": 'strings use double quotes: "..."',
  '!': 'negate a condition with `not`',
  '&': 'combine conditions with `and`',
  '|': 'combine conditions with `or`',
  ',': 'commas separate items inside `{ ... }` only; steps are separated by `then`',
  '[': 'write IPv6 addresses without brackets inside lists, and policy servers as tcp:[::1]:10023',
  '`': 'strings use double quotes: "..."',
};

function showChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0) || code === 0x2028 || code === 0x2029 || code === 0xfeff) {
    return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return `"${c}"`;
}

/** Re-type a recovered token so the parser sees the well-formed kind. */
function retype(token: IToken, type: TokenType): IToken {
  return { ...token, tokenType: type, tokenTypeIdx: type.tokenTypeIdx ?? token.tokenTypeIdx };
}

export function lex(source: SourceText): LexResult {
  const result = lexer.tokenize(source.text);
  const diagnostics: Diagnostic[] = [];
  for (const e of result.errors) {
    const ch = source.text.slice(e.offset, e.offset + 1);
    // A `}` with no `{` open makes chevrotain complain about popping the last mode.
    if (ch === '}' && /pop/i.test(e.message)) continue;
    const span = source.span(e.offset, e.offset + Math.max(1, e.length));
    const shown = e.length > 1 ? `unexpected characters starting with ${showChar(ch)}` : `unexpected character ${showChar(ch)}`;
    diagnostics.push(diagnostic('E001', span, shown, { hint: CHARACTER_HINTS[ch] }));
  }
  const tokens = result.tokens.map((t) => {
    if (t.tokenType === UnterminatedString) {
      diagnostics.push(
        diagnostic('E002', source.span(t.startOffset, t.startOffset + t.image.length), 'unterminated string: the closing `"` is missing', {
          hint: 'strings end on the line where they start',
        }),
      );
      return retype(t, StringLiteral);
    }
    if (t.tokenType === SingleQuotedString) {
      diagnostics.push(
        diagnostic('E001', source.span(t.startOffset, t.startOffset + t.image.length), 'single quotes do not make a string', {
          hint: 'strings use double quotes: "..."',
        }),
      );
      // Same length, so spans computed from the image stay right.
      return { ...retype(t, StringLiteral), image: `"${t.image.slice(1, -1).replace(/["\\]/g, "'")}"` };
    }
    if (t.tokenType === UnterminatedRegex) {
      diagnostics.push(
        diagnostic('E003', source.span(t.startOffset, t.startOffset + t.image.length), 'unterminated regex: the closing `/` is missing', {
          hint: 'a regex ends on the line where it starts; write a slash inside it as \\/',
        }),
      );
      return retype(t, RegexLiteral);
    }
    return t;
  });
  return { tokens, diagnostics };
}
