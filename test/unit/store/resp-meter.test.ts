/**
 * RespReplyMeter: the size of the reply being received, however the bytes
 * are chunked; complete replies reset it; a reply over the cap (or one that
 * promises to be) is refused, and before its payload when its header says so.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RespReplyMeter, type MeterVerdict } from '../../../src/store/resp-meter.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Feed `bytes` in pieces of `size`; the verdicts. */
function feed(meter: RespReplyMeter, bytes: Buffer, size: number): MeterVerdict[] {
  const out: MeterVerdict[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(meter.push(bytes.subarray(i, i + size)));
  return out;
}

/** Replies as Redis sends them, and their sizes. */
const REPLIES: readonly string[] = [
  '+OK\r\n',
  '-ERR unknown command\r\n',
  ':1796279070501\r\n',
  '$5\r\nhello\r\n',
  '$0\r\n\r\n',
  '$-1\r\n',
  '*-1\r\n',
  '*0\r\n',
  // The greylist script's verdict.
  '*4\r\n$8\r\ngreylist\r\n$3\r\nnew\r\n$6\r\n300000\r\n$13\r\n1796279070501\r\n',
  // Nested, with nulls and an empty array inside.
  '*3\r\n*2\r\n:1\r\n$-1\r\n*0\r\n*1\r\n*1\r\n+x\r\n',
  // A bulk string holding CRLFs and RESP-looking bytes.
  '$12\r\n*1\r\n$1\r\nx\r\n+\r\n',
  // SCAN's reply: a cursor and keys.
  '*2\r\n$1\r\n0\r\n*2\r\n$25\r\nfilter-rules:greylist:t:a\r\n$25\r\nfilter-rules:greylist:t:b\r\n',
];

describe('RespReplyMeter', () => {
  test('every reply, in every chunk size: accepted, and nothing pending once it is complete', () => {
    for (const reply of REPLIES) {
      for (let size = 1; size <= reply.length; size++) {
        const meter = new RespReplyMeter(1024);
        const verdicts = feed(meter, b(reply), size);
        assert.ok(
          verdicts.every((v) => v.kind === 'ok'),
          `${JSON.stringify(reply)} in ${size}-byte chunks: ${JSON.stringify(verdicts)}`,
        );
        assert.equal(meter.pendingBytes, 0, `${JSON.stringify(reply)} in ${size}-byte chunks`);
      }
    }
  });

  test('many replies back to back (pipelined), in one chunk or byte by byte: each one counts alone', () => {
    const all = b(REPLIES.join('').repeat(50));
    const largest = Math.max(...REPLIES.map((r) => r.length));
    for (const size of [1, 7, all.length]) {
      const meter = new RespReplyMeter(largest);
      assert.ok(feed(meter, all, size).every((v) => v.kind === 'ok'));
      assert.equal(meter.pendingBytes, 0);
    }
  });

  test('a reply of exactly the cap is accepted; one byte more is refused', () => {
    const reply = '$10\r\n0123456789\r\n'; // 17 bytes
    assert.deepEqual(new RespReplyMeter(17).push(b(reply)), { kind: 'ok' });
    const meter = new RespReplyMeter(16);
    // Refused at its header: the length says it will not fit.
    assert.deepEqual(meter.push(b('$10\r\n')), { kind: 'too-large', bytes: 17 });
    const line = new RespReplyMeter(4);
    assert.deepEqual(line.push(b('+OK\r\n')), { kind: 'too-large', bytes: 5 });
    assert.deepEqual(new RespReplyMeter(5).push(b('+OK\r\n')), { kind: 'ok' });
  });

  test('a huge bulk string is refused at its header, before a byte of payload', () => {
    const meter = new RespReplyMeter(1024 * 1024);
    assert.deepEqual(meter.push(b('$2000000000\r')), { kind: 'ok' });
    assert.deepEqual(meter.push(b('\n')), { kind: 'too-large', bytes: 2000000000 + 2 + 13 });
  });

  test('an array is held to 3 bytes per element not yet begun, at its header', () => {
    // `*349522` and its elements take at least 9 + 3 × 349522 = 1,048,575 bytes, within 1 MiB; one element more is not.
    assert.deepEqual(new RespReplyMeter(1024 * 1024).push(b('*349522\r\n')), { kind: 'ok' });
    assert.deepEqual(new RespReplyMeter(1024 * 1024).push(b('*349523\r\n')), { kind: 'too-large', bytes: 9 + 3 * 349523 });
    const meter = new RespReplyMeter(1024 * 1024);
    assert.deepEqual(meter.push(b('*1000\r\n')), { kind: 'ok' });
    assert.equal(meter.pendingBytes, 7 + 3000);
    meter.push(b('$100\r\n'));
    // One element begun (its 100 bytes and CRLF promised), 999 to come.
    assert.equal(meter.pendingBytes, 7 + 6 + 102 + 3 * 999);
  });

  test('an endless line, or an array of small elements that keeps coming, is refused once past the cap', () => {
    const line = new RespReplyMeter(1000);
    assert.equal(line.push(b('+')).kind, 'ok');
    const chunk = Buffer.alloc(300, 0x78);
    assert.deepEqual(feed(line, Buffer.concat([chunk, chunk, chunk]), 300).map((v) => v.kind), ['ok', 'ok', 'ok']);
    assert.deepEqual(line.push(chunk), { kind: 'too-large', bytes: 1201 });

    const wide = new RespReplyMeter(1000);
    assert.equal(wide.push(b('*300\r\n')).kind, 'ok');
    let verdict: MeterVerdict = { kind: 'ok' };
    let sent = 0;
    while (verdict.kind === 'ok' && sent < 300) {
      verdict = wide.push(b('$1\r\nz\r\n'));
      sent++;
    }
    // After k elements: 6 + 7k received, 3 × (300 − k) promised; over 1000 from k = 24.
    assert.equal(verdict.kind, 'too-large');
    assert.equal(sent, 24);
  });

  test('nesting: a reply is complete only when its outermost array is', () => {
    const meter = new RespReplyMeter(1024);
    meter.push(b('*2\r\n*1\r\n:1\r\n'));
    assert.equal(meter.pendingBytes, 4 + 4 + 4 + 3);
    meter.push(b(':2\r\n'));
    assert.equal(meter.pendingBytes, 0);
  });

  test('bytes that are not RESP2 are a protocol error, and the meter stays failed', () => {
    const cases: [string, RegExp][] = [
      ['>2\r\n', /reply type byte 0x3e/],
      ['%1\r\n', /reply type byte 0x25/],
      ['HTTP/1.1 400 Bad Request\r\n', /reply type byte 0x48/],
      ['$\r\n', /without digits/],
      ['$1x\r\n', /malformed length/],
      ['*--1\r\n', /malformed length/],
      ['$12345678901234567\r\n', /malformed length/],
      ['$1\rx', /without LF/],
    ];
    for (const [bytes, detail] of cases) {
      const meter = new RespReplyMeter(1024);
      const verdict = meter.push(b(bytes));
      assert.equal(verdict.kind, 'protocol-error', bytes);
      assert.match(verdict.kind === 'protocol-error' ? verdict.detail : '', detail, bytes);
      assert.deepEqual(meter.push(b('+OK\r\n')), verdict, `${bytes}: stays failed`);
    }
  });

  test('random replies in random chunks: refused exactly when larger than the cap', () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const value = (depth: number): string => {
      switch (rand(depth > 3 ? 4 : 6)) {
        case 0:
          return `+${'s'.repeat(rand(20))}\r\n`;
        case 1:
          return `:${rand(1e6)}\r\n`;
        case 2: {
          const s = 'b\r\n'.repeat(rand(30));
          return `$${s.length}\r\n${s}\r\n`;
        }
        case 3:
          return rand(2) === 0 ? '$-1\r\n' : '*-1\r\n';
        default: {
          const n = rand(6);
          return `*${n}\r\n${Array.from({ length: n }, () => value(depth + 1)).join('')}`;
        }
      }
    };
    for (let round = 0; round < 500; round++) {
      const reply = value(0);
      const cap = Math.max(3, reply.length + rand(21) - 10);
      const meter = new RespReplyMeter(cap);
      const bytes = b(reply);
      let verdict: MeterVerdict = { kind: 'ok' };
      for (let i = 0; i < bytes.length && verdict.kind === 'ok'; ) {
        const size = 1 + rand(8);
        verdict = meter.push(bytes.subarray(i, i + size));
        i += size;
      }
      assert.equal(verdict.kind, reply.length > cap ? 'too-large' : 'ok', `${JSON.stringify(reply)} with a cap of ${cap}`);
      if (verdict.kind === 'ok') assert.equal(meter.pendingBytes, 0);
    }
  });

  test('the cap is validated', () => {
    for (const bad of [0, 2, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new RespReplyMeter(bad), RangeError, String(bad));
    }
  });
});
