#!/usr/bin/env node
// Regenerates grammar/rules.ebnf and grammar/railroad.html from the parser.
// Run after building: npx tsc -p tsconfig.json && node scripts/gen-grammar.mjs
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { writeGrammarFiles, GRAMMAR_FILES } = await import(join(root, 'dist/src/dsl/gen-grammar.js'));
writeGrammarFiles(root);
console.log(`wrote ${Object.values(GRAMMAR_FILES).join(', ')}`);
