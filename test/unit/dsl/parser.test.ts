import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lex } from '../../../src/dsl/lexer.js';
import { parse } from '../../../src/dsl/parse.js';
import { SourceText } from '../../../src/dsl/source.js';
import { toAst } from '../../../src/dsl/to-ast.js';

function parseText(text: string) {
  const source = new SourceText('t.rules', text);
  const lexed = lex(source);
  const parsed = parse(lexed.tokens, source);
  return { source, lexed, parsed };
}

function errors(text: string): string[] {
  const { lexed, parsed } = parseText(text);
  return [...lexed.diagnostics, ...parsed.diagnostics].map((d) => `${d.code}@${d.span.line}:${d.span.column}${d.hint ? ` (${d.hint})` : ''}`);
}

function ast(text: string) {
  const { source, parsed } = parseText(text);
  assert.deepEqual(parsed.diagnostics, []);
  return toAst(parsed.cst, source).ast;
}

describe('parser', () => {
  test('the issue example parses into lists, a chain and five steps', () => {
    const a = ast(`
list trusted = { 127.0.0.0/8, ::1, 192.0.2.0/24 }
chain antispam =
    accept when src in trusted
    then pause 3s
    then reject "550 5.7.1 bare IP address in HELO" when helo ~ /^\\[?[0-9.]+\\]?$/
    then disconnect "421 4.7.0 go away" when mail-from ~ /^bulk@/
    then junk when rdns ~ /(dsl|dynamic|pool)[.-]/`);
    assert.deepEqual(
      a.lists.map((l) => l.name.name),
      ['trusted'],
    );
    const chain = a.chains[0];
    assert.equal(chain?.name.name, 'antispam');
    assert.deepEqual(
      chain?.steps.map((s) => s.action.kind),
      ['accept', 'pause', 'reject', 'disconnect', 'junk'],
    );
    const reject = chain?.steps[2];
    const when = reject?.options[0];
    assert.equal(when?.kind, 'when');
    if (when?.kind === 'when' && when.condition.kind === 'test' && when.condition.test.op === 'match') {
      assert.equal(when.condition.test.regex.pattern, '^\\[?[0-9.]+\\]?$');
    } else {
      assert.fail('expected a regex test');
    }
  });

  test('precedence: not binds tighter than and, and tighter than or', () => {
    const a = ast('chain c = accept when not rdns and fcrdns or helo ~ /x/');
    const w = a.chains[0]?.steps[0]?.options[0];
    assert.ok(w?.kind === 'when');
    const c = w.condition;
    assert.equal(c.kind, 'or');
    assert.ok(c.kind === 'or');
    assert.equal(c.operands[0]?.kind, 'and');
    const and = c.operands[0];
    assert.ok(and?.kind === 'and');
    assert.equal(and.operands[0]?.kind, 'not');
  });

  test('parentheses override precedence', () => {
    const a = ast('chain c = accept when not (rdns or fcrdns)');
    const w = a.chains[0]?.steps[0]?.options[0];
    assert.ok(w?.kind === 'when');
    assert.equal(w.condition.kind, 'not');
    assert.ok(w.condition.kind === 'not');
    assert.equal(w.condition.operand.kind, 'or');
  });

  test('step options come in any order', () => {
    const a = ast('chain c = greylist header on-error proceed delay 1m at data store "redis://127.0.0.1:6379/2" when src in { 192.0.2.0/24 }');
    assert.deepEqual(
      a.chains[0]?.steps[0]?.options.map((o) => o.kind),
      ['header', 'on-error', 'delay', 'at', 'store', 'when'],
    );
  });

  test('a chain may span lines and a list may end with a comma', () => {
    const a = ast('list l = {\n  a.example,\n  b.example,\n}\nchain c =\n  accept\n  when\n  rdns in l');
    assert.deepEqual(
      a.lists[0]?.body.kind === 'inline' ? a.lists[0].body.items.map((i) => i.text) : [],
      ['a.example', 'b.example'],
    );
  });

  test('`list NAME = file "PATH"`', () => {
    const a = ast('list l = file "lists/l.txt"\nchain c = accept when src in l');
    const body = a.lists[0]?.body;
    assert.ok(body?.kind === 'file');
    assert.equal(body.path.value, 'lists/l.txt');
  });

  test('a misspelt keyword gets a did-you-mean, and parsing goes on after it', () => {
    assert.deepEqual(errors('chain c = pause 3s\n tehn junk\n then pasue 1s\n then reject "550 x" when mial-from ~ /x/'), [
      'E004@2:2 (did you mean "then"?)',
      'E004@3:7 (did you mean "pause"?)',
      'E004@4:27 (did you mean "mail-from"?)',
    ]);
  });

  test('errors in several declarations are all reported', () => {
    assert.deepEqual(errors('chain a = pause\nchain b = accept when\nlist l = { a b }'), [
      'E004@2:1',
      'E004@3:1',
      'E004@3:14 (separate list items with commas)',
    ]);
  });

  test('an unclosed brace is reported at the brace, with where it should close', () => {
    const { parsed } = parseText('list l = { 1.2.3.4\nchain c = accept when src in l');
    assert.equal(parsed.diagnostics.length, 1);
    const d = parsed.diagnostics[0];
    assert.equal(d?.code, 'E005');
    assert.deepEqual([d?.span.line, d?.span.column], [1, 10]);
    assert.deepEqual([d?.related?.[0]?.span.line, d?.related?.[0]?.span.column], [2, 1]);
  });

  test('an unclosed brace at the end of the file', () => {
    assert.deepEqual(errors('chain c = accept when src in { 1.2.3.4'), ['E005@1:30 (close the list with `}`)']);
  });

  test('reserved words cannot name lists, and the message says so', () => {
    assert.deepEqual(errors('list data = { a.example }\nchain c = accept'), ['E004@1:6 ("data" is a reserved word; choose another name)']);
  });

  test('errors at the end of the file point inside the file', () => {
    const { source, parsed } = parseText('chain c =');
    const d = parsed.diagnostics[0];
    assert.ok(d);
    assert.equal(d.span.line, 1);
    assert.equal(d.span.column, source.text.length + 1);
  });

  test('a stray "}" and a doubled comma get messages of their own', () => {
    const { parsed } = parseText('chain c = accept }\nlist l = { a, , b }');
    assert.deepEqual(
      parsed.diagnostics.map((d) => `${d.span.line}:${d.span.column} ${d.message}`),
      ['1:18 unmatched "}": no list is open here', '2:15 expected a list item or "}", found ","'],
    );
  });

  test('conditions nested deeper than the limit are refused, not a stack overflow', () => {
    const ok = `chain c = accept when ${'not ('.repeat(25)}rdns${')'.repeat(25)}`;
    assert.deepEqual(errors(ok), []);
    for (const deep of [`chain c = accept when ${'('.repeat(5000)}rdns${')'.repeat(5000)}`, `chain c = accept when ${'not '.repeat(5000)}rdns`, `chain c = accept when ${'('.repeat(5000)}`]) {
      const found = errors(deep);
      assert.equal(found.length, 1);
      assert.match(found[0] ?? '', /^E009@1:/);
    }
    // Long flat conditions are fine.
    assert.deepEqual(errors(`chain c = accept when rdns${' and rdns'.repeat(5000)}`), []);
  });
});
