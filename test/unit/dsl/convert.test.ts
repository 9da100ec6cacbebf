/**
 * The convert stage (issue 11 stage 8a): each step joined to its definition,
 * every value read once by its type's parser, problems coded and located,
 * and options the step does not take set apart unread.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { convert, type ConvertedStep } from '../../../src/dsl/convert.js';
import { lex } from '../../../src/dsl/lexer.js';
import { parse } from '../../../src/dsl/parse.js';
import { SourceText } from '../../../src/dsl/source.js';
import { toAst } from '../../../src/dsl/to-ast.js';

function steps(text: string): readonly ConvertedStep[] {
  const source = new SourceText('t.rules', text);
  const { cst, diagnostics } = parse(lex(source).tokens, source);
  assert.deepEqual(diagnostics, []);
  return convert(toAst(cst, source).ast)[0]?.steps ?? [];
}

const problems = (s: ConvertedStep | undefined): string[] =>
  [...(s?.argument?.problems ?? []), ...(s?.options ?? []).flatMap((o) => o.value.problems)].map((p) => `${p.code}@${p.span.column}`);

describe('convert', () => {
  test('values are read by their type: durations in ms, counts, addresses, stores, flags, choices', () => {
    const [pause, policy, greylist] = steps(
      'chain c = pause 3s pregreet disconnect "421 bye" pay-once 1d\n  then postgrey unix:/run/p.sock timeout 5s\n  then greylist delay 10m auto-whitelist 3 store "redis://h/2" header',
    );
    assert.equal(pause?.argument?.value, 3000);
    assert.deepEqual(
      pause?.options.map((o) => [o.spec.name, o.value.value]),
      [
        ['pregreet', { word: 'disconnect', reply: '421 bye' }],
        ['pay-once', 86_400_000],
      ],
    );
    assert.deepEqual(policy?.argument?.value, { kind: 'unix', path: '/run/p.sock' });
    assert.equal(policy?.definition.keyword, 'postgrey');
    assert.deepEqual(
      greylist?.options.map((o) => [o.spec.name, o.value.value]),
      [
        ['delay', 600_000],
        ['auto-whitelist', 3],
        ['store', 'redis://h/2'],
        ['header', true],
      ],
    );
    assert.deepEqual([...(greylist?.written ?? [])], ['delay', 'auto-whitelist', 'store', 'header']);
    assert.equal(greylist?.placement.phase, 'rcpt-to');
  });

  test('a value with an error is null, with its coded problem at the value (a choice: at its reply)', () => {
    const [pause, reject] = steps('chain c = pause 301s pregreet disconnect "250 ok" pay-once 1x\n  then reject "550 caf\u00e9" at helo');
    assert.equal(pause?.argument?.value, null);
    assert.deepEqual(
      pause?.options.map((o) => o.value.value),
      [null, null],
    );
    assert.deepEqual(problems(pause), ['E021@17', 'E030@42', 'E020@60']);
    // A warning leaves the value.
    assert.equal(reject?.argument?.value, '550 caf\u00e9');
    assert.deepEqual(problems(reject), ['W006@15']);
  });

  test('options the step does not take are set apart and not read; the first when, at and on-error are kept', () => {
    const [accept] = steps('chain c = accept delay 0s at helo at data on-error proceed timeout 1x when src ~ /a/');
    assert.deepEqual(
      accept?.foreign.map((o) => o.kind),
      ['delay', 'timeout'],
    );
    assert.deepEqual(accept?.options, []);
    assert.deepEqual(problems(accept), []);
    assert.equal(accept?.at?.phase, 'helo');
    assert.equal(accept?.onError, 'proceed');
    assert.ok(accept?.when !== null);
    assert.equal(accept?.argument, null);
  });
});
