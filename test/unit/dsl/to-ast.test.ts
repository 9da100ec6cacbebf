/**
 * to-ast's safety net: a CST piece it has no reader for must stop the compile
 * (E000), never be dropped with the rest compiled as if it were not written.
 * The grafts go in through the real pipeline (compileRulesSource) by wrapping
 * the parser instance's entry rule, so dsl/index.ts's handling is what is tested.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createToken, Lexer, type CstNode, type IToken, type TokenType } from 'chevrotain';
import { compileRulesSource } from '../../../src/dsl/index.js';
import { lex } from '../../../src/dsl/lexer.js';
import { parse } from '../../../src/dsl/parse.js';
import { parser } from '../../../src/dsl/parser.js';
import { SourceText } from '../../../src/dsl/source.js';
import { CstShapeError, toAst } from '../../../src/dsl/to-ast.js';
import { rulesFilesUnder } from '../../fuzz/rules/corpus.js';
import { docExamples } from './doc-examples.js';
import { projectRoot } from './helpers.js';

const node = (n: CstNode, key: string): CstNode => {
  const c = n.children[key]?.[0];
  assert.ok(c !== undefined && 'children' in c, `no ${key} node`);
  return c;
};
/** A token under `key`: its type's name, or the category's the parser consumed it by (`accept` is under STEP_NONE). */
const token = (n: CstNode, key: string): IToken => {
  const t = n.children[key]?.[0];
  assert.ok(t !== undefined && 'image' in t, `no ${key} token`);
  return t;
};

/** The token as if the lexer had made it of `type` (chevrotain matches by tokenTypeIdx). */
const retyped = (t: IToken, type: TokenType): IToken => ({ ...t, tokenType: type, tokenTypeIdx: type.tokenTypeIdx ?? -1 });

/** Compiles `text` with `graft` applied to the CST the parser returns. */
function compileGrafted(text: string, graft: (cst: CstNode) => void) {
  const original = parser.rulesFile;
  parser.rulesFile = ((...args: Parameters<typeof original>) => {
    const cst = original.apply(parser, args);
    graft(cst);
    return cst;
  }) as typeof original;
  try {
    return compileRulesSource(text, 'main.rules', { readFile: () => '' });
  } finally {
    parser.rulesFile = original;
  }
}

function assertE000(result: ReturnType<typeof compileRulesSource>, line: number): void {
  assert.equal(result.ok, false, 'a CST with an unread piece must not compile');
  if (result.ok) return;
  assert.deepEqual(
    result.diagnostics.map((d) => `${d.code}@${d.span.line} ${d.message}`),
    [`E000@${line} internal error in the rules compiler (a bug: please report it)`],
  );
}

const FIRST_STEP = (cst: CstNode): CstNode => node(node(cst, 'chainDecl'), 'step');
const TEXT = 'chain main =\n  accept when src ~ /^10\\./\n  then reject "550 no"';

describe('to-ast: every CST piece has a reader', () => {
  test('the ungrafted text compiles (the grafts below are what breaks it)', () => {
    assert.equal(compileGrafted(TEXT, () => {}).ok, true);
  });

  test('a grafted child node of an unknown rule ends in E000, at the node', () => {
    const result = compileGrafted(TEXT, (cst) => {
      const step = FIRST_STEP(cst);
      // A new option rule the parser grew without a reader here: its tokens would be lost.
      const donor = node(step, 'stepOption');
      const when = token(node(donor, 'whenClause'), 'When');
      step.children['fooOption'] = [{ name: 'fooOption', children: { When: [{ ...when }] }, ...(donor.location !== undefined ? { location: donor.location } : {}) }];
    });
    assertE000(result, 2);
  });

  test('a token of an unknown category in the action ends in E000, and the step is not dropped silently', () => {
    const Frobnicate = createToken({ name: 'Frobnicate', pattern: /frobnicate/, categories: [createToken({ name: 'STEP_SIGNED', pattern: Lexer.NA })] });
    const result = compileGrafted(TEXT, (cst) => {
      const action = node(FIRST_STEP(cst), 'action');
      const accept = token(action, 'STEP_NONE');
      delete action.children['STEP_NONE'];
      action.children['Frobnicate'] = [retyped(accept, Frobnicate)];
    });
    assertE000(result, 2);
  });

  test('a token of an unknown category where a field is read ends in E000', () => {
    const Spf = createToken({ name: 'Spf', pattern: /spf/, categories: [createToken({ name: 'FIELD_WITH_ARGUMENT', pattern: Lexer.NA })] });
    const result = compileGrafted(TEXT, (cst) => {
      const where = node(node(FIRST_STEP(cst), 'stepOption'), 'whenClause');
      const test = node(node(node(node(node(where, 'orExpr'), 'andExpr'), 'notExpr'), 'primary'), 'test');
      const src = token(test, 'FIELD');
      delete test.children['FIELD'];
      test.children['Spf'] = [retyped(src, Spf)];
    });
    assertE000(result, 2);
  });

  test('an extra token under a known key that no reader takes ends in E000', () => {
    const result = compileGrafted(TEXT, (cst) => {
      const chain = node(cst, 'chainDecl');
      // The reader takes the chain's first name; a second one under the same key would be lost.
      const name = token(chain, 'Identifier');
      (chain.children['Identifier'] as IToken[]).push({ ...name, startOffset: name.startOffset + 1 });
    });
    assertE000(result, 1);
  });

  test('toAst itself throws CstShapeError, located, naming the piece', () => {
    const source = new SourceText('main.rules', TEXT);
    const { cst } = parse(lex(source).tokens, source);
    const action = node(FIRST_STEP(cst), 'action');
    action.children['Mystery'] = [retyped(token(action, 'STEP_NONE'), createToken({ name: 'Mystery', pattern: /mystery/ }))];
    assert.throws(() => toAst(cst, source), (e: unknown) => e instanceof CstShapeError && e.span.line === 2 && /Mystery/.test(e.detail));
  });

  test('steps and options are read generically: the keyword by category, the value by its shape', () => {
    const text = 'chain main = pause 3s pregreet disconnect "421 bye" pay-once 1d\n  then postgrey unix:/run/p.sock timeout 2s\n  then greylist header store "sqlite:/g.db"\n  then disconnect "421 x"';
    const source = new SourceText('main.rules', text);
    const { cst } = parse(lex(source).tokens, source);
    const steps = toAst(cst, source).ast.chains[0]?.steps ?? [];
    const shapes = steps.map((st) => [
      `${st.action.kind}:${st.action.argument?.shape ?? 'none'}`,
      ...st.options.map((o) => `${o.kind}:${'value' in o && typeof o.value === 'object' ? (o.value?.shape ?? 'none') : 'none'}`),
    ]);
    assert.deepEqual(shapes, [
      ['pause:number', 'pregreet:choice', 'pay-once:number'],
      ['postgrey:address', 'timeout:number'],
      ['greylist:none', 'header:none', 'store:string'],
      ['disconnect:string'],
    ]);
    const pregreet = steps[0]?.options[0];
    assert.ok(pregreet !== undefined && pregreet.kind === 'pregreet' && pregreet.value?.shape === 'choice');
    assert.equal(pregreet.value.word, 'disconnect');
    assert.equal(pregreet.value.reply?.value, '421 bye');
    assert.deepEqual([pregreet.value.wordSpan.column, pregreet.value.span.column, pregreet.value.span.endColumn], [32, 32, 52]);
  });

  test('every token is consumed for every snapshot source (shipped rules, fixtures, doc examples)', () => {
    const texts: { name: string; text: string }[] = [];
    for (const dir of ['rules', 'examples', 'bench/rules', 'test/fixtures/rules', 'test/fixtures/tools']) {
      for (const f of rulesFilesUnder(join(projectRoot, dir))) texts.push({ name: relative(projectRoot, f), text: readFileSync(f, 'utf8') });
    }
    for (const { doc, examples } of docExamples(projectRoot)) examples.forEach((text, i) => texts.push({ name: `${doc} #${i}`, text }));
    const corpus = JSON.parse(readFileSync(join(projectRoot, 'test/fixtures/plans/mutations.json'), 'utf8')) as { mutations: { text: string }[] };
    corpus.mutations.forEach((m, i) => texts.push({ name: `mutation #${i}`, text: m.text }));
    let parsed = 0;
    for (const { name, text } of texts) {
      const source = new SourceText(name, text.startsWith('\uFEFF') ? text.slice(1) : text);
      const lexed = lex(source);
      const result = parse(lexed.tokens, source);
      if ([...lexed.diagnostics, ...result.diagnostics].some((d) => d.severity === 'error')) continue;
      parsed++;
      assert.doesNotThrow(() => toAst(result.cst, source), name);
    }
    assert.ok(parsed > 100, `only ${parsed} sources parsed`);
  });
});
