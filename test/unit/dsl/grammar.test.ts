/**
 * grammar/ is generated from the parser and checked in; this fails when it is
 * stale. Regenerate with: npx tsc -p tsconfig.json && node scripts/gen-grammar.mjs
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CODES } from '../../../src/dsl/codes.js';
import { GRAMMAR_FILES, generateGrammarArtifacts, REGENERATE_COMMAND } from '../../../src/dsl/gen-grammar.js';
import { CATEGORIES, CATEGORY_MEMBERS, KEYWORDS } from '../../../src/dsl/tokens.js';
import { mentionsWord, projectRoot } from './helpers.js';

const read = (rel: string): string => readFileSync(join(projectRoot, rel), 'utf8');

describe('grammar/', () => {
  const generated = generateGrammarArtifacts();

  test('rules.ebnf is up to date', () => {
    assert.equal(read(GRAMMAR_FILES.ebnf), generated.ebnf, `${GRAMMAR_FILES.ebnf} is stale: run ${REGENERATE_COMMAND}`);
  });

  test('railroad.html is up to date', () => {
    assert.equal(read(GRAMMAR_FILES.railroad), generated.railroad, `${GRAMMAR_FILES.railroad} is stale: run ${REGENERATE_COMMAND}`);
  });

  test('rules.ebnf shows every rule and the keywords the grammar uses', () => {
    for (const rule of ['rulesFile', 'listDecl', 'chainDecl', 'step', 'action', 'stepOption', 'orExpr', 'test']) {
      assert.match(generated.ebnf, new RegExp(`^${rule} +::= `, 'm'), rule);
    }
    for (const kw of KEYWORDS) assert.ok(generated.ebnf.includes(`'${kw}'`), kw);
  });

  test('rules.ebnf defines each token category the grammar uses as its words, in their table order', () => {
    const used = [...generated.ebnf.matchAll(/^([A-Z_]+) +::= (.*)$/gm)].filter(([, name]) => name !== undefined && name in CATEGORIES);
    assert.deepEqual(
      used.map(([, name]) => name),
      ['STEP_NUMBER', 'STEP_NONE', 'STEP_STRING', 'STEP_ADDRESS', 'OPTION_NUMBER', 'OPTION_STRING', 'OPTION_FLAG', 'OPTION_CHOICE', 'CHOICE_REPLY', 'CHOICE_WORD', 'PHASE', 'FIELD'],
    );
    for (const [, name, rhs] of used) {
      const members = CATEGORY_MEMBERS.get(CATEGORIES[name as keyof typeof CATEGORIES]) ?? [];
      assert.equal(rhs, members.map((t) => t.LABEL).join(' | '), name);
    }
    // A category is never printed as a token class (it has no pattern of its own).
    assert.doesNotMatch(generated.ebnf, /NOT_APPLICABLE/);
  });

  test('railroad.html has a diagram of the words of each category, after the parser\'s rules', () => {
    for (const name of ['STEP_NUMBER', 'OPTION_CHOICE', 'PHASE', 'FIELD']) assert.match(generated.railroad, new RegExp(`"type": "Rule",\\s+"name": "${name}"`), name);
  });

  test('railroad.html works offline: no remote scripts or stylesheets, resources inlined', () => {
    const html = generated.railroad;
    assert.doesNotMatch(html, /<script[^>]+src=/i);
    assert.doesNotMatch(html, /<link[^>]+href=/i);
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?https?:/i);
    assert.match(html, /^<!DOCTYPE html>/);
    // The diagram code and the grammar itself are in the page.
    assert.match(html, /drawDiagramsFromSerializedGrammar/);
    assert.match(html, /function Diagram\(/);
    assert.match(html, /"name": "chainDecl"/);
    assert.match(html, /svg\.railroad-diagram/);
  });

  test('REFERENCE.md documents every diagnostic code', () => {
    const reference = read('grammar/REFERENCE.md');
    for (const code of Object.keys(CODES)) assert.match(reference, new RegExp(`\\b${code}\\b`), `${code} missing from grammar/REFERENCE.md`);
  });

  test('REFERENCE.md mentions every keyword as a word of its own', () => {
    const reference = read('grammar/REFERENCE.md');
    for (const kw of KEYWORDS) assert.ok(mentionsWord(reference, kw), `keyword ${kw} is not mentioned in grammar/REFERENCE.md`);
  });

  test('the keyword check can fail: a keyword seen only inside other words is not mentioned', () => {
    // The old check (`text.includes(kw)`) passed for all of these.
    for (const text of ['delayed', 'max-delay', '`delayed`', 'delay-x', 'redelay']) assert.equal(mentionsWord(text, 'delay'), false, text);
    for (const text of ['delay', '`delay`', '`delay 5m`', 'the delay, then', '(delay)', 'x\ndelay\ny']) assert.equal(mentionsWord(text, 'delay'), true, text);
    assert.equal(mentionsWord('on-errors', 'on-error'), false);
    assert.equal(mentionsWord('`on-error tempfail`', 'on-error'), true);
  });
});
