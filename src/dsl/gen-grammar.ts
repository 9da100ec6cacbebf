/**
 * Generates grammar/rules.ebnf and grammar/railroad.html from the parser.
 * A build tool, not part of the rules pipeline: it is the one module under
 * src/dsl that reads files itself (chevrotain's diagram resources).
 *
 *   node scripts/gen-grammar.mjs          # after `npx tsc -p tsconfig.json`
 *
 * The unit test test/unit/dsl/grammar.test.ts regenerates in memory and fails
 * when the checked-in files are stale.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toEbnf } from './ebnf.js';
import { parser } from './parser.js';
import { categoryDiagrams, DIAGRAM_CSS, DIAGRAM_SCRIPTS, railroadHtml } from './railroad.js';
import { CATEGORY_MEMBERS } from './tokens.js';

export const GRAMMAR_FILES = { ebnf: 'grammar/rules.ebnf', railroad: 'grammar/railroad.html' } as const;
export const REGENERATE_COMMAND = 'npx tsc -p tsconfig.json && node scripts/gen-grammar.mjs';

/** chevrotain's package folder, found through module resolution. */
function chevrotainRoot(): string {
  // The package entry is <root>/lib/src/api.js.
  const entry = fileURLToPath(import.meta.resolve('chevrotain'));
  return join(dirname(entry), '..', '..');
}

export function loadDiagramResources(): Map<string, string> {
  const base = join(chevrotainRoot(), 'diagrams');
  const files = new Map<string, string>();
  for (const rel of [...DIAGRAM_SCRIPTS, DIAGRAM_CSS]) files.set(rel, readFileSync(join(base, rel), 'utf8'));
  return files;
}

export interface GrammarArtifacts {
  readonly ebnf: string;
  readonly railroad: string;
}

export function generateGrammarArtifacts(resources: Map<string, string> = loadDiagramResources()): GrammarArtifacts {
  const productions = parser.getGAstProductions();
  const rules = Object.values(productions);
  const ebnf = toEbnf(rules, {
    header: [
      'filter-rules: grammar of the rules language.',
      `Generated from the parser (src/dsl/parser.ts) by: ${REGENERATE_COMMAND}`,
      'Do not edit by hand. The meaning of each construct is in grammar/REFERENCE.md.',
    ],
    categories: CATEGORY_MEMBERS,
    categoryNotes: [
      'token categories: each stands for any one of its words (from src/steps/catalogue.ts and src/conditions/fields.ts)',
      'The grammar takes any option after any step; the checker holds each step to the options it has.',
    ],
    tokenNotes: [
      'White space, including newlines, separates tokens and is otherwise ignored.',
      '# starts a comment that runs to the end of the line (not inside strings or regexes).',
      'Keywords are reserved: they cannot be used as list or chain names.',
      "Inside { ... } the lexer reads ITEM, STRING, ',' and '}' only.",
      'STRING escapes: \\" \\\\ \\n \\r \\t \\0. REGEX: \\/ writes a slash; the flags are letters after the closing slash.',
    ],
  });
  const grammar = parser.getSerializedGastProductions();
  const railroad = railroadHtml([...grammar, ...categoryDiagrams(grammar, CATEGORY_MEMBERS)], { files: resources }, 'filter-rules: rules language grammar', `Generated from src/dsl/parser.ts by: ${REGENERATE_COMMAND}. Do not edit.`);
  return { ebnf, railroad };
}

/** Write the artifacts under `root` (the project folder). */
export function writeGrammarFiles(root: string): void {
  const a = generateGrammarArtifacts();
  for (const [rel, text] of [
    [GRAMMAR_FILES.ebnf, a.ebnf],
    [GRAMMAR_FILES.railroad, a.railroad],
  ] as const) {
    const path = join(root, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
}
