/**
 * The one reader of rules and list files (support/read-file.ts), on real files
 * of this machine: a FIFO without a writer is refused at once (it used to block
 * the open forever), so are /dev/zero, a directory and a symlink to a FIFO; a
 * sparse file past the limit is refused from its size, before a byte is read; a
 * symlink to a regular file is followed; the limit itself is allowed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRefused, formatBytes, MAX_BYTES, readRulesFile, readRulesFileSync } from '../../../src/support/read-file.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'filter-rules-read-'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  symlinkSync(join(dir, 'fifo'), join(dir, 'link-to-fifo'));
  writeFileSync(join(dir, 'plain.list'), 'spam.example\n');
  symlinkSync(join(dir, 'plain.list'), join(dir, 'link-to-plain'));
  writeFileSync(join(dir, 'sparse'), '');
  truncateSync(join(dir, 'sparse'), 1024 * 1024 * 1024);
  writeFileSync(join(dir, 'at-limit'), 'x'.repeat(MAX_BYTES.rules));
  writeFileSync(join(dir, 'past-limit'), 'x'.repeat(MAX_BYTES.rules + 1));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Both readers, the same expectations. */
const readers = [
  ['sync', (path: string, role: 'rules' | 'list') => Promise.resolve().then(() => readRulesFileSync(path, role))],
  ['async', readRulesFile],
] as const;

async function refusal(read: (p: string, r: 'rules' | 'list') => Promise<string>, path: string, role: 'rules' | 'list' = 'list'): Promise<FileRefused> {
  try {
    await read(path, role);
  } catch (e) {
    assert.ok(e instanceof FileRefused, `expected a FileRefused, got ${String(e)}`);
    return e;
  }
  assert.fail(`${path} was read`);
}

for (const [name, read] of readers) {
  describe(`readRulesFile (${name})`, () => {
    test('a FIFO without a writer: refused at once, as a FIFO (EFTYPE)', async () => {
      const e = await refusal(read, join(dir, 'fifo'));
      assert.equal(e.code, 'EFTYPE');
      assert.deepEqual(e.reason, { kind: 'not-regular', type: 'a FIFO (named pipe)' });
      assert.equal(e.message, 'it is a FIFO (named pipe), not a regular file');
    });

    test('a symlink is followed: to a FIFO refused, to a regular file read', async () => {
      assert.equal((await refusal(read, join(dir, 'link-to-fifo'))).code, 'EFTYPE');
      assert.equal(await read(join(dir, 'link-to-plain'), 'list'), 'spam.example\n');
    });

    test('/dev/zero and a directory: refused by type', async () => {
      assert.deepEqual((await refusal(read, '/dev/zero')).reason, { kind: 'not-regular', type: 'a character device' });
      assert.deepEqual((await refusal(read, dir)).reason, { kind: 'not-regular', type: 'a directory' });
    });

    test('a 1 GiB sparse file: refused from its size (EFBIG), the limit named', async () => {
      const e = await refusal(read, join(dir, 'sparse'));
      assert.equal(e.code, 'EFBIG');
      assert.deepEqual(e.reason, { kind: 'too-large', bytes: 1024 ** 3, limit: MAX_BYTES.list });
      assert.equal(e.message, 'it is 1 GiB; the limit is 64 MiB');
    });

    test('the rules file has its own, smaller limit: exactly at it is read, one byte more refused', async () => {
      assert.equal((await read(join(dir, 'at-limit'), 'rules')).length, MAX_BYTES.rules);
      assert.equal((await refusal(read, join(dir, 'past-limit'), 'rules')).code, 'EFBIG');
      assert.equal((await read(join(dir, 'past-limit'), 'list')).length, MAX_BYTES.rules + 1);
    });

    test('system errors come through as they are (ENOENT)', async () => {
      await assert.rejects(read(join(dir, 'missing'), 'list'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && !(e instanceof FileRefused));
    });

    test('a file whose size fstat does not know (/proc) is read to its end', async () => {
      assert.match(await read('/proc/self/status', 'list'), /^Name:/);
    });
  });
}

test('formatBytes', () => {
  assert.deepEqual(
    [1, 512, 1024, 1536, 64 * 1024 * 1024, 1024 ** 3, 1.5 * 1024 ** 3].map(formatBytes),
    ['1 byte', '512 bytes', '1 KiB', '1.5 KiB', '64 MiB', '1 GiB', '1.5 GiB'],
  );
});
