/**
 * A place in a rules file, 1-based, as shown to people (`file:line:col`).
 * Columns count UTF-16 code units; `endLine`/`endColumn` is the position just
 * after the last character (exclusive), so an empty span has end === start.
 */
export interface SourceSpan {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
}
