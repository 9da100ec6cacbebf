/**
 * Resolving list declarations to their items: inline items as written, and
 * `file "PATH"` lists read through the injected readFile (one item per line,
 * `#` comments, blank lines ignored; relative paths resolve against the rules
 * file's directory). The only I/O of the pipeline happens here, injected.
 */
import { dirname, isAbsolute, join } from 'node:path';
import type { InlineList, ListDecl, RulesFile } from './ast.js';
import { diagnostic, type Diagnostic } from './diagnostics.js';
import { classifyItem, type Classified } from './list-items.js';
import type { SourceSpan } from './plan.js';
import { SourceText } from './source.js';

export interface ResolvedItem {
  readonly text: string;
  readonly span: SourceSpan;
  readonly value: Classified;
}

export interface ResolvedList {
  readonly items: readonly ResolvedItem[];
  /** The list file as displayed in diagnostics (joined to the rules file's directory); null for inline lists. */
  readonly file: string | null;
}

export type ReadFile = (path: string) => string;

export interface ResolveResult {
  /** One entry per declaration, in declaration order (duplicates included). */
  readonly byDecl: ReadonlyMap<ListDecl, ResolvedList>;
  /** Every list file named, as displayed (readable or not), for watching. */
  readonly files: readonly string[];
  /** Texts of the list files that could be read, by displayed path. */
  readonly sources: ReadonlyMap<string, string>;
  readonly diagnostics: readonly Diagnostic[];
}

export function resolveInline(list: InlineList): ResolvedList {
  return { items: list.items.map((i) => ({ text: i.text, span: i.span, value: classifyItem(i.text, i.quoted) })), file: null };
}

/** `ENOENT: no such file or directory, open '/x'` → `no such file or directory (ENOENT)`. */
export function errnoText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    const m = /^[A-Z0-9_]+: ([^,]+)/.exec(e.message);
    if (code !== undefined && m !== null) return `${m[1] ?? e.message} (${code})`;
    return code === undefined ? e.message : `${e.message} (${code})`;
  }
  return String(e);
}

/** Items of a list file: one per line, `#` starts a comment, `""` is the null sender. */
export function parseListFile(source: SourceText): ResolvedItem[] {
  const items: ResolvedItem[] = [];
  const text = source.text;
  const terminator = /\r\n|\r|\n/g;
  let lineStart = 0;
  for (;;) {
    const m = terminator.exec(text);
    const lineEnd = m === null ? text.length : m.index;
    const line = text.slice(lineStart, lineEnd);
    const hash = line.indexOf('#');
    const content = hash < 0 ? line : line.slice(0, hash);
    const lead = content.length - content.trimStart().length;
    const item = content.trim();
    if (item !== '') {
      const start = lineStart + lead;
      const quoted = item.length >= 2 && item.startsWith('"') && item.endsWith('"');
      const itemText = quoted ? item.slice(1, -1) : item;
      items.push({ text: itemText, span: source.span(start, start + item.length), value: classifyItem(itemText, quoted) });
    }
    if (m === null) break;
    lineStart = m.index + m[0].length;
  }
  return items;
}

export function resolveLists(ast: RulesFile, readFile: ReadFile): ResolveResult {
  const byDecl = new Map<ListDecl, ResolvedList>();
  const files: string[] = [];
  const sources = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  const baseDir = dirname(ast.file);
  for (const decl of ast.lists) {
    const body = decl.body;
    if (body.kind === 'inline') {
      byDecl.set(decl, resolveInline(body));
      continue;
    }
    const written = body.path.value;
    if (written === '') {
      diagnostics.push(diagnostic('E013', body.path.span, 'the list file name is empty'));
      byDecl.set(decl, { items: [], file: null });
      continue;
    }
    const shown = isAbsolute(written) ? written : join(baseDir, written);
    if (!files.includes(shown)) files.push(shown);
    let text: string;
    try {
      text = sources.get(shown) ?? readFile(shown);
    } catch (e) {
      diagnostics.push(diagnostic('E013', body.path.span, `cannot read list file "${shown}": ${errnoText(e)}`));
      byDecl.set(decl, { items: [], file: shown });
      continue;
    }
    sources.set(shown, text);
    byDecl.set(decl, { items: parseListFile(new SourceText(shown, text)), file: shown });
  }
  return { byDecl, files, sources, diagnostics };
}

