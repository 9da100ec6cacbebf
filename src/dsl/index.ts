/**
 * Public face of the rules pipeline: lex → parse → to-ast → resolve lists →
 * check → compile. Pure except for `readFile`, which is injected (tests use an
 * in-memory map). User mistakes come back as diagnostics; only bugs throw.
 *
 * The pipeline is a `Work` (support/work.ts): run straight through at startup
 * and by the commands, in slices by the reloader.
 *
 * Syntax errors (lexing, parsing) stop the pipeline before the semantic
 * checks, so a broken file gets syntax errors only; a file that parses gets
 * every semantic problem at once.
 */
import { resolve } from 'node:path';
import { readRulesFileSync } from '../support/read-file.js';
import { DEFAULT_SLICE_MS, Pacer, runInSlices, runToEnd, type Work } from '../support/work.js';
import { check } from './check/index.js';
import { compile } from './compiler.js';
import { convert } from './convert.js';
import { diagnostic, formatDiagnostic, isError, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { lex } from './lexer.js';
import { readFailure, resolveListsWork, type ReadFile } from './lists.js';
import { parse } from './parse.js';
import type { CompiledRules } from '../model/plan.js';
import { SourceText } from './source.js';
import { CstShapeError, toAst, type ToAstResult } from './to-ast.js';

export type { Diagnostic, RelatedSpan, Severity } from './diagnostics.js';
export { formatDiagnostic } from './diagnostics.js';
export { CODES, type Code } from './codes.js';
export type { ReadFile } from './lists.js';

export interface CompileOptions {
  /**
   * Reads a file as UTF-8 (`role`: the rules file or a list file, which have
   * different size limits); throws a NodeJS.ErrnoException or a FileRefused on
   * failure. Default: readRulesFileSync (support/read-file.ts).
   */
  readonly readFile?: ReadFile;
  /**
   * True when the running filter registered data-line at startup. When false and the
   * rules need message lines, compiling still succeeds but adds a diagnostic saying the
   * rule needs an smtpd restart (hot reload). Default: true.
   */
  readonly dataLineRegistered?: boolean;
}

/** How compileRulesFileAsync paces itself. */
export interface SliceCompileOptions extends CompileOptions {
  /** Monotonic ms (the reloader's clock). */
  readonly now: () => number;
  /** Longest stretch without giving the event loop back. Default DEFAULT_SLICE_MS. */
  readonly sliceMs?: number;
  /** Gives the event loop back (default: setImmediate); tests count or control the pauses. */
  readonly pause?: () => Promise<void>;
  /** Stops the compile at its next pause (a reload pass past its time limit). */
  readonly signal?: AbortSignal;
}

/**
 * Both outcomes also carry `files` (the rules file and every list file it names,
 * absolute, to watch even after a failed reload), `sources` (the texts read, by
 * the file name diagnostics use) and `listFiles` (which of those names are list
 * files: their lines are never shown, see formatCompileDiagnostic).
 */
export type CompileResult =
  | {
      readonly ok: true;
      readonly rules: CompiledRules;
      readonly warnings: readonly Diagnostic[];
      readonly files: readonly string[];
      readonly sources: ReadonlyMap<string, string>;
      readonly listFiles: ReadonlySet<string>;
    }
  | {
      readonly ok: false;
      readonly diagnostics: readonly Diagnostic[];
      readonly files: readonly string[];
      readonly sources: ReadonlyMap<string, string>;
      readonly listFiles: ReadonlySet<string>;
    };

const defaultReadFile: ReadFile = readRulesFileSync;

/** Compile a rules file from disk (list files are read relative to it). */
export function compileRulesFile(path: string, options: CompileOptions = {}): CompileResult {
  return runToEnd(compileFileWork(path, options));
}

/**
 * The same compile, giving the event loop back every `sliceMs` while it works
 * through list items (the reloader's: requests keep being answered while a big
 * list is compiled). Rejects with the signal's reason when aborted.
 */
export function compileRulesFileAsync(path: string, options: SliceCompileOptions): Promise<CompileResult> {
  return runInSlices(compileFileWork(path, options), {
    now: options.now,
    sliceMs: options.sliceMs ?? DEFAULT_SLICE_MS,
    ...(options.pause !== undefined ? { pause: options.pause } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
}

function* compileFileWork(path: string, options: CompileOptions): Work<CompileResult> {
  const readFile = options.readFile ?? defaultReadFile;
  let text: string;
  try {
    text = readFile(path, 'rules');
  } catch (e) {
    const span = { file: path, line: 1, column: 1, endLine: 1, endColumn: 1 };
    return { ok: false, diagnostics: [readFailure(e, 'rules file', path, span, 'E008')], files: [resolve(path)], sources: new Map(), listFiles: new Set() };
  }
  return yield* compileSourceWork(text, path, options);
}

/** Compile rules given as text; `file` names it in diagnostics and anchors relative list paths. */
export function compileRulesSource(sourceText: string, file: string, options: CompileOptions = {}): CompileResult {
  return runToEnd(compileSourceWork(sourceText, file, options));
}

function* compileSourceWork(sourceText: string, file: string, options: CompileOptions): Work<CompileResult> {
  const readFile = options.readFile ?? defaultReadFile;
  // A byte-order mark is invisible in editors; drop it rather than call it an unexpected character.
  const text = sourceText.startsWith('\uFEFF') ? sourceText.slice(1) : sourceText;
  const source = new SourceText(file, text);
  const sources = new Map<string, string>([[file, text]]);
  const files = [resolve(file)];
  const listFiles = new Set<string>();
  const fail = (diagnostics: readonly Diagnostic[]): CompileResult => ({ ok: false, diagnostics: sortDiagnostics(diagnostics), files, sources, listFiles });

  // The rules file is small (MAX_BYTES.rules): lexed and parsed in one go.
  const lexed = lex(source);
  const parsed = parse(lexed.tokens, source);
  const syntax = [...lexed.diagnostics, ...parsed.diagnostics];
  if (syntax.some(isError)) return fail(syntax);

  // Problems inside literals (string escapes) leave the tree whole: keep checking.
  let built: ToAstResult;
  try {
    built = toAst(parsed.cst, source);
  } catch (e) {
    // The parser produced something to-ast cannot read: refuse the file rather than compile it without that piece.
    if (!(e instanceof CstShapeError)) throw e;
    return fail([internalError(e)]);
  }

  // The stage that grows with the lists, and the only one that pauses.
  const lists = yield* resolveListsWork(built.ast, readFile, new Pacer());
  for (const f of lists.files) {
    listFiles.add(f);
    const abs = resolve(f);
    if (!files.includes(abs)) files.push(abs);
  }
  for (const [name, t] of lists.sources) sources.set(name, t);

  // Each step joined to its definition, its values read once.
  const chains = convert(built.ast);
  const checked = check({ ast: built.ast, chains, lists, text, dataLineRegistered: options.dataLineRegistered ?? true, readFile });
  // Key files are watched as list files are (a new key is a reload), but their texts are never sources: they are secrets.
  for (const f of checked.loadedFiles) {
    const abs = resolve(f);
    if (!files.includes(abs)) files.push(abs);
  }
  const semantic = [...built.diagnostics, ...lists.diagnostics, ...checked.diagnostics];
  if (semantic.some(isError) || checked.valid === null) return fail(semantic);

  const rules = compile(checked.valid, files);
  return { ok: true, rules, warnings: sortDiagnostics(semantic), files, sources, listFiles };
}

/** E000: located at the piece, with what went wrong as the hint, for the bug report. */
function internalError(e: CstShapeError): Diagnostic {
  return diagnostic('E000', e.span, 'internal error in the rules compiler (a bug: please report it)', { hint: e.detail });
}

/**
 * One diagnostic of a result as people read it. Code frames come from the rules
 * file only: a list file's lines never reach the output or the log (a list path
 * can name a file with secrets in it); its diagnostics say line, column and the
 * item's redacted shape instead (see redact.ts).
 */
export function formatCompileDiagnostic(result: CompileResult, d: Diagnostic): string {
  return formatDiagnostic(d, (f) => (result.listFiles.has(f) ? undefined : result.sources.get(f)));
}

/** Every diagnostic of a result, formatted and separated by blank lines (what `check` prints). */
export function formatCompileResult(result: CompileResult): string {
  const diagnostics = result.ok ? result.warnings : result.diagnostics;
  return diagnostics.map((d) => formatCompileDiagnostic(result, d)).join('\n\n');
}
