import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { MessageBuffer, type OutputDataLine } from '../../../src/message/buffer.js';
import type { HeaderEdit } from '../../../src/model/message.js';
import { makeField } from '../../../src/message/fields.js';
import { openFileSpool, type Spool, type SpoolOpener } from '../../../src/message/spool.js';

/** One data-line as smtpd sends it: its text and how the reader decoded it. */
interface InLine {
  readonly line: string;
  readonly encoding: 'utf8' | 'latin1';
}

const bytesOf = (l: InLine | OutputDataLine): Buffer => Buffer.from(l.line, l.encoding);

/** Lines of a message as the line reader gives them: valid UTF-8 as utf8, anything else as latin1 (bytes kept). */
const textLine = fc.oneof(
  fc.constantFrom('', '.', '..', '...x', ' folded', '\tfolded', 'Subject: hi', 'X-A: 1', 'no colon here', 'From : obs', '.hidden: x'),
  fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ' ')),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, ' ')),
);
const inLine: fc.Arbitrary<InLine> = fc.oneof(
  { weight: 4, arbitrary: textLine.map((line) => ({ line: stuffed(line), encoding: 'utf8' as const })) },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ maxLength: 30 })
      .map((a) => Buffer.from(a.filter((b) => b !== 0x0a)))
      .map((b) => ({ line: stuffed(b.toString('latin1')), encoding: 'latin1' as const })),
  },
);
const message = fc.array(inLine, { maxLength: 60 });

/** smtpd's stream is dot-stuffed: no line of it starts with a single `.` but the final one. */
function stuffed(line: string): string {
  return line.startsWith('.') ? `.${line}` : line;
}

function filled(lines: readonly InLine[], options: ConstructorParameters<typeof MessageBuffer>[0] = {}): MessageBuffer {
  const buffer = new MessageBuffer(options);
  for (const l of lines) buffer.push(l.line, l.encoding);
  buffer.end();
  return buffer;
}

function concat(chunks: Iterable<Uint8Array>): Buffer {
  return Buffer.concat([...chunks]);
}

/** A spool in a private directory, counting opens and closes. */
function countingSpools(): { opener: SpoolOpener; dir: string; opened: number; closed: number; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'msgbuf-test-'));
  const state = {
    dir,
    opened: 0,
    closed: 0,
    opener: (): Spool => {
      const spool = openFileSpool(dir);
      state.opened++;
      return {
        append: (b) => spool.append(b),
        readAt: (into, at) => spool.readAt(into, at),
        close: () => {
          state.closed++;
          spool.close();
        },
      };
    },
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
  return state;
}

describe('MessageBuffer', () => {
  test('property: what goes in comes out byte-identical and still dot-stuffed, in memory or spooled', () => {
    const spools = countingSpools();
    try {
      fc.assert(
        fc.property(message, fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 120 }), (lines, memoryCap, headerCap) => {
          const buffer = filled(lines, { memoryCap, headerCap, openSpool: spools.opener });
          const out = [...buffer.outputLines()];
          assert.deepEqual(out.map(bytesOf), lines.map(bytesOf));
          buffer.dispose();
        }),
        { numRuns: 400 },
      );
      assert.equal(spools.closed, spools.opened, 'every spool closed');
      assert.deepEqual(readdirSync(spools.dir), [], 'no file left behind');
    } finally {
      spools.done();
    }
  });

  test('property: the message bytes are the lines unstuffed, each with CRLF (or LF), and size counts them', () => {
    fc.assert(
      fc.property(message, fc.integer({ min: 0, max: 100 }), (lines, memoryCap) => {
        const buffer = filled(lines, { memoryCap, headerCap: 50 });
        const expected = Buffer.concat(lines.flatMap((l) => [unstuff(bytesOf(l)), Buffer.from('\r\n')]));
        assert.deepEqual(concat(buffer.chunks()), expected);
        assert.equal(buffer.size, expected.length);
        const lf = Buffer.concat(lines.flatMap((l) => [unstuff(bytesOf(l)), Buffer.from('\n')]));
        assert.deepEqual(concat(buffer.chunks('\n')), lf);
        buffer.dispose();
      }),
      { numRuns: 300 },
    );
  });

  test('property: edits change only what they name; the rest is byte-identical, body included', () => {
    const headerLine = fc.constantFrom('Subject: s', 'X-Spam: yes', 'x-spam: no', 'Received: a', '\tb', 'To: t');
    fc.assert(
      fc.property(
        fc.array(headerLine, { maxLength: 10 }),
        fc.array(inLine, { maxLength: 10 }),
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: 0, max: 12 }),
        (headerLines, bodyLines, index, position) => {
          const lines: InLine[] = [...headerLines.map((line) => ({ line, encoding: 'utf8' as const })), { line: '', encoding: 'utf8' }, ...bodyLines];
          const buffer = filled(lines, { memoryCap: 16 });
          const added = makeField('X-Added', 'one\n two');
          const top = makeField('X-Top', 'first');
          assert.ok(added.ok && top.ok);
          const edits: HeaderEdit[] = [
            { type: 'remove', name: 'X-SPAM', index },
            { type: 'insert', position, field: top.value },
            { type: 'append', field: added.value },
          ];
          const out = [...buffer.outputLines(edits)].map((l) => bytesOf(l).toString('latin1'));
          const kept = buffer.headers.filter((f) => f.name.toLowerCase() === 'x-spam');
          const removedCount = index === 0 ? kept.length : Math.abs(index) <= kept.length ? 1 : 0;
          const outWithout = out.filter((l) => !['X-Added: one', ' two', 'X-Top: first'].includes(l));
          const spamIn = lines.filter((l) => /^x-spam:/i.test(l.line) && (headerLines as readonly string[]).includes(l.line)).length;
          const spamOut = outWithout.filter((l) => /^x-spam:/i.test(l)).length;
          assert.equal(spamOut, spamIn - removedCount);
          // The body is the same bytes, in the same place: after the headers.
          const bodyOut = out.slice(out.length - bodyLines.length - 1);
          assert.deepEqual(bodyOut, ['', ...bodyLines.map((l) => bytesOf(l).toString('latin1'))]);
          assert.equal(out.length, lines.length - (kept.length > 0 ? removedFieldLines(buffer, index) : 0) + 3);
          buffer.dispose();
        },
      ),
      { numRuns: 300 },
    );
  });

  test('past the memory cap the body goes to a spool file nobody else can open; dispose frees it', () => {
    const spools = countingSpools();
    try {
      const buffer = new MessageBuffer({ memoryCap: 1000, openSpool: spools.opener });
      buffer.push('Subject: big');
      buffer.push('');
      for (let i = 0; i < 5000; i++) buffer.push(`line ${i} ${'x'.repeat(50)}`);
      assert.equal(buffer.spooled, true);
      assert.equal(spools.opened, 1);
      assert.deepEqual(readdirSync(spools.dir), [], 'the spool is unlinked as soon as it is open');
      assert.ok(buffer.memoryBytes < 70 * 1024, `memory ${buffer.memoryBytes}`);
      buffer.end();
      const out = [...buffer.outputLines()];
      assert.equal(out.length, 5002);
      assert.equal(out[4001]?.line, `line 3999 ${'x'.repeat(50)}`);
      buffer.dispose();
      buffer.dispose();
      assert.equal(spools.closed, 1);
      assert.throws(() => [...buffer.outputLines()], /disposed/);
    } finally {
      spools.done();
    }
  });

  test('a spool that cannot be opened or written loses nothing: the message stays in memory, degraded', () => {
    const failing: SpoolOpener = () => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    };
    const lines: InLine[] = Array.from({ length: 300 }, (_, i) => ({ line: `..dotted ${i}`, encoding: 'utf8' }));
    const buffer = filled(lines, { memoryCap: 100, openSpool: failing });
    assert.match(String(buffer.degraded?.message), /ENOSPC/);
    assert.deepEqual([...buffer.outputLines()].map(bytesOf), lines.map(bytesOf));
    const halfWay: SpoolOpener = () => {
      let writes = 0;
      const dir = mkdtempSync(join(tmpdir(), 'msgbuf-fail-'));
      const spool = openFileSpool(dir);
      rmSync(dir, { recursive: true });
      return {
        append: (b) => {
          if (++writes > 1) throw new Error('EIO');
          spool.append(b);
        },
        readAt: (into, at) => spool.readAt(into, at),
        close: () => spool.close(),
      };
    };
    const many: InLine[] = Array.from({ length: 3000 }, (_, i) => ({ line: `line ${i} ${'y'.repeat(40)}`, encoding: 'utf8' }));
    const second = filled(many, { memoryCap: 100, openSpool: halfWay });
    assert.match(String(second.degraded?.message), /EIO/);
    assert.deepEqual([...second.outputLines()].map(bytesOf), many.map(bytesOf));
    buffer.dispose();
    second.dispose();
  });

  test('max-size: past it the message is oversize, and still whole', () => {
    const buffer = new MessageBuffer({ maxSize: 20 });
    buffer.push('Subject: 0123456');
    assert.equal(buffer.oversize, false);
    buffer.push('');
    buffer.push('body');
    assert.equal(buffer.oversize, true);
    buffer.end();
    assert.equal([...buffer.outputLines()].length, 3);
    buffer.dispose();
  });

  test('the header block: folded lines belong to their field, the blank line ends it, a line that is no field too', () => {
    const buffer = filled(
      ['Received: from a', '\tby b', 'Subject : obsolete', 'X-A: 1', 'not a field', 'Y-B: in body'].map((line) => ({ line, encoding: 'utf8' as const })),
    );
    assert.deepEqual(
      buffer.headers.map((f) => [f.name, f.lines.length]),
      [
        ['Received', 2],
        ['Subject', 1],
        ['X-A', 1],
      ],
    );
    buffer.dispose();
  });

  test('a stream of the message, for an HTTP body', async () => {
    const buffer = filled(['A: 1', '', '..x'].map((line) => ({ line, encoding: 'utf8' as const })));
    const parts: Buffer[] = [];
    for await (const chunk of buffer.stream()) parts.push(chunk as Buffer);
    assert.equal(Buffer.concat(parts).toString(), 'A: 1\r\n\r\n.x\r\n');
    buffer.dispose();
  });
});

function unstuff(b: Buffer): Buffer {
  return b[0] === 0x2e ? b.subarray(1) : b;
}

/** Physical lines of the fields a remove of X-Spam at `index` takes. */
function removedFieldLines(buffer: MessageBuffer, index: number): number {
  const spam = buffer.headers.filter((f) => f.name.toLowerCase() === 'x-spam');
  if (index === 0) return spam.reduce((n, f) => n + f.lines.length, 0);
  const f = index > 0 ? spam[index - 1] : spam[spam.length + index];
  return f === undefined ? 0 : f.lines.length;
}
