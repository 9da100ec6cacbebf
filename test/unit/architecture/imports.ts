/**
 * The modules a TypeScript source file names, read from its text: what the
 * architecture tests check (no-spawn here; the layers test of plan §1 reads the
 * same edges). A regex scan, not a TypeScript parse: enough for our own code,
 * which writes imports one way (the sanity tests pin that the scan finds them).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface ImportRef {
  /** As written: 'node:fs', '../../src/dsl/index.js'. */
  readonly specifier: string;
  /** 1-based line of the keyword, for messages like `test/unit/a.ts:12`. */
  readonly line: number;
  /** `import type …` / `export type … from`: no code loads, but it is still coupling. */
  readonly typeOnly: boolean;
}

/**
 * Comments blanked, line breaks kept (so line numbers stay true): a comment that
 * shows an import is not one. Line comments count only at the start of a line,
 * so `'http://…'` inside code is left alone.
 */
export function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/^\s*\/\/.*$/gm, '');
}

const lineAt = (text: string, index: number): number => text.slice(0, index).split('\n').length;

/**
 * Static imports and re-exports (type-only too), bare `import 'x'`, `import('x')` and `require('x')` with a literal,
 * `declare module 'x'` (type-only).
 */
export function importsOf(source: string): ImportRef[] {
  const text = withoutComments(source);
  const found: { index: number; ref: ImportRef }[] = [];
  for (const m of text.matchAll(/(?<![\w$.])(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s*)?'([^']+)'/g)) {
    found.push({ index: m.index, ref: { specifier: m[2] ?? '', line: lineAt(text, m.index), typeOnly: m[1] !== undefined } });
  }
  for (const m of text.matchAll(/(?<![\w$.])(?:import|require)\s*\(\s*'([^']+)'\s*\)/g)) {
    found.push({ index: m.index, ref: { specifier: m[1] ?? '', line: lineAt(text, m.index), typeOnly: false } });
  }
  // Module augmentation (steps/*/define.ts add their StepActions entry to model/plan.ts this way): coupling, no code.
  for (const m of text.matchAll(/(?<![\w$.])declare\s+module\s+'([^']+)'/g)) {
    found.push({ index: m.index, ref: { specifier: m[1] ?? '', line: lineAt(text, m.index), typeOnly: true } });
  }
  return found.sort((a, b) => a.index - b.index).map((f) => f.ref);
}

/**
 * The source file a relative specifier names: `./x.js` is `./x.ts` in the
 * source tree (tsc keeps the names), `.mjs` files are their own source.
 * Null for packages and built-ins, and for a file that does not exist.
 */
export function resolveSource(fromFile: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const target = resolve(dirname(fromFile), specifier);
  for (const candidate of [target.replace(/\.js$/, '.ts'), target]) if (existsSync(candidate)) return candidate;
  return null;
}

/** Every `.ts` file under `dir` (absolute paths, sorted). */
export function tsFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFilesUnder(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

export const readSource = (path: string): string => readFileSync(path, 'utf8');
