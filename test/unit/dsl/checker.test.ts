import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { codes, compile } from './helpers.js';

/** Each snippet must produce exactly these codes (errors and warnings, in report order). */
const CASES: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  ['no chain', 'list a = { 10.0.0.1 }', ['E007', 'W001']],
  ['empty file', '', ['E007']],
  ['comments only', '# nothing\n', ['E007']],
  ['undefined list', 'chain c = accept when src in nope', ['E010']],
  ['duplicate list', 'list a = { 10.0.0.1 }\nlist a = { 10.0.0.2 }\nchain c = accept when src in a', ['E011']],
  ['duplicate chain', 'chain c = accept\nchain c = pause 1s', ['E012']],
  ['malformed IPv4', 'chain c = accept when src in { 10.0.0.256 }', ['E014']],
  ['bad prefix', 'chain c = accept when src in { 10.0.0.0/33 }', ['E014']],
  ['wildcard in the middle', 'chain c = accept when rdns in { mail.*.example }', ['E014']],
  ['address without local part', 'chain c = accept when mail-from in { @example.com }', ['E014']],
  ['domain in a src list', 'chain c = accept when src in { example.com }', ['E015']],
  ['address in an rdns list', 'chain c = accept when rdns in { a@example.com }', ['E015']],
  ['null sender for rcpt-to', 'chain c = accept when rcpt-to in { "" }', ['E015']],
  ['ip in a mail-from list', 'chain c = accept when mail-from in { 10.0.0.1 }', ['E015']],
  ['null sender for mail-from is fine', 'chain c = accept when mail-from in { "" }', []],
  ['IPs in a helo list are fine', 'chain c = accept when helo in { 192.0.2.1, localhost }', []],
  ['bad duration unit', 'chain c = pause 3sec', ['E020']],
  ['duration without unit', 'chain c = pause 3', ['E020']],
  ['pause too long', 'chain c = pause 301s', ['E021']],
  ['pause of zero', 'chain c = pause 0ms', ['E021']],
  ['pause of 300s is the limit', 'chain c = pause 300s', []],
  ['count with a unit', 'chain c = greylist auto-whitelist 5s', ['E022']],
  ['prefix out of range', 'chain c = greylist ipv6-prefix 129', ['E023']],
  ['unix socket path not absolute', 'chain c = postgrey unix:postgrey.sock', ['E024']],
  ['tcp without port', 'chain c = policy tcp:localhost', ['E024']],
  ['tcp port out of range', 'chain c = policy tcp:localhost:70000', ['E024']],
  ['bare IPv6 host', 'chain c = policy tcp:::1:10023', ['E024']],
  ['inet is tcp', 'chain c = policy inet:127.0.0.1:10023', []],
  ['inet without port', 'chain c = policy inet:localhost', ['E024']],
  ['a typo in the kind of address: one error', 'chain c = policy tpc:127.0.0.1:10023', ['E024']],
  ['an unknown kind of address: one error', 'chain c = policy local:/run/p.sock', ['E024']],
  ['bad store', 'chain c = greylist store "/var/lib/x.db"', ['E025']],
  ['relative sqlite store', 'chain c = greylist store "sqlite:x.db"', ['E025']],
  ['delay not shorter than retry window', 'chain c = greylist delay 1h retry-window 30m', ['E026']],
  ['2xx reply', 'chain c = reject "250 ok" at helo', ['E030']],
  ['multi-line reply', 'chain c = reject "550-x" at helo', ['E030']],
  ['reply code only', 'chain c = disconnect "554"', ['E030']],
  ['reply with LF escape', 'chain c = reject "550 a\\nb" at helo', ['E031']],
  ['reply with NUL escape', 'chain c = reject "550 a\\0b" at helo', ['E031']],
  ['reply too long', `chain c = reject "550 ${'x'.repeat(520)}" at helo`, ['E032']],
  ['unknown escape', 'chain c = reject "550 \\x41" at helo', ['E006']],
  ['junk at commit', 'chain c = junk at commit', ['E040']],
  ['at earlier than the condition allows', 'chain c = junk when mail-from ~ /x/ at helo', ['E041']],
  ['policy at helo', 'chain c = postgrey unix:/run/p.sock at helo', ['E042']],
  ['greylist at connect', 'chain c = greylist at connect', ['E042']],
  ['policy at mail-from is allowed', 'chain c = postgrey unix:/run/p.sock at mail-from', []],
  ['option of another step', 'chain c = accept header', ['E043']],
  ['option twice', 'chain c = pause 1s at helo at data', ['E044']],
  ['fcrdns with a regex', 'chain c = accept when fcrdns ~ /x/', ['E045']],
  ['bare src', 'chain c = accept when src', ['E045']],
  ['bare mail-from', 'chain c = accept when mail-from', ['E045']],
  ['backreference', 'chain c = accept when helo ~ /(x)\\1/', ['E050']],
  ['lookahead', 'chain c = accept when helo ~ /(?=x)/', ['E050']],
  ['empty regex', 'chain c = accept when helo ~ //', ['E050']],
  ['unknown flag', 'chain c = accept when helo ~ /x/g', ['E051']],
  ['flag i is accepted', 'chain c = accept when helo ~ /x/i', []],
  ['unused list', 'list a = { 10.0.0.1 }\nchain c = accept', ['W001']],
  ['empty list', 'chain c = accept when src in {}', ['W002']],
  ['host bits', 'chain c = accept when src in { 10.0.0.1/8 }', ['W003']],
  ['421 reject', 'chain c = reject "421 4.7.0 later" at helo', ['W004']],
  ['reject at connect', 'chain c = reject "550 5.7.1 no" when src in { 10.0.0.0/8 }', ['W005']],
  ['non-ASCII reply', 'chain c = reject "550 5.7.1 café" at helo', ['W006']],
  ['after an unconditional accept', 'chain c = accept then pause 1s', ['W007']],
  ['later phase after an unconditional accept', 'chain c = pause 1s at helo then accept', ['W007']],
  ['after an unconditional disconnect', 'chain c = disconnect "554 no" then junk when helo ~ /x/', ['W007']],
  ['reject hides only its own phase', 'chain c = reject "550 no" at helo then junk when mail-from ~ /x/', []],
  ['accept at rcpt-to leaves data alone', 'chain c = accept at rcpt-to then pause 1s at data', []],
  ['a conditional accept hides nothing', 'chain c = accept when src in { 10.0.0.0/8 } then pause 1s', []],
  ['pregreet in a chain named smtps', 'chain smtps = pause 1s pregreet disconnect', ['W009']],
  ['pregreet in a chain named for 465', 'chain mx_465 = pause 1s pregreet log', ['W009']],
  ['pregreet in a chain named submissions-in', 'chain submissions-in = accept when src in { 10.0.0.0/8 } then pause 1s pregreet disconnect', ['W009']],
  ['a pause without pregreet in an smtps chain', 'chain smtps = pause 1s pay-once 1d', []],
  ['pregreet in other chains', 'chain inbound = pause 1s pregreet disconnect\nchain submission = pause 1s pregreet disconnect\nchain mx4650 = pause 1s pregreet log\nchain smtpsecure = pause 1s pregreet log', []],
];

describe('checker', () => {
  for (const [name, source, expected] of CASES) {
    test(`${name}: ${expected.length === 0 ? 'no diagnostics' : expected.join(', ')}`, () => {
      assert.deepEqual(codes(source), expected);
    });
  }

  test('every semantic error of a file is reported at once, sorted by place', () => {
    const r = compile('chain c =\n  pause 3sec\n  then accept when src in nope\n  then junk at commit\n  then reject "250 ok" at helo');
    assert.ok(!r.ok);
    assert.deepEqual(
      r.diagnostics.map((d) => `${d.code}@${d.span.line}`),
      ['E020@2', 'E010@3', 'E040@4', 'E030@5'],
    );
  });

  test('an undefined list suggests the closest defined name', () => {
    const r = compile('list trusted = { 10.0.0.1 }\nchain c = accept when src in trustd');
    assert.ok(!r.ok);
    const e = r.diagnostics.find((d) => d.code === 'E010');
    assert.equal(e?.hint, 'did you mean "trusted"?');
  });

  test('a typo in a policy address kind is one error on the whole address, with the corrected address as the hint', () => {
    for (const [written, hint] of [
      ['tpc:127.0.0.1:10023', 'did you mean "tcp:127.0.0.1:10023"?'],
      ['inte:127.0.0.1:10023', 'did you mean "inet:127.0.0.1:10023"?'],
      ['unx:/run/p.sock', 'did you mean "unix:/run/p.sock"?'],
    ] as const) {
      const r = compile(`chain c = policy ${written}`);
      assert.ok(!r.ok);
      assert.equal(r.diagnostics.length, 1, written);
      const e = r.diagnostics[0];
      assert.equal(e?.code, 'E024');
      assert.equal(e?.span.column, 18);
      assert.equal(e?.span.endColumn, 18 + written.length);
      assert.equal(e?.hint, hint);
    }
    // Nothing close: the hint lists the forms, inet included.
    const far = compile('chain c = policy local:/run/p.sock');
    assert.ok(!far.ok);
    assert.match(far.diagnostics[0]?.hint ?? '', /unix:\/absolute\/path, tcp:host:port \(inet:host:port/);
  });

  test('duplicates point at both definitions', () => {
    const r = compile('list a = { 10.0.0.1 }\nlist a = { 10.0.0.2 }\nchain c = accept when src in a');
    assert.ok(!r.ok);
    const d = r.diagnostics[0];
    assert.equal(d?.span.line, 2);
    assert.equal(d?.related?.[0]?.span.line, 1);
  });

  test('an item misfit points at the item and at the use', () => {
    const r = compile('list a = { 10.0.0.1, example.com }\nchain c = accept when src in a');
    assert.ok(!r.ok);
    const d = r.diagnostics[0];
    assert.equal(d?.code, 'E015');
    assert.deepEqual([d?.span.line, d?.span.column], [1, 22]);
    assert.deepEqual([d?.related?.[0]?.span.line, d?.related?.[0]?.span.column], [2, 30]);
  });

  test('W009 points at `pregreet`, with the chain name as the related place', () => {
    const r = compile('chain smtps =\n    pause 3s pregreet disconnect');
    assert.ok(r.ok);
    const w = r.warnings.find((d) => d.code === 'W009');
    assert.deepEqual([w?.span.line, w?.span.column], [2, 14]);
    assert.deepEqual([w?.related?.[0]?.span.line, w?.related?.[0]?.span.column], [1, 7]);
    assert.match(w?.hint ?? '', /--smtps-ports/);
  });

  test('an impossible `at` points at the `at` and at the field that needs the later phase', () => {
    const r = compile('chain c = junk when helo ~ /x/ or rcpt-to in { a@b.example } at mail-from');
    assert.ok(!r.ok);
    const d = r.diagnostics[0];
    assert.equal(d?.code, 'E041');
    assert.match(d?.message ?? '', /rcpt-to/);
    assert.equal(d?.related?.[0]?.span.column, 35);
  });
});
