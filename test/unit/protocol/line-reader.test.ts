import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeLine, LineReader } from '../../../src/protocol/line-reader.js';

/** Lines as their bytes (shown as latin1), whatever the reader decoded them as. */
function reader(max?: number): { r: LineReader; lines: string[]; oversize: number[] } {
  const lines: string[] = [];
  const oversize: number[] = [];
  const r = new LineReader(
    { line: (text, encoding) => lines.push(Buffer.from(text, encoding).toString('latin1')), oversize: (n) => oversize.push(n) },
    max,
  );
  return { r, lines, oversize };
}

describe('LineReader', () => {
  test('splits on LF only; a CR stays part of the line', () => {
    const { r, lines } = reader();
    r.push(Buffer.from('a|b\r\nc\n\nd\re\n'));
    assert.deepEqual(lines, ['a|b\r', 'c', '', 'd\re']);
  });

  test('any chunk boundary gives the same lines', () => {
    const input = Buffer.from('config|ready\nreport|0.6|1|smtp-in|x|y\n\nfilter|0.6|1|smtp-in|data-line|a|b|..dot\nlast\n');
    const expected = input.toString('latin1').split('\n').slice(0, -1);
    for (let size = 1; size <= input.length; size++) {
      const { r, lines } = reader();
      for (let i = 0; i < input.length; i += size) r.push(input.subarray(i, i + size));
      assert.deepEqual(lines, expected, `chunk size ${size}`);
    }
  });

  test('a line split across chunks is not corrupted when the input buffer is reused', () => {
    const { r, lines } = reader();
    const chunk = Buffer.from('hello wo');
    r.push(chunk);
    chunk.fill(0x21); // the stream may reuse its buffer after push returns
    r.push(Buffer.from('rld\n'));
    assert.deepEqual(lines, ['hello world']);
  });

  test('a line over the limit is dropped without buffering it, then the reader resyncs', () => {
    const { r, lines, oversize } = reader(10);
    r.push(Buffer.from('ok\n0123456789'));
    r.push(Buffer.from('abcdef'));
    r.push(Buffer.from('ghij\nnext\n'));
    assert.deepEqual(lines, ['ok', 'next']);
    assert.deepEqual(oversize, [20]);
    // Exactly at the limit is fine.
    r.push(Buffer.from('0123456789\n'));
    assert.deepEqual(lines, ['ok', 'next', '0123456789']);
  });

  test('a multi-megabyte line in one chunk is dropped too', () => {
    const { r, lines, oversize } = reader(1024 * 1024);
    r.push(Buffer.concat([Buffer.alloc(3 * 1024 * 1024, 0x41), Buffer.from('\nafter\n')]));
    assert.deepEqual(lines, ['after']);
    assert.deepEqual(oversize, [3 * 1024 * 1024]);
  });

  test('a data-line as long as smtpd can send (~65.6 KB) passes the default limit', () => {
    const { r, lines } = reader();
    const long = `filter|0.6|1|smtp-in|data-line|3689fe601e5436b4|1a9c37ffd8d15f2f|${'x'.repeat(65_535)}`;
    r.push(Buffer.from(`${long}\n`));
    assert.equal(lines[0], long);
  });

  test('each line is decoded on its own: UTF-8 as UTF-8, an 8-bit line next to it as latin1', () => {
    const texts: [string, string][] = [];
    const r = new LineReader({ line: (text, encoding) => texts.push([text, encoding]), oversize: () => {} });
    const latin1 = Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65]);
    r.push(Buffer.concat([Buffer.from('ascii|line\nGrüße|ß\n'), latin1, Buffer.from('\nlast\n')]));
    assert.deepEqual(texts, [
      ['ascii|line', 'utf8'],
      ['Grüße|ß', 'utf8'],
      [latin1.toString('latin1'), 'latin1'],
      ['last', 'utf8'],
    ]);
    r.push(Buffer.from('only ascii\nand Grüße\n'));
    assert.deepEqual(texts.slice(4), [
      ['only ascii', 'utf8'],
      ['and Grüße', 'utf8'],
    ]);
  });

  test('a UTF-8 character split across chunks is decoded whole', () => {
    const texts: string[] = [];
    const r = new LineReader({ line: (text) => texts.push(text), oversize: () => {} });
    const bytes = Buffer.from('a\nGrüße\nb\n');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two bytes of ü
    r.push(bytes.subarray(0, cut));
    r.push(bytes.subarray(cut));
    assert.deepEqual(texts, ['a', 'Grüße', 'b']);
  });

  test('lines do not share memory with the input chunk', () => {
    const { r, lines } = reader();
    const chunk = Buffer.from('first\nsecond\n');
    r.push(chunk);
    chunk.fill(0x21);
    assert.deepEqual(lines, ['first', 'second']);
  });

  test('an oversize line between normal lines of one chunk is dropped alone', () => {
    const { r, lines, oversize } = reader(8);
    r.push(Buffer.from('short\n0123456789abc\nok\n'));
    assert.deepEqual(lines, ['short', 'ok']);
    assert.deepEqual(oversize, [13]);
  });

  test('end(): an incomplete last line is not delivered, its size is reported', () => {
    const { r, lines } = reader();
    r.push(Buffer.from('done\npart'));
    assert.equal(r.end(), 4);
    assert.deepEqual(lines, ['done']);
  });

  test('limits are validated', () => {
    assert.throws(() => new LineReader({ line: () => {}, oversize: () => {} }, 0), RangeError);
  });
});

describe('decodeLine', () => {
  test('valid UTF-8 is decoded as UTF-8', () => {
    const d = decodeLine(Buffer.from('Grüße', 'utf8'));
    assert.deepEqual(d, { text: 'Grüße', encoding: 'utf8' });
  });
  test('invalid UTF-8 (an 8-bit latin1 body) round-trips byte for byte', () => {
    const bytes = Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0xff, 0x80]);
    const d = decodeLine(bytes);
    assert.equal(d.encoding, 'latin1');
    assert.deepEqual(Buffer.from(d.text, d.encoding), bytes);
  });
});
