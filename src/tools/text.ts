/**
 * Text helpers shared by the `test` and `replay` reports: how steps,
 * decisions and values are shown to a person. Pure.
 */
import { basename } from 'node:path';
import type { CompiledStep, SourceSpan } from '../dsl/plan.js';
import { formatDuration } from '../dsl/values.js';
import { replyOf, type FilterDecision } from '../model/decision.js';
import { describeAction } from '../reload/diff.js';

/** `reject 550 5.7.1 go away`, `proceed`, `rewrite other.example`. */
export function answerText(decision: FilterDecision): string {
  const said = replyOf(decision);
  return said === null ? decision.type : `${decision.type} ${printable(said)}`;
}

/** `rules.rules:7`: the rule's place, with the file's base name (stable wherever the tool runs). */
export function ruleRef(step: CompiledStep): string {
  return `${basename(step.span.file)}:${step.span.line}`;
}

/** Control characters and the like, visible; everything else as is. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text;
}

export function duration(ms: number): string {
  return formatDuration(ms);
}

/**
 * The step as written in the rules file, on one line (`reject "550 ..." when
 * helo ~ /x/`), or rebuilt from the compiled step when the text is missing.
 */
export function stepText(step: CompiledStep, sources: ReadonlyMap<string, string>): string {
  const text = sources.get(step.span.file);
  const written = text === undefined ? null : sliceSpan(text, step.span);
  if (written !== null && written.trim() !== '') return written.replace(/\s+/g, ' ').trim();
  const when = step.whenText === null ? '' : ` when ${step.whenText}`;
  return `${step.dryRun === true ? 'dry-run ' : ''}${describeAction(step.action)}${when}`;
}

/** The text of a span (1-based lines and columns, exclusive end); null when it does not fit the text. */
export function sliceSpan(text: string, span: SourceSpan): string | null {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) starts.push(i + 1);
  }
  const lineStart = starts[span.line - 1];
  const endLineStart = starts[span.endLine - 1];
  if (lineStart === undefined || endLineStart === undefined) return null;
  const from = lineStart + span.column - 1;
  const to = endLineStart + span.endColumn - 1;
  if (from < 0 || to > text.length || to < from) return null;
  return text.slice(from, to);
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      if (i < row.length - 1) widths[i] = Math.max(widths[i] ?? 0, [...cell].length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i < row.length - 1 ? cell + ' '.repeat((widths[i] ?? 0) - [...cell].length) : cell))
      .join('  ')
      .trimEnd(),
  );
}
