#!/usr/bin/env node
// Regenerates grammar/rules.ebnf and grammar/railroad.html from the parser and the step catalogue,
// and the generated sections of grammar/REFERENCE.md and man/filter-rules.rules.5 (between their
// `generated:` markers; the text around them is written by hand).
// Run after building: npx tsc -p tsconfig.json && node scripts/gen-grammar.mjs
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { writeGrammarFiles, GRAMMAR_FILES, DOC_FILES } = await import(join(root, 'dist/src/dsl/gen-grammar.js'));
writeGrammarFiles(root);
console.log(`wrote ${[...Object.values(GRAMMAR_FILES), ...Object.values(DOC_FILES)].join(', ')}`);
