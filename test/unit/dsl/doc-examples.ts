/**
 * The rules examples the documentation shows, cut out of it one way for every
 * test that compiles them (shipped-rules, man-pages, the examples/ e2e test)
 * and for the plan snapshots: a doc's example that one of them reads, the
 * others read too.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** grammar/REFERENCE.md: plain fenced blocks that define a chain; `...` marks a fragment, not a file. */
export function referenceExamples(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks.filter((b) => /^chain [a-z]/m.test(b) && !b.includes('...'));
}

/** A man page's `.Bd -literal` displays that hold rules (`\e` unescaped to `\`). */
export function manExamples(page: string): string[] {
  return [...page.matchAll(/^\.Bd -literal -offset indent\n([\s\S]*?)^\.Ed$/gm)]
    .map((m) => (m[1] ?? '').replace(/\\e/g, '\\'))
    .filter((b) => /^(chain|list|#)/m.test(b));
}

/** Fenced blocks of a Markdown text that are whole rules files (they define a chain). */
export function markdownRulesBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '').filter((b) => /^chain [a-z]/m.test(b));
}

/** The text of one `## TITLE` section of a Markdown file, or null when it has none. */
export function markdownSection(markdown: string, title: string): string | null {
  const start = markdown.indexOf(`\n## ${title}\n`);
  if (start < 0) return null;
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

export interface DocExamples {
  /** The document, relative to the repository. */
  readonly doc: string;
  readonly examples: readonly string[];
}

/**
 * Every document with rules examples, in a fixed order: the reference, the
 * rules man page, the README (every block, not only the Greylisting section
 * that the e2e test holds to "no warnings") and each examples/ README.
 */
export function docExamples(root: string): DocExamples[] {
  const read = (rel: string): string => readFileSync(join(root, rel), 'utf8');
  const out: DocExamples[] = [
    { doc: 'grammar/REFERENCE.md', examples: referenceExamples(read('grammar/REFERENCE.md')) },
    { doc: 'man/filter-rules.rules.5', examples: manExamples(read('man/filter-rules.rules.5')) },
    { doc: 'README.md', examples: markdownRulesBlocks(read('README.md')) },
  ];
  const dir = join(root, 'examples');
  const names = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort() : [];
  for (const name of names) {
    const doc = `examples/${name}/README.md`;
    if (existsSync(join(root, doc))) out.push({ doc, examples: markdownRulesBlocks(read(doc)) });
  }
  return out;
}
