/**
 * Generates grammar/rules.ebnf and grammar/railroad.html from the parser and
 * the step signatures (signatures.ts), and the generated sections of
 * grammar/REFERENCE.md and man/filter-rules.rules.5 (doc-sections.ts) from
 * the catalogue. A build tool, not part of the rules pipeline: it is the one
 * module under src/dsl that reads and writes files itself.
 *
 *   node scripts/gen-grammar.mjs          # after `npx tsc -p tsconfig.json`
 *
 * The unit test test/unit/dsl/grammar.test.ts regenerates in memory and fails
 * when the checked-in files are stale.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Rule as GastRule } from 'chevrotain';
import { MARKDOWN_MARKERS, optionsMarkdown, optionsMdoc, replaceSection, reservedWordsMarkdown, ROFF_MARKERS, type MarkerStyle } from './doc-sections.js';
import { toEbnf } from './ebnf.js';
import { parser } from './parser.js';
import { serializeGrammar } from './chevrotain.js';
import { categoryDiagrams, DIAGRAM_CSS, DIAGRAM_SCRIPTS, railroadHtml } from './railroad.js';
import { optionRows, signatureGrammar, VALUE_RULES, type SignatureGrammar } from './signatures.js';
import { CATEGORY_MEMBERS, KEYWORDS } from './tokens.js';

export const GRAMMAR_FILES = { ebnf: 'grammar/rules.ebnf', railroad: 'grammar/railroad.html' } as const;
/** The hand-written documents with generated sections. */
export const DOC_FILES = { reference: 'grammar/REFERENCE.md', man: 'man/filter-rules.rules.5' } as const;
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

/** The signatures, checked to refer only to rules that exist: a name they share with a parser rule would be two rules. */
function checkedSignatures(parserRules: readonly GastRule[]): SignatureGrammar {
  const signatures = signatureGrammar();
  const names = new Set(parserRules.map((r) => r.name));
  for (const rule of [...signatures.steps, signatures.common, ...signatures.values]) {
    if (names.has(rule.name)) throw new Error(`gen-grammar: the signature rule ${rule.name} has the name of a rule of the parser`);
    names.add(rule.name);
  }
  for (const name of signatures.parserRules) {
    if (!parserRules.some((r) => r.name === name)) throw new Error(`gen-grammar: the signatures refer to ${name}, which the parser has no rule for`);
  }
  return signatures;
}

/** The reserved words as comment lines of about `width` characters. */
function wrapped(words: readonly string[], width: number): string[] {
  const lines: string[] = [];
  for (const w of words) {
    const last = lines.length - 1;
    if (last >= 0 && (lines[last] ?? '').length + 1 + w.length <= width) lines[last] = `${lines[last]} ${w}`;
    else lines.push(w);
  }
  return lines;
}

export function generateGrammarArtifacts(resources: Map<string, string> = loadDiagramResources()): GrammarArtifacts {
  const productions = parser.getGAstProductions();
  const rules = Object.values(productions);
  const signatures = checkedSignatures(rules);
  const valueComments = new Map(
    Object.values(VALUE_RULES)
      .filter((v) => v !== null)
      .map((v) => [v.rule, v.about]),
  );
  const ebnf = toEbnf(rules, {
    header: [
      'filter-rules: grammar of the rules language.',
      `Generated from the parser (src/dsl/parser.ts) and the step catalogue (src/steps/catalogue.ts) by: ${REGENERATE_COMMAND}`,
      'Do not edit by hand. The meaning of each construct is in grammar/REFERENCE.md.',
    ],
    sections: [
      {
        notes: [
          'step signatures (src/steps/catalogue.ts): what each step takes after its keyword.',
          'The grammar above takes any option after any step; the checker holds each step to its signature (E043).',
        ],
        rules: [...signatures.steps, signatures.common],
      },
      {
        notes: ['values of the signatures: the token each is written as, and what the checker reads in it (src/dsl/values.ts)'],
        rules: signatures.values,
        comments: valueComments,
      },
    ],
    categories: CATEGORY_MEMBERS,
    categoryNotes: [
      'token categories: each stands for any one of its words (from src/steps/catalogue.ts and src/conditions/fields.ts)',
      'The grammar takes any option after any step; the checker holds each step to the options it has.',
    ],
    tokenNotes: [
      'White space, including newlines, separates tokens and is otherwise ignored.',
      '# starts a comment that runs to the end of the line (not inside strings or regexes).',
      'Keywords are reserved: they cannot be used as list or chain names. The reserved words:',
      ...wrapped(KEYWORDS, 72).map((l) => `  ${l}`),
      "Inside { ... } the lexer reads ITEM, STRING, ',' and '}' only.",
      'STRING escapes: \\" \\\\ \\n \\r \\t \\0. REGEX: \\/ writes a slash; the flags are letters after the closing slash.',
    ],
  });
  const grammar = parser.getSerializedGastProductions();
  const signatureDiagrams = serializeGrammar([...signatures.steps, signatures.common, ...signatures.values]);
  const railroad = railroadHtml(
    [...grammar, ...categoryDiagrams(grammar, CATEGORY_MEMBERS), ...signatureDiagrams],
    { files: resources },
    'filter-rules: rules language grammar',
    `Generated from src/dsl/parser.ts and src/steps/catalogue.ts by: ${REGENERATE_COMMAND}. Do not edit.`,
  );
  return { ebnf, railroad };
}

/** A generated section of a hand-written document, and what it must hold. */
export interface DocSection {
  /** The document, relative to the project folder (DOC_FILES). */
  readonly file: string;
  readonly name: string;
  readonly markers: MarkerStyle;
  readonly content: string;
}

/** Every generated section of the documents, as the catalogue makes them now. */
export function generateDocSections(): DocSection[] {
  const rows = optionRows();
  return [
    { file: DOC_FILES.reference, name: 'reserved-words', markers: MARKDOWN_MARKERS, content: reservedWordsMarkdown(KEYWORDS) },
    { file: DOC_FILES.reference, name: 'options', markers: MARKDOWN_MARKERS, content: optionsMarkdown(rows) },
    { file: DOC_FILES.man, name: 'options', markers: ROFF_MARKERS, content: optionsMdoc(rows, REGENERATE_COMMAND) },
  ];
}

/** `text` (the document `file`) with its generated sections replaced. */
export function withDocSections(file: string, text: string, sections: readonly DocSection[] = generateDocSections()): string {
  return sections.filter((s) => s.file === file).reduce((t, s) => replaceSection(t, s.name, s.markers, s.content), text);
}

/** Write the artifacts and the documents' generated sections under `root` (the project folder). */
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
  const sections = generateDocSections();
  for (const rel of Object.values(DOC_FILES)) {
    const path = join(root, rel);
    const before = readFileSync(path, 'utf8');
    const after = withDocSections(rel, before, sections);
    if (after !== before) writeFileSync(path, after);
  }
}
