/**
 * Text helpers shared by the `test` and `replay` reports: how decisions and
 * values are shown to a person (steps: model/describe.ts). Pure.
 */
import { formatDuration } from '../support/units.js';
import { replyOf, type FilterDecision } from '../model/decision.js';

/** `reject 550 5.7.1 go away`, `proceed`, `rewrite other.example`. */
export function answerText(decision: FilterDecision): string {
  const said = replyOf(decision);
  return said === null ? decision.type : `${decision.type} ${printable(said)}`;
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
