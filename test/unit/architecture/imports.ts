/**
 * The import graph of src/, read with TypeScript's own parser rather than
 * regular expressions: a comment or a string that mentions `from '…'` is no
 * edge, and an import split over lines, a dynamic import(), an inline
 * `import('…').T` type or a `declare module '…'` augmentation is one.
 * Type edges count (they are coupling too) but are marked, because they do
 * not load anything: `import type` and `export type … from` are erased, while
 * `import { type A }` still loads its module under verbatimModuleSyntax.
 *
 * Pure over file texts (`graphOf`); `readSources` is the one function that
 * touches the disk.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import ts from 'typescript';

/** One specifier as written in a file. */
export interface ImportRef {
  readonly specifier: string;
  /** 1-based line of the statement (or expression) that names it. */
  readonly line: number;
  /** Erased at run time: loads nothing. */
  readonly typeOnly: boolean;
}

/** Every module specifier `text` names, in source order. */
export function importsOf(fileName: string, text: string): ImportRef[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: ImportRef[] = [];
  const add = (node: ts.Node, specifier: ts.Expression | undefined, typeOnly: boolean): void => {
    // A computed specifier (chevrotain's bundle, src/dsl/chevrotain.ts) names no file of ours.
    if (specifier === undefined || !ts.isStringLiteralLike(specifier)) return;
    out.push({ specifier: specifier.text, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node, node.moduleSpecifier, node.importClause?.isTypeOnly ?? false);
    else if (ts.isExportDeclaration(node)) add(node, node.moduleSpecifier, node.isTypeOnly);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
      add(node, node.moduleReference.expression, node.isTypeOnly);
    else if (ts.isModuleDeclaration(node) && ts.isStringLiteral(node.name)) add(node, node.name, true);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal, true);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0], false);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/**
 * A shim: a module that only re-exports (`export … from`), left at a moved
 * module's old path until stage 13. Importing it is importing what it
 * re-exports, so the layers are checked against its targets.
 */
export function isShim(fileName: string, text: string): boolean {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  return sf.statements.length > 0 && sf.statements.every((s) => ts.isExportDeclaration(s) && s.moduleSpecifier !== undefined);
}

/** An import resolved to a file of the tree, or to a package (`node:fs`, `ioredis`). */
export interface Edge {
  /** Repo-relative, `/`-separated: `src/runtime/host.ts`. */
  readonly from: string;
  readonly line: number;
  readonly specifier: string;
  /** The file imported (`src/dsl/plan.ts`), or null for a package. */
  readonly to: string | null;
  readonly typeOnly: boolean;
}

export interface SourceGraph {
  /** Every file, sorted. */
  readonly files: readonly string[];
  /** Every import, by importing file then line. */
  readonly edges: readonly Edge[];
  /** The shims and the files each re-exports. */
  readonly shims: ReadonlyMap<string, readonly string[]>;
  /** Relative specifiers that name no file of the tree (`src/a.ts:3 './gone.js'`). */
  readonly unresolved: readonly string[];
}

/** The graph over `sources` (repo-relative path → text). Relative specifiers resolve `x.js` to `x.ts`. */
export function graphOf(sources: ReadonlyMap<string, string>): SourceGraph {
  const files = [...sources.keys()].sort();
  const edges: Edge[] = [];
  const shims = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const from of files) {
    const text = sources.get(from) ?? '';
    const targets: string[] = [];
    for (const ref of importsOf(from, text)) {
      let to: string | null = null;
      if (ref.specifier.startsWith('.')) {
        to = posix.normalize(posix.join(posix.dirname(from), ref.specifier)).replace(/\.js$/, '.ts');
        if (!sources.has(to)) {
          unresolved.push(`${from}:${ref.line} '${ref.specifier}'`);
          continue;
        }
        targets.push(to);
      }
      edges.push({ from, line: ref.line, specifier: ref.specifier, to, typeOnly: ref.typeOnly });
    }
    if (isShim(from, text)) shims.set(from, targets);
  }
  return { files, edges, shims, unresolved };
}

/**
 * What importing `file` depends on: the file itself, or, for a shim, the
 * files it re-exports (through shims of shims), each with the shim it came
 * through.
 */
export function throughShims(graph: SourceGraph, file: string): { readonly to: string; readonly via: string | null }[] {
  if (!graph.shims.has(file)) return [{ to: file, via: null }];
  const out: { to: string; via: string }[] = [];
  const seen = new Set<string>();
  const walk = (shim: string): void => {
    if (seen.has(shim)) return;
    seen.add(shim);
    for (const t of graph.shims.get(shim) ?? []) {
      if (graph.shims.has(t)) walk(t);
      else out.push({ to: t, via: file });
    }
  };
  walk(file);
  return out;
}

/** Where a loaded file or package was first reached: the importing file and line, null for an entry. */
export type Reached = { readonly from: string; readonly line: number } | null;

/**
 * The files a run loads from `entries` on (value imports only, dynamic ones
 * included) and the packages they import, each with where it was first reached.
 */
export function loadedFrom(graph: SourceGraph, entries: readonly string[]): { readonly files: ReadonlyMap<string, Reached>; readonly packages: ReadonlyMap<string, Reached> } {
  const files = new Map<string, Reached>(entries.map((e) => [e, null]));
  const packages = new Map<string, Reached>();
  const byFile = new Map<string, Edge[]>();
  for (const e of graph.edges) {
    const list = byFile.get(e.from);
    if (list === undefined) byFile.set(e.from, [e]);
    else list.push(e);
  }
  const queue = [...entries];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    for (const e of byFile.get(file) ?? []) {
      if (e.typeOnly) continue;
      const reached = { from: e.from, line: e.line };
      if (e.to === null) {
        if (!packages.has(e.specifier)) packages.set(e.specifier, reached);
      } else if (!files.has(e.to)) {
        files.set(e.to, reached);
        queue.push(e.to);
      }
    }
  }
  return { files, packages };
}

/** `x <- src/a.ts:3 <- src/dsl/index.ts:12`: how `reached` leads back to an entry. */
export function chainOf(name: string, reached: Reached, files: ReadonlyMap<string, Reached>): string {
  const hops = [name];
  const seen = new Set<string>();
  for (let at: Reached | undefined = reached; at !== null && at !== undefined && !seen.has(at.from); at = files.get(at.from)) {
    seen.add(at.from);
    hops.push(`${at.from}:${at.line}`);
  }
  return hops.join(' <- ');
}

/** Every .ts file under `dir` (repo-relative to `root`), with its text. */
export function readSources(root: string, dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (abs: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts')) out.set(relative(root, p).split(sep).join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(join(root, dir));
  return out;
}
