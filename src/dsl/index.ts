/**
 * Public face of the rules pipeline: lex → parse → to-ast → resolve lists →
 * check → compile. Pure except for `readFile`, which is injected (tests use an
 * in-memory map). User mistakes come back as diagnostics; only bugs throw.
 *
 * Syntax errors (lexing, parsing) stop the pipeline before the semantic
 * checks, so a broken file gets syntax errors only; a file that parses gets
 * every semantic problem at once.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { check } from './checker.js';
import { compile } from './compiler.js';
import { formatDiagnostic, isError, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { lex } from './lexer.js';
import { errnoText, resolveLists } from './lists.js';
import { parse } from './parse.js';
import type { CompiledRules } from './plan.js';
import { SourceText } from './source.js';
import { toAst } from './to-ast.js';

export type { Diagnostic, RelatedSpan, Severity } from './diagnostics.js';
export { formatDiagnostic } from './diagnostics.js';
export { CODES, type Code } from './codes.js';

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

/**
 * Both outcomes also carry `files` (the rules file and every list file it names,
 * absolute, to watch even after a failed reload) and `sources` (the texts read,
 * by the file name diagnostics use, for formatDiagnostic).
 */
export type CompileResult =
  | {
      readonly ok: true;
      readonly rules: CompiledRules;
      readonly warnings: readonly Diagnostic[];
      readonly files: readonly string[];
      readonly sources: ReadonlyMap<string, string>;
    }
  | {
      readonly ok: false;
      readonly diagnostics: readonly Diagnostic[];
      readonly files: readonly string[];
      readonly sources: ReadonlyMap<string, string>;
    };

const defaultReadFile = (path: string): string => readFileSync(path, 'utf8');

/** Compile a rules file from disk (list files are read relative to it). */
export function compileRulesFile(path: string, options: CompileOptions = {}): CompileResult {
  const readFile = options.readFile ?? defaultReadFile;
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    const span = { file: path, line: 1, column: 1, endLine: 1, endColumn: 1 };
    const d: Diagnostic = { severity: 'error', code: 'E008', message: `cannot read rules file "${path}": ${errnoText(e)}`, span };
    return { ok: false, diagnostics: [d], files: [resolve(path)], sources: new Map() };
  }
  return compileRulesSource(text, path, options);
}

/** Compile rules given as text; `file` names it in diagnostics and anchors relative list paths. */
export function compileRulesSource(sourceText: string, file: string, options: CompileOptions = {}): CompileResult {
  const readFile = options.readFile ?? defaultReadFile;
  // A byte-order mark is invisible in editors; drop it rather than call it an unexpected character.
  const text = sourceText.startsWith('\uFEFF') ? sourceText.slice(1) : sourceText;
  const source = new SourceText(file, text);
  const sources = new Map<string, string>([[file, text]]);
  const files = [resolve(file)];
  const fail = (diagnostics: readonly Diagnostic[]): CompileResult => ({ ok: false, diagnostics: sortDiagnostics(diagnostics), files, sources });

  const lexed = lex(source);
  const parsed = parse(lexed.tokens, source);
  const syntax = [...lexed.diagnostics, ...parsed.diagnostics];
  if (syntax.some(isError)) return fail(syntax);

  // Problems inside literals (string escapes) leave the tree whole: keep checking.
  const built = toAst(parsed.cst, source);

  const lists = resolveLists(built.ast, readFile);
  for (const f of lists.files) {
    const abs = resolve(f);
    if (!files.includes(abs)) files.push(abs);
  }
  for (const [name, t] of lists.sources) sources.set(name, t);

  const semantic = [
    ...built.diagnostics,
    ...lists.diagnostics,
    ...check({ ast: built.ast, lists, text, dataLineRegistered: options.dataLineRegistered ?? true }),
  ];
  if (semantic.some(isError)) return fail(semantic);

  const rules = compile({ ast: built.ast, resolved: lists.byDecl, files });
  return { ok: true, rules, warnings: sortDiagnostics(semantic), files, sources };
}

/** Every diagnostic of a result, formatted and separated by blank lines (what `check` prints). */
export function formatCompileResult(result: CompileResult): string {
  const diagnostics = result.ok ? result.warnings : result.diagnostics;
  return diagnostics.map((d) => formatDiagnostic(d, (f) => result.sources.get(f))).join('\n\n');
}
