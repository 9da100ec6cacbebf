/**
 * The import graph of a source tree, for the layers test: every edge of
 * imports.ts's scan resolved to a file of the tree, the shims (files of
 * re-exports only) and what they re-export, and what a run loads from given
 * entry files. Pure over an
 * in-memory tree (`graphOf`), so the layers check's own tests need no files;
 * `readSources` is the one function that reads the disk.
 */
import { join, posix, relative, sep } from 'node:path';
import { importsOf, readSource, tsFilesUnder, withoutComments } from './imports.js';

/** An import resolved to a file of the tree, or to a package (`node:fs`, `ioredis`). */
export interface Edge {
  /** Repo-relative, `/`-separated: `src/runtime/host.ts`. */
  readonly from: string;
  readonly line: number;
  readonly specifier: string;
  /** The file imported (`src/dsl/plan.ts`), or null for a package. */
  readonly to: string | null;
  /** Erased at run time (`import type`, `export type … from`, `declare module`): loads nothing. */
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

/** `export * from '…';`, `export type { A, B } from '…';`, `export * as ns from '…';` */
const RE_EXPORT = /(?<![\w$.])export\s+(?:type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s*from\s*'[^']+'\s*;?/g;

/** A shim: nothing but re-exports, comments aside. */
export function isShim(text: string): boolean {
  const code = withoutComments(text);
  return (code.match(RE_EXPORT)?.length ?? 0) > 0 && code.replace(RE_EXPORT, '').trim() === '';
}

/**
 * The graph over `sources` (repo-relative path → text). A relative specifier
 * names a file of the tree as tsc does: `./x.js` is `./x.ts`.
 */
export function graphOf(sources: ReadonlyMap<string, string>): SourceGraph {
  const files = [...sources.keys()].sort();
  const edges: Edge[] = [];
  const shims = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const from of files) {
    const text = sources.get(from) ?? '';
    const targets: string[] = [];
    for (const ref of importsOf(text)) {
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
    if (isShim(text)) shims.set(from, targets);
  }
  return { files, edges, shims, unresolved };
}

/** Where a loaded file or package was first reached: the importing file and line, null for an entry. */
export type Reached = { readonly from: string; readonly line: number } | null;

/**
 * The files a run loads from `entries` on (value imports only, dynamic ones
 * included) and the packages they import, each with where it was first reached.
 */
export function loadedFrom(
  graph: SourceGraph,
  entries: readonly string[],
): { readonly files: ReadonlyMap<string, Reached>; readonly packages: ReadonlyMap<string, Reached> } {
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

/** Every .ts file under `dir` of `root`, by repo-relative `/`-separated path, with its text. */
export function readSources(root: string, dir: string): Map<string, string> {
  return new Map(tsFilesUnder(join(root, dir)).map((abs) => [relative(root, abs).split(sep).join('/'), readSource(abs)]));
}
