/**
 * Resolving list declarations to their items: inline items as written, and
 * `file "PATH"` lists read through the injected readFile (one item per line,
 * `#` comments, blank lines ignored; relative paths resolve against the rules
 * file's directory). The only I/O of the pipeline happens here, injected.
 *
 * A list file can hold millions of items, so this is the one stage whose cost
 * grows with them, and it does all the per-item work in one pass that can be
 * run in slices (a `Work`, see support/work.ts): classify each item, add it to
 * the list's match index, and keep the few items worth a diagnostic (the
 * malformed ones, ranges with host bits, and samples of each kind of item, for
 * the checker's "does not fit how the list is used"). The later stages only see
 * those: their cost does not grow with the list.
 */
import { dirname, isAbsolute, join } from 'node:path';
import { FileRefused, type FileRole } from '../support/read-file.js';
import { Pacer, runToEnd, type Work } from '../support/work.js';
import type { InlineList, ListDecl, RulesFile } from './ast.js';
import { diagnostic, type Diagnostic } from './diagnostics.js';
import { classifyItem, describeItem, ListIndexBuilder, type Classified, type InvalidItem, type ItemValue, type ListIndex } from '../conditions/items.js';
import type { SourceSpan } from '../model/span.js';

export interface ResolvedItem<V extends Classified = Classified> {
  readonly text: string;
  readonly span: SourceSpan;
  readonly value: V;
}

/**
 * Items of one kind (or one problem) in a list: how many, the first ones with
 * their places, and where the first one not kept is. At most MAX_LOCATED are
 * kept: a wrong file given as a list (a CSV, /etc/passwd) must not turn into a
 * million diagnostics in the mail log.
 */
export interface Located<V extends Classified = Classified> {
  readonly count: number;
  readonly shown: readonly ResolvedItem<V>[];
  /** The place of the first item past `shown`, or null when all are shown. */
  readonly firstHidden: SourceSpan | null;
}

export const MAX_LOCATED = 20;

export interface ResolvedList {
  /** The list file as displayed in diagnostics (joined to the rules file's directory); null for inline lists. */
  readonly file: string | null;
  /** Items in the list, valid or not. */
  readonly count: number;
  readonly invalid: Located<InvalidItem>;
  /** Address ranges with host bits set (`192.0.2.5/24`). */
  readonly hostBits: Located<ItemValue>;
  /** Valid items by what they are (`a domain`, `an address range`, … from describeItem). */
  readonly kinds: ReadonlyMap<string, Located<ItemValue>>;
  /** The valid items, ready to match. */
  readonly index: ListIndex;
}

/** How the pipeline reads files: the text, or a thrown error (an errno error, or FileRefused). */
export type ReadFile = (path: string, role: FileRole) => string;

export interface ResolveResult {
  /** One entry per declaration, in declaration order (duplicates included). */
  readonly byDecl: ReadonlyMap<ListDecl, ResolvedList>;
  /** Every list file named, as displayed (readable or not), for watching. */
  readonly files: readonly string[];
  /** Texts of the list files that could be read, by displayed path. */
  readonly sources: ReadonlyMap<string, string>;
  readonly diagnostics: readonly Diagnostic[];
}

/** Collects one Located as items go by; spans are only made for the items kept. */
class Locator<V extends Classified> {
  count = 0;
  readonly shown: ResolvedItem<V>[] = [];
  firstHidden: SourceSpan | null = null;

  note(text: string, value: V, span: () => SourceSpan): void {
    this.count++;
    if (this.shown.length < MAX_LOCATED) this.shown.push({ text, value, span: span() });
    else if (this.firstHidden === null) this.firstHidden = span();
  }
}

/** Everything a list is made into, item by item. */
class ListBuilder {
  private count = 0;
  private readonly invalid = new Locator<InvalidItem>();
  private readonly hostBits = new Locator<ItemValue>();
  private readonly kinds = new Map<string, Locator<ItemValue>>();
  private readonly index = new ListIndexBuilder();

  constructor(private readonly file: string | null) {}

  add(text: string, value: Classified, span: () => SourceSpan): void {
    this.count++;
    if (value.kind === 'invalid') {
      this.invalid.note(text, value, span);
      return;
    }
    this.index.add(value);
    if (value.kind === 'ip' && value.range.hostBitsSet) this.hostBits.note(text, value, span);
    const what = describeItem(value);
    let kind = this.kinds.get(what);
    if (kind === undefined) {
      kind = new Locator<ItemValue>();
      this.kinds.set(what, kind);
    }
    kind.note(text, value, span);
  }

  *finish(pacer: Pacer): Work<ResolvedList> {
    const index = yield* this.index.finish(pacer);
    return { file: this.file, count: this.count, invalid: this.invalid, hostBits: this.hostBits, kinds: this.kinds, index };
  }
}

export function resolveInline(list: InlineList): ResolvedList {
  const b = new ListBuilder(null);
  for (const i of list.items) b.add(i.text, classifyItem(i.text, i.quoted), () => i.span);
  return runToEnd(b.finish(new Pacer()));
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

/**
 * The diagnostic for a file that could not be read, at `span`: E060/E061/E062 when
 * the reader refused it, `otherCode` (E008, E013) for the system's errors.
 */
export function readFailure(e: unknown, what: 'rules file' | 'list file', path: string, span: SourceSpan, otherCode: 'E008' | 'E013'): Diagnostic {
  if (e instanceof FileRefused) {
    const { reason } = e;
    switch (reason.kind) {
      case 'not-regular':
        return diagnostic('E060', span, `${what} "${path}" cannot be used: ${e.message}`, {
          hint: `a ${what} must be a regular file (or a symlink to one): a FIFO, device or directory could block the filter or never end`,
        });
      case 'too-large':
        return diagnostic('E061', span, `${what} "${path}" is too large: ${e.message}`, {
          hint: what === 'list file' ? 'split it into several list files' : 'move big item lists into list files (`list NAME = file "PATH"`)',
        });
      case 'not-utf8': {
        // Only rules files are checked, so the place is in the file itself, not where it is named.
        const at = { file: span.file, line: reason.line, column: reason.column, endLine: reason.line, endColumn: reason.column + 1 };
        return diagnostic('E062', at, `${what} "${path}" is not UTF-8 text: ${e.message}`, {
          hint: 'save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`); decoded anyway, the byte would reach SMTP replies as U+FFFD',
        });
      }
    }
  }
  return diagnostic(otherCode, span, `cannot read ${what} "${path}": ${errnoText(e)}`);
}

const TERMINATOR = /\r\n|\r|\n/g;

/**
 * Items of a list file: one per line, `#` starts a comment, `""` is the null
 * sender. Positions are counted here as lines go by (1-based, columns in UTF-16
 * units, the same terminators as SourceText) rather than by indexing the text.
 */
export function* parseListFile(file: string, text: string, pacer: Pacer = new Pacer()): Work<ResolvedList> {
  const b = new ListBuilder(file);
  const terminator = new RegExp(TERMINATOR);
  let lineStart = 0;
  let lineNo = 1;
  for (;;) {
    const m = terminator.exec(text);
    const lineEnd = m === null ? text.length : m.index;
    const line = text.slice(lineStart, lineEnd);
    const hash = line.indexOf('#');
    const content = hash < 0 ? line : line.slice(0, hash);
    const item = content.trim();
    if (item !== '') {
      const column = content.length - content.trimStart().length + 1;
      const quoted = item.length >= 2 && item.startsWith('"') && item.endsWith('"');
      const itemText = quoted ? item.slice(1, -1) : item;
      const at = lineNo;
      b.add(itemText, classifyItem(itemText, quoted), () => ({ file, line: at, column, endLine: at, endColumn: column + item.length }));
    }
    if (pacer.tick()) yield;
    if (m === null) break;
    lineStart = m.index + m[0].length;
    lineNo++;
  }
  return yield* b.finish(pacer);
}

export function* resolveListsWork(ast: RulesFile, readFile: ReadFile, pacer: Pacer = new Pacer()): Work<ResolveResult> {
  const byDecl = new Map<ListDecl, ResolvedList>();
  const files: string[] = [];
  const sources = new Map<string, string>();
  /** A file named by two declarations is read and parsed once. */
  const parsed = new Map<string, ResolvedList>();
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
      byDecl.set(decl, EMPTY_LIST);
      continue;
    }
    const shown = isAbsolute(written) ? written : join(baseDir, written);
    if (!files.includes(shown)) files.push(shown);
    const done = parsed.get(shown);
    if (done !== undefined) {
      byDecl.set(decl, done);
      continue;
    }
    let text: string;
    try {
      text = readFile(shown, 'list');
    } catch (e) {
      diagnostics.push(readFailure(e, 'list file', shown, body.path.span, 'E013'));
      byDecl.set(decl, emptyList(shown));
      continue;
    }
    sources.set(shown, text);
    const list = yield* parseListFile(shown, text, pacer);
    parsed.set(shown, list);
    byDecl.set(decl, list);
  }
  return { byDecl, files, sources, diagnostics };
}

/** Resolve every list at once (no pauses). */
export function resolveLists(ast: RulesFile, readFile: ReadFile): ResolveResult {
  return runToEnd(resolveListsWork(ast, readFile));
}

/** A list without items (its file could not be read, or the checker looks up a list it does not know). */
export function emptyList(file: string | null): ResolvedList {
  return runToEnd(new ListBuilder(file).finish(new Pacer()));
}

export const EMPTY_LIST: ResolvedList = emptyList(null);
