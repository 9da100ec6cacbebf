/**
 * grammar/ is generated from the parser and the step catalogue and checked in,
 * and so are the marked sections of grammar/REFERENCE.md and
 * man/filter-rules.rules.5; this fails when any of them is stale. Regenerate
 * with: npx tsc -p tsconfig.json && node scripts/gen-grammar.mjs
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CODES } from '../../../src/dsl/codes.js';
import { MARKDOWN_MARKERS, ROFF_MARKERS, sectionContent } from '../../../src/dsl/doc-sections.js';
import { DOC_FILES, GRAMMAR_FILES, generateDocSections, generateGrammarArtifacts, REGENERATE_COMMAND, withDocSections, type DocSection } from '../../../src/dsl/gen-grammar.js';
import { STEPS } from '../../../src/steps/catalogue.js';
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
      ['STEP_NUMBER', 'STEP_NONE', 'STEP_STRING', 'STEP_ADDRESS', 'STEP_POINTS', 'OPTION_NUMBER', 'OPTION_STRING', 'OPTION_FLAG', 'OPTION_CHOICE', 'CHOICE_REPLY', 'CHOICE_WORD', 'PHASE', 'FIELD'],
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

  test('rules.ebnf has the step signatures: a rule per keyword with each of its options, and the values they take', () => {
    for (const d of STEPS) {
      const line = new RegExp(`^[a-zA-Z]+ +::= '${d.keyword}'(.*)$`, 'm').exec(generated.ebnf);
      assert.ok(line !== null, `no signature for ${d.keyword}`);
      for (const name of Object.keys(d.options)) assert.ok(line[1]?.includes(`'${name}'`), `${d.keyword}'s signature lacks ${name}`);
      assert.ok(line[1]?.includes('common'), `${d.keyword}'s signature lacks the common options`);
    }
    assert.match(generated.ebnf, /^pause +::= 'pause' duration \( 'pregreet' \( 'disconnect' reply\? \| 'log' \) \| 'pay-once' duration \| common \)\*$/m);
    assert.match(generated.ebnf, /^accept +::= 'accept' common\*$/m);
    assert.match(generated.ebnf, /^common +::= whenClause\n +\| atClause\n +\| onErrorClause$/m);
    for (const value of ['duration ::= NUMBER', 'count ::= NUMBER', 'reply ::= STRING', 'policyAddress ::= serverAddress', 'storeUrl ::= STRING']) {
      const [name, rhs] = value.split(' ::= ');
      assert.match(generated.ebnf, new RegExp(`^${name} +::= ${rhs}  \\(\\* `, 'm'), value);
    }
  });

  test('railroad.html has a signature diagram per step keyword, the common options and the values', () => {
    for (const name of [...STEPS.map((d) => d.keyword), 'common', 'duration', 'count', 'reply', 'policyAddress', 'storeUrl']) {
      assert.match(generated.railroad, new RegExp(`"type": "Rule",\\s+"name": "${name}"`), name);
    }
  });
});

describe('the generated sections of REFERENCE.md and filter-rules.rules(5)', () => {
  const sections = generateDocSections();

  /** Why the checked-in `text` of a section's document is stale, or null when it is not. */
  function staleness(section: DocSection, text: string): string | null {
    const content = sectionContent(text, section.name, section.markers);
    return content === section.content ? null : `${section.file}: the generated section "${section.name}" is stale: run ${REGENERATE_COMMAND}`;
  }

  test('every section is marked and up to date', () => {
    assert.deepEqual(
      sections.map((x) => `${x.file} ${x.name}`),
      [`${DOC_FILES.reference} reserved-words`, `${DOC_FILES.reference} options`, `${DOC_FILES.man} options`],
    );
    for (const section of sections) {
      const text = read(section.file);
      const stale = staleness(section, text);
      assert.equal(stale, null, stale ?? '');
      // Regenerating changes nothing, around the markers either.
      assert.equal(withDocSections(section.file, text, sections), text);
    }
  });

  test('the check can fail: an edited cell, a missing word, a lost end marker', () => {
    const options = sections.find((x) => x.file === DOC_FILES.reference && x.name === 'options');
    const words = sections.find((x) => x.name === 'reserved-words');
    const man = sections.find((x) => x.file === DOC_FILES.man);
    assert.ok(options !== undefined && words !== undefined && man !== undefined);
    const reference = read(DOC_FILES.reference);
    const page = read(DOC_FILES.man);
    const doctored = [
      { section: options, text: reference.replace('| `delay DURATION` | greylist | `5m` |', '| `delay DURATION` | greylist | `10m` |') },
      { section: words, text: reference.replace(' pay-once ', ' ') },
      { section: man, text: page.replace(/^\.Ql 35d ;$/m, '.Ql 30d ;') },
    ];
    for (const { section, text } of doctored) {
      assert.notEqual(text, section.file === DOC_FILES.man ? page : reference, `${section.name}: the doctoring missed`);
      assert.equal(staleness(section, text), `${section.file}: the generated section "${section.name}" is stale: run ${REGENERATE_COMMAND}`);
      // …and regenerating repairs it.
      assert.equal(staleness(section, withDocSections(section.file, text, sections)), null);
    }
    assert.throws(() => sectionContent(reference.replace(MARKDOWN_MARKERS.start('options'), ''), 'options', MARKDOWN_MARKERS), /no generated section "options": the marker <!-- generated: options/);
    assert.throws(() => sectionContent(page.replace(ROFF_MARKERS.end, ''), 'options', ROFF_MARKERS), /has no end marker/);
    const twice = `${reference}\n${MARKDOWN_MARKERS.start('options')}\n${MARKDOWN_MARKERS.end}\n`;
    assert.throws(() => sectionContent(twice, 'options', MARKDOWN_MARKERS), /marked twice/);
  });
});
