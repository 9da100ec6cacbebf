/**
 * What diagnostics say about list files (issue 10, items 6–8):
 *  - a refused file (not regular, too large) is a located error at the
 *    `file "PATH"` reference, with its own stable code (E060, E061), for the
 *    rules file at its line 1;
 *  - a list file's lines never appear in a message or a code frame: items are
 *    shown by their redacted shape (redact.ts); rules-file diagnostics keep
 *    their frames;
 *  - a list with many bad items gives a bounded number of diagnostics.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRulesFile, compileRulesSource, formatCompileResult } from '../../../src/dsl/index.js';
import { MAX_LOCATED } from '../../../src/dsl/lists.js';
import { itemShape } from '../../../src/dsl/redact.js';
import { FileRefused, MAX_BYTES } from '../../../src/support/read-file.js';
import { memoryFiles } from './helpers.js';

const RULES = '/etc/filter-rules/main.rules';
const LIST = '/etc/filter-rules/senders.list';
const rulesText = 'list senders = file "senders.list"\nchain main = reject "550 5.7.1 no" when mail-from in senders at rcpt-to\n';

function withList(list: string) {
  return compileRulesFile(RULES, { readFile: memoryFiles({ [RULES]: rulesText, [LIST]: list }) });
}

describe('list files: refused files', () => {
  const refusing = (reason: FileRefused['reason']) => (path: string) => {
    if (path === RULES) return rulesText;
    throw new FileRefused(path, reason);
  };

  test('not a regular file: E060 at the path string, what it is in the message', () => {
    const r = compileRulesFile(RULES, { readFile: refusing({ kind: 'not-regular', type: 'a FIFO (named pipe)' }) });
    assert.ok(!r.ok);
    const [d] = r.diagnostics;
    assert.equal(d?.code, 'E060');
    assert.deepEqual([d?.span.file, d?.span.line, d?.span.column], [RULES, 1, 21]);
    assert.equal(d?.message, `list file "${LIST}" cannot be used: it is a FIFO (named pipe), not a regular file`);
    // Still watched: a regular file put in its place is picked up.
    assert.deepEqual(r.files, [RULES, LIST]);
  });

  test('too large: E061 with the size and the limit', () => {
    const r = compileRulesFile(RULES, { readFile: refusing({ kind: 'too-large', bytes: 1024 ** 3, limit: MAX_BYTES.list }) });
    assert.ok(!r.ok);
    assert.equal(r.diagnostics[0]?.code, 'E061');
    assert.match(formatCompileResult(r), /^\/etc\/filter-rules\/main\.rules:1:21: error\[E061\]: list file ".*senders\.list" is too large: it is 1 GiB; the limit is 64 MiB\n/);
  });

  test('the rules file itself refused: E060/E061 at its line 1', () => {
    const r = compileRulesFile(RULES, {
      readFile: () => {
        throw new FileRefused(RULES, { kind: 'too-large', bytes: 2 * 1024 * 1024, limit: MAX_BYTES.rules });
      },
    });
    assert.ok(!r.ok);
    const [d] = r.diagnostics;
    assert.deepEqual([d?.code, d?.span.line, d?.span.column], ['E061', 1, 1]);
    assert.match(d?.message ?? '', /^rules file ".*main\.rules" is too large: it is 2 MiB; the limit is 1 MiB$/);
  });
});

describe('list files: no line of theirs in the output', () => {
  const SECRET = 'smtp-relay:Tr0ub4dor&3xyzzy';

  test('a secret-looking line that fails to parse: located, shape only, no frame', () => {
    const r = withList(`good@example.org\n${SECRET}\n`);
    assert.ok(!r.ok);
    const text = formatCompileResult(r);
    assert.ok(!text.includes('Tr0ub4dor'), text);
    assert.ok(!text.includes('smtp-relay'), text);
    assert.equal(text.split('\n')[0], `${LIST}:2:1: error[E014]: malformed list item "xxxx-xxxxx:xxxxxxxxx?xxx…" (27 characters): it is not a valid IPv6 address`);
    // No code frame for the list file.
    assert.ok(!/^\s*2 \|/m.test(text), text);
  });

  test('every item message in a list file is redacted: E014 kinds, E015, W003', () => {
    const cases: Array<[string, RegExp]> = [
      ['bob@ example.org', /malformed list item "xxx@ xxxxxxx\.xxx" \(16 characters\): it contains white space/],
      ['@example.org', /malformed list item "@xxxxxxx\.xxx" \(12 characters\): it has no local part/],
      ['bob@exa_mple!', /what follows the last "@" is not a domain/],
      ['*x*.example', /has a "\*" that is not a leading "\*\."/],
      ['10.0.0.0/33', /has a prefix length that is not a number from 0 to 32/],
      ['10.0.0.256', /is not a valid IPv4 address/],
    ];
    for (const [item, expected] of cases) {
      const text = formatCompileResult(withList(`${item}\n`));
      assert.match(text, expected, item);
      assert.ok(!text.includes(item), `"${item}" shown in:\n${text}`);
    }
    const fit = formatCompileResult(withList('192.0.2.1\n'));
    assert.match(fit, /senders\.list:1:1: error\[E015\]: list item "xxx\.x\.x\.x" \(9 characters\) is an IP address, but `mail-from in` compares/);
    assert.ok(!fit.includes('192.0.2.1'), fit);
    // The rules-file side of it keeps its frame.
    assert.match(fit, /= note: .*main\.rules:2:\d+: the list is used with `mail-from in` here\n\s*2 \| chain main/);
  });

  test('a list used with src: W003 without the range', () => {
    const text = formatCompileResult(
      compileRulesFile(RULES, {
        readFile: memoryFiles({ [RULES]: 'list nets = file "nets.list"\nchain main = accept when src in nets\n', '/etc/filter-rules/nets.list': '192.0.2.5/24\n' }),
      }),
    );
    assert.match(text, /nets\.list:1:1: warning\[W003\]: address range "xxx\.x\.x\.x\/xx" \(12 characters\) has host bits set/);
    assert.ok(!text.includes('192.0.2'), text);
  });

  test('inline lists (the rules file) still quote the item and show the frame', () => {
    const r = compileRulesSource('list l = { "bob@ example.org" }\nchain main = accept when mail-from in l', '/x.rules', { readFile: memoryFiles({}) });
    const text = formatCompileResult(r);
    assert.match(text, /error\[E014\]: "bob@ example\.org" contains white space\n1 \| list l = \{ "bob@ example\.org" \}/);
  });

  test('itemShape: letters and digits masked, structure kept, bounded', () => {
    assert.equal(itemShape('a.b@c-d_e:f/1*[2]'), '"x.x@x-x_x:x/x*[x]" (17 characters)');
    assert.equal(itemShape('päss wörd$'), '"x?xx x?xx?" (10 characters)');
    assert.equal(itemShape('x'.repeat(100)), `"${'x'.repeat(24)}…" (100 characters)`);
    assert.equal(itemShape('\u{1F600}'), '"?" (1 character)');
  });
});

describe('list files: bounded diagnostics', () => {
  test(`a wrong file as a list: ${MAX_LOCATED} located errors, then one that counts the rest`, () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `root:x:${i}:0:root:/root:/bin/bash`);
    const r = withList(`${lines.join('\n')}\n`);
    assert.ok(!r.ok);
    const e014 = r.diagnostics.filter((d) => d.code === 'E014');
    assert.equal(e014.length, MAX_LOCATED + 1);
    const last = e014[MAX_LOCATED];
    assert.equal(last?.span.line, MAX_LOCATED + 1);
    assert.equal(last?.message, `${5000 - MAX_LOCATED} more malformed items in this list from here on (only the first ${MAX_LOCATED} are shown one by one)`);
  });

  test('items that do not fit the use: bounded the same way, per kind', () => {
    const lines = Array.from({ length: 300 }, (_, i) => `192.0.2.${i % 250}`);
    const r = withList(`${lines.join('\n')}\nexample.org\n`);
    assert.ok(!r.ok);
    const e015 = r.diagnostics.filter((d) => d.code === 'E015');
    assert.equal(e015.length, MAX_LOCATED + 1);
    assert.match(e015[MAX_LOCATED]?.message ?? '', /^280 more items of this list from here on are an IP address too/);
  });

  test('a list file named twice is read once', () => {
    let reads = 0;
    const files = memoryFiles({ [RULES]: 'list a = file "senders.list"\nlist b = file "senders.list"\nchain main = accept when mail-from in a or mail-from in b\n', [LIST]: 'x@example.org\n' });
    const r = compileRulesFile(RULES, {
      readFile: (p) => {
        if (p === LIST) reads++;
        return files(p);
      },
    });
    assert.ok(r.ok);
    assert.equal(reads, 1);
  });
});
