/**
 * A rules file that is not UTF-8 (support/read-file.ts): refused at its first
 * bad byte (E062 in the compiler), because decoded anyway a Latin-1 reply text
 * would reach SMTP clients as U+FFFD. List files are read as before.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { compileRulesFile, formatCompileResult } from '../../../src/dsl/index.js';
import { FileRefused, firstInvalidUtf8, readRulesFile, readRulesFileSync } from '../../../src/support/read-file.js';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('firstInvalidUtf8', () => {
  test('agrees with isUtf8 on any bytes, and everything before it is UTF-8', () => {
    // Bytes biased towards the interesting ones: lead bytes, continuations, ASCII.
    const byte = fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0xbf }), fc.integer({ min: 0xc0, max: 0xff }));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 24 }), (xs) => {
        const bytes = Buffer.from(xs);
        const at = firstInvalidUtf8(bytes);
        assert.equal(at === bytes.length, isUtf8(bytes));
        assert.ok(isUtf8(bytes.subarray(0, at)));
      }),
      { numRuns: 20_000 },
    );
  });

  test('the forms the decoder refuses: overlong, surrogates, past U+10FFFF, truncated', () => {
    for (const bad of [[0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xe2, 0x82]]) {
      assert.equal(firstInvalidUtf8(Buffer.from([0x41, ...bad])), 1, bad.join(' '));
    }
    assert.equal(firstInvalidUtf8(Buffer.from('aé€😀', 'utf8')), Buffer.byteLength('aé€😀'));
  });
});

describe('reading a rules file that is not UTF-8', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-utf8-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const TEXT = '# Rückweisung\r\nchain main =\n    reject "550 5.7.1 abgelehnt: Ungültige Adresse" when helo ~ /x/\n';

  test('both readers refuse it at the first bad byte: line (CRLF and LF both end one), column (UTF-16 units, as diagnostics count)', async () => {
    const file = join(dir, 'main.rules');
    // The comment line is UTF-8; the reply was typed in a Latin-1 editor.
    writeFileSync(
      file,
      Buffer.concat([Buffer.from('# Rückweisung\r\nchain main =\n    reject "550 5.7.1 😀 ', 'utf8'), latin1('Ungültige Adresse" when helo ~ /x/\n')]),
    );
    // `    reject "550 5.7.1 ` is 22 units, the emoji 2, then a space and `Ung`: the ü is at column 29.
    const expected = { kind: 'not-utf8', byte: 0xfc, line: 3, column: 29 };
    assert.throws(() => readRulesFileSync(file, 'rules'), (e: unknown) => e instanceof FileRefused && e.code === 'EILSEQ' && assert.deepEqual(e.reason, expected) === undefined);
    await assert.rejects(readRulesFile(file, 'rules'), (e: unknown) => e instanceof FileRefused && assert.deepEqual(e.reason, expected) === undefined);
  });

  test('the compiler: E062 at the byte, with the way out', () => {
    const file = join(dir, 'main.rules');
    writeFileSync(file, latin1(TEXT));
    const r = compileRulesFile(file);
    assert.ok(!r.ok);
    assert.equal(r.diagnostics.length, 1);
    assert.match(
      formatCompileResult(r),
      new RegExp(`^${file.replace(/[.\\/]/g, '\\$&')}:1:4: error\\[E062\\]: rules file ".*main\\.rules" is not UTF-8 text: byte 0xFC at line 1, column 4 is not UTF-8\\n`),
    );
    assert.match(formatCompileResult(r), /iconv -f latin1 -t utf-8/);
  });

  test('the same text in UTF-8 compiles; a list file with a Latin-1 comment is read as before', () => {
    const file = join(dir, 'main.rules');
    writeFileSync(file, `list senders = file "senders.list"\n${TEXT.replace('helo ~ /x/', 'mail-from in senders')}`);
    writeFileSync(join(dir, 'senders.list'), Buffer.concat([latin1('# Gäste\n'), Buffer.from('spam@example.com\n')]));
    const r = compileRulesFile(file);
    assert.ok(r.ok, formatCompileResult(r));
    assert.match(readRulesFileSync(join(dir, 'senders.list'), 'list'), /^# G\uFFFDste\n/);
  });
});
