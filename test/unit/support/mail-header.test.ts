import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_HEADER_LINE_OCTETS, sanitizeHeaderLine } from '../../../src/support/mail-header.js';

function line(text: string): string {
  const r = sanitizeHeaderLine(text);
  assert.ok(r.ok, `${JSON.stringify(text)}: ${r.ok ? '' : r.error}`);
  return r.value.line;
}

describe('sanitizeHeaderLine', () => {
  test('a clean header passes unchanged, with nothing fixed', () => {
    const r = sanitizeHeaderLine('X-Greylist: delayed 3 seconds by postgrey-1.37 at vm; Wed, 25 Nov 2026 20:28:14 UTC');
    assert.ok(r.ok);
    assert.equal(r.value.line, 'X-Greylist: delayed 3 seconds by postgrey-1.37 at vm; Wed, 25 Nov 2026 20:28:14 UTC');
    assert.deepEqual(r.value.fixed, []);
  });

  test('controls other than HTAB become spaces: NUL, VT, FF, ESC, CR, LF, DEL, C1', () => {
    assert.equal(line('X-A: 1\x002\x0b3\x0c4\x1b[0m5\r6\n7\x7f8\u00859\u009f0\tend'), 'X-A: 1 2 3 4 [0m5 6 7 8 9 0\tend');
    const r = sanitizeHeaderLine('X-A: a\x1bb');
    assert.ok(r.ok);
    assert.deepEqual(r.value.fixed, ['controls']);
  });

  test('UTF-8 text (RFC 6532) stays; a lone surrogate, which is not text, becomes a space', () => {
    assert.equal(line('X-A: Grüße 😀 \ufffd'), 'X-A: Grüße 😀 \ufffd');
    assert.equal(line('X-A: a\ud800b\udc00c'), 'X-A: a b c');
  });

  test('the name must be printable ASCII without space or colon, then a colon', () => {
    for (const bad of ['', 'no colon', ': empty', 'Bad Name: x', 'X\x1b: y', 'Ü: x', '\tX: y']) {
      assert.equal(sanitizeHeaderLine(bad).ok, false, JSON.stringify(bad));
    }
    assert.equal(line('X-A:'), 'X-A:');
  });

  test('longer than 998 octets: cut there, never inside a character', () => {
    const r = sanitizeHeaderLine(`X-A: ${'€'.repeat(400)}`);
    assert.ok(r.ok);
    assert.deepEqual(r.value.fixed, ['cut']);
    const octets = Buffer.byteLength(r.value.line);
    assert.ok(octets <= MAX_HEADER_LINE_OCTETS && octets > MAX_HEADER_LINE_OCTETS - 3, String(octets));
    assert.ok(!r.value.line.includes('\ufffd'));
    assert.equal(line(`X-A: ${'x'.repeat(993)}`).length, 998, 'exactly 998 octets is fine');
  });

  test('property: whatever the value, the result is one line of at most 998 octets without controls but HTAB, and sanitising again changes nothing', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 1200 }), (value) => {
        const r = sanitizeHeaderLine(`X-Fuzz: ${value}`);
        assert.ok(r.ok);
        assert.ok(!/[\x00-\x08\x0a-\x1f\x7f-\x9f]/.test(r.value.line));
        assert.ok(Buffer.byteLength(r.value.line) <= MAX_HEADER_LINE_OCTETS);
        assert.equal(Buffer.from(r.value.line, 'utf8').toString('utf8'), r.value.line, 'well-formed UTF-16: written as is');
        const again = sanitizeHeaderLine(r.value.line);
        assert.ok(again.ok);
        assert.equal(again.value.line, r.value.line);
        assert.deepEqual(again.value.fixed, []);
      }),
    );
  });
});
