/**
 * Public face of the rules pipeline: lex → parse → to-ast → check → compile.
 * Pure except for `readFile`, which is injected (tests use an in-memory map).
 *
 * STUB: signatures are the contract; the DSL work fills in the bodies.
 */
import type { CompiledRules, SourceSpan } from './plan.js';

export type Severity = 'error' | 'warning';

/** One problem in a rules file, located and coded (`E012`, `W003`, ...). */
export interface Diagnostic {
  readonly severity: Severity;
  readonly code: string;
  readonly message: string;
  readonly span: SourceSpan;
  /** e.g. `did you mean "mail-from"?` */
  readonly hint?: string;
}

export interface CompileOptions {
  /** Reads a file as UTF-8; throws a NodeJS.ErrnoException on failure. Default: fs.readFileSync. */
  readonly readFile?: (path: string) => string;
  /**
   * True when the running filter registered data-line at startup. When false and the
   * rules need message lines, compiling still succeeds but adds a diagnostic saying the
   * rule needs an smtpd restart (hot reload). Default: true.
   */
  readonly dataLineRegistered?: boolean;
}

export type CompileResult =
  | { readonly ok: true; readonly rules: CompiledRules; readonly warnings: readonly Diagnostic[] }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

/** Compile a rules file from disk (list files are read relative to it). */
export function compileRulesFile(path: string, options?: CompileOptions): CompileResult {
  void path;
  void options;
  throw new Error('compileRulesFile: not implemented yet');
}

/** Compile rules given as text; `file` names it in diagnostics. */
export function compileRulesSource(source: string, file: string, options?: CompileOptions): CompileResult {
  void source;
  void file;
  void options;
  throw new Error('compileRulesSource: not implemented yet');
}

/**
 * `FILE:LINE:COL: error[CODE]: message`, then the source line and a caret under
 * the span, then `  = hint: ...` when there is one. `source` returns a file's
 * text (or undefined when it cannot be shown).
 */
export function formatDiagnostic(diagnostic: Diagnostic, source: (file: string) => string | undefined): string {
  void source;
  return `${diagnostic.span.file}:${diagnostic.span.line}:${diagnostic.span.column}: ${diagnostic.severity}[${diagnostic.code}]: ${diagnostic.message}`;
}
