import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lex } from '../../../src/dsl/lexer.js';
import { SourceText } from '../../../src/dsl/source.js';

function kinds(text: string): string[] {
  return lex(new SourceText('t.rules', text)).tokens.map((t) => `${t.tokenType.name}:${t.image}`);
}

function problems(text: string): string[] {
  return lex(new SourceText('t.rules', text)).diagnostics.map((d) => `${d.code}@${d.span.line}:${d.span.column}-${d.span.endColumn}`);
}

describe('lexer', () => {
  test('keywords, names, numbers; comments and newlines are skipped', () => {
    assert.deepEqual(kinds('chain main = # comment\n  pause 3s\n  then accept'), [
      'Chain:chain',
      'Identifier:main',
      'Equals:=',
      'Pause:pause',
      'NumberLiteral:3s',
      'Then:then',
      'Accept:accept',
    ]);
  });

  test('hyphenated keywords and names that merely start with a keyword', () => {
    assert.deepEqual(kinds('mail-from rcpt-to on-error max-age index connected helo-ish'), [
      'MailFrom:mail-from',
      'RcptTo:rcpt-to',
      'OnError:on-error',
      'MaxAge:max-age',
      'Identifier:index',
      'Identifier:connected',
      'Identifier:helo-ish',
    ]);
  });

  test('policy server addresses are one token, verbatim', () => {
    assert.deepEqual(kinds('postgrey unix:/run/postgrey/postgrey.sock policy tcp:[::1]:10023 tcp:127.0.0.1:10031'), [
      'Postgrey:postgrey',
      'SocketAddress:unix:/run/postgrey/postgrey.sock',
      'Policy:policy',
      'SocketAddress:tcp:[::1]:10023',
      'SocketAddress:tcp:127.0.0.1:10031',
    ]);
  });

  test("Postfix's inet: and any other word: are one address token too (the checker judges the kind)", () => {
    assert.deepEqual(kinds('policy inet:127.0.0.1:10023 policy tpc:127.0.0.1:1'), [
      'Policy:policy',
      'SocketAddress:inet:127.0.0.1:10023',
      'Policy:policy',
      'SocketAddress:tpc:127.0.0.1:1',
    ]);
  });

  test('inside braces, addresses, ranges and patterns are single items', () => {
    assert.deepEqual(kinds('{ 127.0.0.0/8, ::1, ::ffff:192.0.2.1, *.example.com, .example.net, a@b.c, "" }'), [
      'LBrace:{',
      'ListItem:127.0.0.0/8',
      'Comma:,',
      'ListItem:::1',
      'Comma:,',
      'ListItem:::ffff:192.0.2.1',
      'Comma:,',
      'ListItem:*.example.com',
      'Comma:,',
      'ListItem:.example.net',
      'Comma:,',
      'ListItem:a@b.c',
      'Comma:,',
      'StringLiteral:""',
      'RBrace:}',
    ]);
  });

  test('regex literals keep escapes, including escaped slashes, and take flags', () => {
    assert.deepEqual(kinds('helo ~ /^\\[?[0-9.]+\\]?$/ rdns ~ /a\\/b/i'), [
      'Helo:helo',
      'Tilde:~',
      'RegexLiteral:/^\\[?[0-9.]+\\]?$/',
      'Rdns:rdns',
      'Tilde:~',
      'RegexLiteral:/a\\/b/i',
    ]);
  });

  test('a # inside a string or regex does not start a comment', () => {
    assert.deepEqual(kinds('reject "550 #1" when helo ~ /#x/'), [
      'Reject:reject',
      'StringLiteral:"550 #1"',
      'When:when',
      'Helo:helo',
      'Tilde:~',
      'RegexLiteral:/#x/',
    ]);
  });

  test('CRLF and CR line ends count as one line each', () => {
    const d = lex(new SourceText('t.rules', 'chain a =\r\n pause 3s\r\r ;')).diagnostics;
    assert.equal(d.length, 1);
    assert.equal(d[0]?.span.line, 4);
    assert.equal(d[0]?.span.column, 2);
  });

  test('every unexpected character is reported, not only the first', () => {
    assert.deepEqual(problems('pause 3s; then junk when !rdns'), ['E001@1:9-10', 'E001@1:26-27']);
  });

  test('an unterminated string is reported once and passed on as a string', () => {
    const r = lex(new SourceText('t.rules', 'reject "550 no\nthen junk'));
    assert.deepEqual(
      r.diagnostics.map((d) => d.code),
      ['E002'],
    );
    assert.deepEqual(
      r.tokens.map((t) => t.tokenType.name),
      ['Reject', 'StringLiteral', 'Then', 'Junk'],
    );
  });

  test('an unterminated regex is reported once and passed on as a regex', () => {
    const r = lex(new SourceText('t.rules', 'helo ~ /abc\nthen junk'));
    assert.deepEqual(
      r.diagnostics.map((d) => `${d.code}@${d.span.line}:${d.span.column}`),
      ['E003@1:8'],
    );
    assert.equal(r.tokens[2]?.tokenType.name, 'RegexLiteral');
  });

  test('single-quoted strings get a hint and are read as strings', () => {
    const r = lex(new SourceText('t.rules', "reject '550 no'"));
    assert.equal(r.diagnostics[0]?.code, 'E001');
    assert.match(r.diagnostics[0]?.hint ?? '', /double quotes/);
    assert.equal(r.tokens[1]?.tokenType.name, 'StringLiteral');
  });

  test('a keyword that usually follows a list ends an unclosed list', () => {
    assert.deepEqual(kinds('{ 1.2.3.4\nchain x'), ['LBrace:{', 'ListItem:1.2.3.4', 'ChainInList:chain', 'Identifier:x']);
    // ...but not when it is only the start of an item.
    assert.deepEqual(kinds('{ chained.example }'), ['LBrace:{', 'ListItem:chained.example', 'RBrace:}']);
  });
});
