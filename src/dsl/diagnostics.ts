/**
 * The one shape every problem in a rules file takes, how it is printed for
 * people (`FILE:LINE:COL: error[CODE]: message`, code frame, caret, hint),
 * and the did-you-mean helper used for keywords, fields and list names.
 */
import type { SourceSpan } from '../model/span.js';
import { CODES, type Code } from './codes.js';
import { lineOf } from './source.js';
import { closest } from '../support/closest.js';

export type Severity = 'error' | 'warning';

/** A second place that explains a diagnostic ("first defined here"). */
export interface RelatedSpan {
  readonly span: SourceSpan;
  readonly message: string;
}

/** One problem in a rules file, located and coded (`E012`, `W003`, ...). */
export interface Diagnostic {
  readonly severity: Severity;
  readonly code: string;
  readonly message: string;
  readonly span: SourceSpan;
  /** e.g. `did you mean "mail-from"?` */
  readonly hint?: string;
  /** Other places worth showing, e.g. the first definition of a duplicate name. */
  readonly related?: readonly RelatedSpan[];
}

export function diagnostic(
  code: Code,
  span: SourceSpan,
  message: string,
  extra: { hint?: string | undefined; related?: readonly RelatedSpan[] } = {},
): Diagnostic {
  const d: { -readonly [K in keyof Diagnostic]: Diagnostic[K] } = { severity: CODES[code].severity, code, message, span };
  if (extra.hint !== undefined) d.hint = extra.hint;
  if (extra.related !== undefined && extra.related.length > 0) d.related = extra.related;
  return d;
}

export const isError = (d: Diagnostic): boolean => d.severity === 'error';

/** Stable order for reports: by file, line, column, then code. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      (a.span.file < b.span.file ? -1 : a.span.file > b.span.file ? 1 : 0) ||
      a.span.line - b.span.line ||
      a.span.column - b.span.column ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
  );
}

function location(span: SourceSpan): string {
  return `${span.file}:${span.line}:${span.column}`;
}

/** The source line and a caret line under the span; tabs are kept so the caret lines up. */
function codeFrame(span: SourceSpan, text: string | undefined, gutter: number): string[] {
  if (text === undefined) return [];
  const line = lineOf(text, span.line);
  if (line === undefined) return [];
  const start = Math.max(1, Math.min(span.column, line.length + 1));
  const end = span.endLine === span.line ? Math.max(start + 1, Math.min(span.endColumn, line.length + 1)) : line.length + 1;
  const pad = line.slice(0, start - 1).replace(/[^\t]/g, ' ');
  const carets = '^'.repeat(Math.max(1, end - start));
  const num = String(span.line).padStart(gutter);
  const blank = ' '.repeat(gutter);
  return [`${num} | ${line}`.trimEnd(), `${blank} | ${pad}${carets}`];
}

/**
 * `FILE:LINE:COL: error[CODE]: message`, then the source line and a caret under
 * the span, then related places and `  = hint: ...` when there is one.
 * `source` returns a file's text (or undefined when it cannot be shown).
 */
export function formatDiagnostic(d: Diagnostic, source: (file: string) => string | undefined): string {
  const spans = [d.span, ...(d.related ?? []).map((r) => r.span)];
  const gutter = Math.max(...spans.map((s) => String(s.line).length));
  const out = [`${location(d.span)}: ${d.severity}[${d.code}]: ${d.message}`];
  out.push(...codeFrame(d.span, source(d.span.file), gutter));
  for (const r of d.related ?? []) {
    out.push(`${' '.repeat(gutter)} = note: ${location(r.span)}: ${r.message}`);
    out.push(...codeFrame(r.span, source(r.span.file), gutter));
  }
  if (d.hint !== undefined) out.push(`${' '.repeat(gutter)} = hint: ${d.hint}`);
  return out.join('\n');
}

export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const c = closest(word, candidates);
  return c === null ? undefined : `did you mean "${c}"?`;
}
