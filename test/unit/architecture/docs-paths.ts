/**
 * The mechanism of the docs-paths test (docs-paths.test.ts): what a document
 * names that must exist in the tree, so CONTRIBUTING.md and ARCHITECTURE.md
 * cannot drift silently when files move or code is renamed. Pure over a
 * ProjectTree; the test gives it the real tree and doctored copies.
 *
 * A document is read in blocks: a table row, a list item (with the lines that
 * continue it), a paragraph, a heading, a fenced code block. Three kinds of
 * reference are checked:
 *
 *  - paths: every `src/…`, `test/…`, `scripts/…` (and the other top-level
 *    folders) anywhere, code blocks included, and every code span that is a
 *    path (`steps/words.ts`, `*\/define.ts`, `README.md`). `<kind>` and `*`
 *    stand for one name, `**` for any folders. A path that starts with no
 *    top-level folder is looked up under src/ (`dsl/`), in the folders the
 *    same block names (`catalogue.ts` beside `src/steps/`), and, for a bare
 *    file name, anywhere. `dist/…/x.js` stands for the x.ts it is built from;
 *  - identifiers: a code span that reads as code (`LineReader`,
 *    `Session.facts`, `buildPlan`, `STEP_WORDS`, `evaluate()`) must occur, each
 *    of its dotted parts as a word, in one of the files its block names. In a
 *    block that names no file it is not checked. All-lowercase words
 *    (`pause`, `retain`) and diagnostic codes (`E041`) are taken as prose;
 *  - links: the target of a relative Markdown link.
 */

/** The files of the project, as paths relative to its root (`src/cli/main.ts`), and their texts. */
export interface ProjectTree {
  readonly files: readonly string[];
  /** A file's text; null for a file it cannot read as text. */
  readonly read: (file: string) => string | null;
}

/** Folders at the top of the project: a path starting with one of these is named from the root. */
const TOP = ['src', 'test', 'scripts', 'grammar', 'man', 'docs', 'bench', 'examples', 'rules', 'packaging', 'dist'] as const;

const FILE_EXTENSIONS = /\.(?:ts|js|mjs|md|json|html|ebnf|rules|expected|sh|conf|5|8)$/;

/** A path anywhere in the text, from one of the top-level folders. */
const BARE_PATH = new RegExp(`(?<![\\w./<>*-])(?:${TOP.join('|')})/[\\w./<>*-]*`, 'g');

const IDENTIFIER = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*(?:\(\))?$/;

interface Block {
  /** 1-based line of the block's first line. */
  readonly line: number;
  readonly lines: readonly string[];
  readonly fenced: boolean;
}

/** The blocks of a Markdown document, in order. */
export function blocksOf(text: string): Block[] {
  const blocks: Block[] = [];
  let current: { line: number; lines: string[]; fenced: boolean } | null = null;
  const close = (): void => {
    if (current !== null) blocks.push(current);
    current = null;
  };
  const lines = text.split('\n');
  let fenced = false;
  lines.forEach((line, i) => {
    if (/^\s*```/.test(line)) {
      if (!fenced) {
        close();
        current = { line: i + 2, lines: [], fenced: true };
      } else {
        close();
      }
      fenced = !fenced;
      return;
    }
    if (fenced) {
      current?.lines.push(line);
      return;
    }
    if (line.trim() === '') return close();
    const startsBlock = /^\s*\|/.test(line) || /^\s*(?:[-*]|\d+\.)\s/.test(line) || /^#/.test(line);
    if (startsBlock || current === null) {
      close();
      current = { line: i + 1, lines: [line], fenced: false };
      if (/^\s*\|/.test(line) || /^#/.test(line)) close();
      return;
    }
    current.lines.push(line);
  });
  close();
  return blocks;
}

/** `<kind>`, `*` and `**` as a regex over whole paths; a folder (`src/steps/`) matches the start of its files. */
function patternOf(path: string): RegExp {
  const folder = path.endsWith('/');
  const segments = path.replace(/\/$/, '').split('/');
  const body = segments
    .map((segment) => (segment === '**' ? '(?:[^/]+/)*' : `${segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/<[^>]*>|\*/g, '[^/]+')}/`))
    .join('');
  return new RegExp(folder ? `^${body}` : `^${body.replace(/\/$/, '')}$`);
}

/** The files and folders of the tree that `path` (relative to the root) stands for; folders end in `/`. */
function expand(tree: ProjectTree, path: string): string[] {
  const re = patternOf(path);
  if (path.endsWith('/')) {
    const folders = new Set<string>();
    for (const f of tree.files) {
      const m = re.exec(f);
      if (m !== null) folders.add(m[0]);
    }
    return [...folders];
  }
  return tree.files.filter((f) => re.test(f));
}

/** What a path as written stands for, relative to the root; empty when it names nothing. */
function resolvePath(tree: ProjectTree, written: string, folders: readonly string[]): string[] {
  const path = written.replace(/^\.\//, '');
  const top = path.split('/')[0] ?? '';
  if (top === 'dist') {
    // Build output: the source it is built from (a bare `dist/` is the build folder itself).
    const source = path.replace(/^dist\//, '').replace(/\.js$/, '.ts');
    return path === 'dist/' ? ['dist/'] : expand(tree, source);
  }
  if ((TOP as readonly string[]).includes(top) && path.includes('/')) return expand(tree, path);
  for (const base of ['', 'src/', ...folders]) {
    const found = expand(tree, `${base}${path}`);
    if (found.length > 0) return found;
  }
  if (!path.includes('/')) {
    // A bare file name (`keywords.json`): any file of that name.
    const re = patternOf(`**/${path}`);
    return tree.files.filter((f) => re.test(f) || f === path);
  }
  return [];
}

function isPathSpan(span: string): boolean {
  if (!/^[\w.<>*/-]+$/.test(span) || span.startsWith('/') || span.startsWith('-')) return false;
  return span.includes('/') || FILE_EXTENSIONS.test(span);
}

function isIdentifierSpan(span: string): boolean {
  if (!IDENTIFIER.test(span) || /^[EW]\d{3}$/.test(span)) return false;
  return /[A-Z_.]/.test(span.slice(1)) || span.endsWith('()') || /^[A-Z]/.test(span);
}

function hasWord(text: string, word: string): boolean {
  return new RegExp(`(?<![\\w$])${word.replace(/\$/g, '\\$')}(?![\\w$])`).test(text);
}

/** Every problem with what `doc` (named `name` in messages) names: `NAME:LINE: …`. */
export function docProblems(name: string, doc: string, tree: ProjectTree): string[] {
  const problems: string[] = [];
  for (const block of blocksOf(doc)) {
    const text = block.lines.join('\n');
    const lineOf = (needle: string): number => block.line + Math.max(0, block.lines.findIndex((l) => l.includes(needle)));
    const spans = block.fenced ? [] : [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] ?? '');
    const written = new Set<string>();
    for (const m of text.matchAll(BARE_PATH)) written.add(m[0].replace(/[.,:;]+$/, ''));
    for (const s of spans) if (isPathSpan(s)) written.add(s);
    // Folders first, so that a bare name in the block can be found in them.
    const folders: string[] = [];
    for (const w of [...written].sort((a, b) => Number(b.endsWith('/')) - Number(a.endsWith('/')))) {
      const found = resolvePath(tree, w, folders);
      if (found.length === 0) problems.push(`${name}:${lineOf(w)}: \`${w}\` names no file or folder of the project`);
      for (const f of found) {
        const folder = f.endsWith('/') ? f : f.slice(0, f.lastIndexOf('/') + 1);
        if (folder !== '' && !folders.includes(folder)) folders.push(folder);
      }
    }
    const files = [...written].flatMap((w) => resolvePath(tree, w, folders)).filter((f) => !f.endsWith('/'));
    const texts = files.map((f) => tree.read(f)).filter((t): t is string => t !== null);
    if (texts.length > 0) {
      for (const s of spans) {
        if (!isIdentifierSpan(s) || isPathSpan(s)) continue;
        const parts = s.replace(/\(\)$/, '').split('.');
        if (texts.some((t) => parts.every((p) => hasWord(t, p)))) continue;
        problems.push(`${name}:${lineOf(`\`${s}\``)}: \`${s}\` is in none of ${[...new Set(files)].join(', ')}`);
      }
    }
    if (!block.fenced) {
      for (const m of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
        const target = m[1] ?? '';
        if (/^[a-z]+:/.test(target)) continue;
        if (resolvePath(tree, target, []).length === 0) problems.push(`${name}:${lineOf(target)}: the link to ${target} names no file`);
      }
    }
  }
  return problems;
}
