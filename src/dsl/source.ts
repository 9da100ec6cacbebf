/**
 * Offsets → 1-based line/column for one file. Lines end at `\n`, `\r\n` or
 * `\r`, the same terminators the lexer counts, so spans and code frames agree.
 * Columns count UTF-16 code units, 1-based; a span's end is exclusive.
 */
import type { SourceSpan } from '../model/span.js';

export class SourceText {
  private readonly lineStarts: number[];

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.lineStarts = [0];
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 13 /* \r */) {
        if (text.charCodeAt(i + 1) === 10) i++;
        this.lineStarts.push(i + 1);
      } else if (c === 10 /* \n */) {
        this.lineStarts.push(i + 1);
      }
    }
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }

  /** 1-based line and column of `offset` (clamped into the text). */
  position(offset: number): { line: number; column: number } {
    const o = Math.max(0, Math.min(Number.isFinite(offset) ? offset : this.text.length, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= o) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: o - (this.lineStarts[lo] ?? 0) + 1 };
  }

  /** Span from `start` (inclusive) to `end` (exclusive). */
  span(start: number, end: number): SourceSpan {
    const a = this.position(start);
    const b = this.position(Math.max(start, end));
    return { file: this.file, line: a.line, column: a.column, endLine: b.line, endColumn: b.column };
  }

  /** A zero-width span at the end of the text (where "end of input" errors point). */
  endSpan(): SourceSpan {
    return this.span(this.text.length, this.text.length);
  }
}

/** The text of line `line` (1-based) without its terminator; undefined past the end. */
export function lineOf(text: string, line: number): string | undefined {
  const lines = text.split(/\r\n|\r|\n/);
  return lines[line - 1];
}

/** Span covering both spans (same file assumed). */
export function joinSpans(a: SourceSpan, b: SourceSpan): SourceSpan {
  return { file: a.file, line: a.line, column: a.column, endLine: b.endLine, endColumn: b.endColumn };
}
