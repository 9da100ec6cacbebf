/**
 * The reserved words and their tokens are made from the catalogues (issue 11
 * plan §3): every word lexes alone as exactly its token, the parser's named
 * token exports are those very tokens, and each word sits in the categories its
 * definitions give it — one shape category per step and option word.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TokenType } from 'chevrotain';
import { FIELDS } from '../../../src/conditions/fields.js';
import { lex } from '../../../src/dsl/lexer.js';
import { SourceText } from '../../../src/dsl/source.js';
import * as T from '../../../src/dsl/tokens.js';
import { RULE_PHASES } from '../../../src/model/phases.js';
import { STEPS } from '../../../src/steps/catalogue.js';
import { SHAPE_OF, type StepDefinition } from '../../../src/steps/spec.js';
import { STEP_WORDS } from '../../../src/steps/words.js';

const { CATEGORIES, CATEGORY_MEMBERS, KEYWORD_TOKENS, KEYWORDS } = T;
const DEFINITIONS: readonly StepDefinition[] = STEPS;

function tokensOf(text: string): { names: string[]; problems: number } {
  const r = lex(new SourceText('t.rules', text));
  return { names: r.tokens.map((t) => t.tokenType.name), problems: r.diagnostics.length };
}

function categoriesOf(word: string): string[] {
  const t = T.keywordToken(word);
  assert.ok(t !== null, `${word} is not reserved`);
  return (t.CATEGORIES ?? []).map((c) => c.name);
}

/** The keyword tokens among the module's named exports (the ones the parser and to-ast read). */
const NAMED: ReadonlyMap<string, TokenType> = new Map(
  Object.entries(T).filter((e): e is [string, TokenType] => KEYWORD_TOKENS.includes(e[1] as TokenType)),
);

describe('reserved words from the tables', () => {
  test('KEYWORDS are the language words, step keywords, step words, connectives, fields, then the other phases', () => {
    const fromTables = [
      ...['list', 'file', 'chain', 'then', 'when', 'at', 'on-error', 'dry-run', 'tempfail', 'proceed'],
      ...DEFINITIONS.map((d) => d.keyword),
      ...STEP_WORDS.map(([w]) => w),
      ...['not', 'and', 'or', 'in'],
      ...FIELDS.map((f) => f.name),
      ...RULE_PHASES,
    ];
    assert.deepEqual(KEYWORDS, [...new Set(fromTables)]);
    assert.equal(KEYWORD_TOKENS.length, KEYWORDS.length);
  });

  test('every reserved word lexes alone as exactly its token; with a suffix it is a name', () => {
    KEYWORDS.forEach((word, i) => {
      const token = KEYWORD_TOKENS[i];
      assert.ok(token !== undefined);
      assert.deepEqual(tokensOf(word), { names: [token.name], problems: 0 }, word);
      assert.equal(T.keywordToken(word), token);
      for (const longer of [`${word}-x`, `${word}x`, `${word}_1`]) assert.deepEqual(tokensOf(longer), { names: ['Identifier'], problems: 0 }, longer);
    });
  });

  test('the words the grammar reads by name, and only those, are named exports: the language words and connectives, in PascalCase', () => {
    const byName = [...NAMED.values()].map((t) => (t.LABEL ?? '').slice(1, -1));
    // Step, option and choice words, fields and phases are read by category: a new one adds no export.
    assert.deepEqual(byName.sort(), ['list', 'file', 'chain', 'then', 'when', 'at', 'on-error', 'dry-run', 'tempfail', 'proceed', 'not', 'and', 'or', 'in'].sort());
    for (const [name, token] of NAMED) {
      const word = (token.LABEL ?? '').slice(1, -1);
      assert.equal(name, word.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join(''));
      assert.equal(token.name, name);
    }
    assert.equal(T.Chain, T.keywordToken('chain'));
    assert.equal(T.OnError, T.keywordToken('on-error'));
    assert.equal(T.keywordToken('index'), null);
  });
});

describe('token categories', () => {
  const shapeCategories = (word: string, prefix: 'STEP_' | 'OPTION_'): string[] => categoriesOf(word).filter((c) => c.startsWith(prefix));

  test('each step keyword is a STEP in exactly the one STEP_* category of its argument shape', () => {
    const expected = { none: 'STEP_NONE', number: 'STEP_NUMBER', string: 'STEP_STRING', address: 'STEP_ADDRESS', points: 'STEP_POINTS' } as const;
    for (const d of DEFINITIONS) {
      assert.ok(categoriesOf(d.keyword).includes('STEP'), d.keyword);
      const shape = d.argument === null ? 'none' : SHAPE_OF[d.argument.type];
      assert.ok(shape !== 'choice', `${d.keyword}: a choice argument has no grammar alternative`);
      assert.deepEqual(shapeCategories(d.keyword, 'STEP_'), [expected[shape]], d.keyword);
    }
    assert.deepEqual(
      CATEGORY_MEMBERS.get(CATEGORIES.STEP)?.map((t) => t.name),
      DEFINITIONS.map((d) => T.keywordToken(d.keyword)?.name),
      'STEP lists the catalogue in its order',
    );
  });

  test('each option word is an OPTION in exactly the one OPTION_* category of its value shape; choice words by reply', () => {
    const expected = { none: 'OPTION_FLAG', number: 'OPTION_NUMBER', string: 'OPTION_STRING', choice: 'OPTION_CHOICE' } as const;
    const options = new Set<string>();
    for (const d of DEFINITIONS) {
      for (const [name, spec] of Object.entries(d.options)) {
        options.add(name);
        const shape = SHAPE_OF[spec.type];
        assert.ok(shape !== 'address' && shape !== 'points', `${d.keyword} ${name}: an ${shape} option has no grammar alternative`);
        assert.ok(categoriesOf(name).includes('OPTION'), name);
        assert.deepEqual(shapeCategories(name, 'OPTION_'), [expected[shape]], `${d.keyword} ${name}`);
        for (const c of spec.choices ?? []) assert.ok(categoriesOf(c.word).includes(c.reply ? 'CHOICE_REPLY' : 'CHOICE_WORD'), c.word);
      }
    }
    assert.deepEqual(CATEGORY_MEMBERS.get(CATEGORIES.OPTION)?.map((t) => (t.LABEL ?? '').slice(1, -1)), KEYWORDS.filter((w) => options.has(w)));
    // A word with several roles is one token in several categories.
    assert.deepEqual(categoriesOf('disconnect'), ['STEP', 'STEP_STRING', 'CHOICE_REPLY']);
    assert.deepEqual(categoriesOf('log'), ['CHOICE_WORD']);
  });

  test('fields and phases: FIELD in FIELDS order, PHASE in the order sessions reach the phases', () => {
    assert.deepEqual(CATEGORY_MEMBERS.get(CATEGORIES.FIELD), FIELDS.map((f) => T.keywordToken(f.name)));
    assert.deepEqual(CATEGORY_MEMBERS.get(CATEGORIES.PHASE), RULE_PHASES.map((p) => T.keywordToken(p)));
    assert.deepEqual(categoriesOf('helo'), ['FIELD', 'PHASE']);
    assert.deepEqual(categoriesOf('connect'), ['PHASE']);
  });

  test('language words and connectives belong to no category', () => {
    for (const w of ['list', 'file', 'chain', 'then', 'when', 'at', 'on-error', 'dry-run', 'tempfail', 'proceed', 'not', 'and', 'or', 'in']) {
      assert.deepEqual(categoriesOf(w), [], w);
    }
  });

  test('categories are in the parser vocabulary and never lexed', () => {
    for (const c of Object.values(CATEGORIES)) {
      assert.ok(T.parserTokens.includes(c), c.name);
      assert.ok(!T.lexerDefinition.modes.main.includes(c), c.name);
    }
  });
});
