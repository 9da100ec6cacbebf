import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyHeaderEdits } from '../../../src/message/edits.js';
import type { HeaderEdit, HeaderField } from '../../../src/model/message.js';
import { fieldNameOf, makeField } from '../../../src/message/fields.js';

function field(line: string): HeaderField {
  const bytes = Buffer.from(line);
  return { name: fieldNameOf(bytes) ?? '', lines: [bytes] };
}

function made(name: string, value: string): HeaderField {
  const r = makeField(name, value);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

function text(fields: readonly HeaderField[]): string[] {
  return fields.flatMap((f) => f.lines.map((l) => Buffer.from(l).toString()));
}

const BLOCK = ['Received: r', 'X-Spam: 1', 'Subject: s', 'x-spam: 2', 'X-SPAM: 3'].map(field);

describe('applyHeaderEdits (rspamd milter semantics)', () => {
  const removing = (index: number): string[] => text(applyHeaderEdits(BLOCK, [{ type: 'remove', name: 'X-Spam', index }]));

  test('remove: 0 all, N the Nth, -N the Nth from the end, past the count nothing; names without case', () => {
    assert.deepEqual(removing(0), ['Received: r', 'Subject: s']);
    assert.deepEqual(removing(1), ['Received: r', 'Subject: s', 'x-spam: 2', 'X-SPAM: 3']);
    assert.deepEqual(removing(2), ['Received: r', 'X-Spam: 1', 'Subject: s', 'X-SPAM: 3']);
    assert.deepEqual(removing(-1), ['Received: r', 'X-Spam: 1', 'Subject: s', 'x-spam: 2']);
    assert.deepEqual(removing(-3), ['Received: r', 'Subject: s', 'x-spam: 2', 'X-SPAM: 3']);
    assert.deepEqual(removing(4), text(BLOCK));
    assert.deepEqual(removing(-4), text(BLOCK));
  });

  test('remove indexes count the block as received, before any insert', () => {
    const edits: HeaderEdit[] = [
      { type: 'insert', position: 0, field: made('X-Spam', 'new') },
      { type: 'remove', name: 'x-spam', index: 1 },
    ];
    assert.deepEqual(text(applyHeaderEdits(BLOCK, edits)), ['X-Spam: new', 'Received: r', 'Subject: s', 'x-spam: 2', 'X-SPAM: 3']);
  });

  test('insert: 0 and 1 at the top, N before the Nth field, past the end at the end; append at the end', () => {
    const at = (position: number): string[] => text(applyHeaderEdits(BLOCK.slice(0, 3), [{ type: 'insert', position, field: made('N', 'v') }]));
    assert.deepEqual(at(0), ['N: v', 'Received: r', 'X-Spam: 1', 'Subject: s']);
    assert.deepEqual(at(1), ['N: v', 'Received: r', 'X-Spam: 1', 'Subject: s']);
    assert.deepEqual(at(2), ['Received: r', 'N: v', 'X-Spam: 1', 'Subject: s']);
    assert.deepEqual(at(9), ['Received: r', 'X-Spam: 1', 'Subject: s', 'N: v']);
    assert.deepEqual(text(applyHeaderEdits(BLOCK.slice(0, 1), [{ type: 'append', field: made('A', 'v') }])), ['Received: r', 'A: v']);
  });

  test('ARC: AAR, AMS, AS each inserted at 1, in that order, come out AS, AMS, AAR on top', () => {
    const edits: HeaderEdit[] = ['ARC-Authentication-Results', 'ARC-Message-Signature', 'ARC-Seal'].map((name) => ({
      type: 'insert',
      position: 1,
      field: made(name, 'i=1'),
    }));
    assert.deepEqual(text(applyHeaderEdits(BLOCK.slice(0, 1), edits)), [
      'ARC-Seal: i=1',
      'ARC-Message-Signature: i=1',
      'ARC-Authentication-Results: i=1',
      'Received: r',
    ]);
  });

  test('replace: the whole folded Subject becomes the new one, other Subjects go; none: appended', () => {
    const folded: HeaderField = { name: 'Subject', lines: [Buffer.from('Subject: long'), Buffer.from('\tfolded')] };
    const block = [field('A: 1'), folded, field('B: 2'), field('subject: again')];
    const replaced = applyHeaderEdits(block, [{ type: 'replace', name: 'Subject', field: made('Subject', '***SPAM*** long folded') }]);
    assert.deepEqual(text(replaced), ['A: 1', 'Subject: ***SPAM*** long folded', 'B: 2']);
    assert.deepEqual(text(applyHeaderEdits([field('A: 1')], [{ type: 'replace', name: 'Subject', field: made('Subject', 'x') }])), ['A: 1', 'Subject: x']);
  });
});

describe('makeField', () => {
  test('a multi-line value becomes one physical line each, continuation lines start with whitespace', () => {
    const f = made('ARC-Seal', 'i=1; a=rsa-sha256;\r\n\tcv=none; d=example.org;\nb=abc\r\n\r\n   \n  tail');
    assert.deepEqual(text([f]), ['ARC-Seal: i=1; a=rsa-sha256;', '\tcv=none; d=example.org;', '\tb=abc', '  tail']);
  });

  test('controls become spaces, lines are cut to 998 octets, a bad name is refused', () => {
    assert.deepEqual(text([made('X-A', 'a\x00b\x1bc')]), ['X-A: a b c']);
    const long = made('X-Long', '€'.repeat(600));
    assert.ok((long.lines[0]?.length ?? 0) <= 998);
    assert.ok(Buffer.from(long.lines[0] ?? []).toString().endsWith('€'));
    for (const bad of ['', 'Bad Name', 'X:Y', 'Ü']) assert.equal(makeField(bad, 'v').ok, false, bad);
  });
});
