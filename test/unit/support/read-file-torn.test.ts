/**
 * A save that lands in the middle of a read (support/read-file.ts): the reader
 * must return one whole version of the file, never the start of one and the
 * end of another. The save is made from the reader's own hook, between two
 * read(2) calls, so the race is hit every time instead of now and then under load.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileChanging, readRulesFile, readRulesFileSync } from '../../../src/support/read-file.js';

const OLD = 'chain main = reject "451 4.7.1 old"\n';
const NEW = `chain main = reject "451 4.7.1 new, and a longer text than the old one"\n${'# padding\n'.repeat(20)}`;

describe('reading a file that is saved while it is read', () => {
  let dir = '';
  let file = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-torn-'));
    file = join(dir, 'rules');
    writeFileSync(file, OLD);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Saves NEW in place (truncate + write, as writeFileSync and most editors do) after the first read(2). */
  function saveAfterFirstRead(): { afterRead: (bytes: number) => void; saves: () => number } {
    let reads = 0;
    let saves = 0;
    return {
      afterRead: () => {
        reads++;
        if (reads === 1) {
          writeFileSync(file, NEW);
          saves++;
        }
      },
      saves: () => saves,
    };
  }

  for (const [name, read] of [
    ['synchronous', (hooks: { afterRead: (n: number) => void }) => new Promise<string>((resolve) => resolve(readRulesFileSync(file, 'rules', hooks)))],
    ['asynchronous', (hooks: { afterRead: (n: number) => void }) => readRulesFile(file, 'rules', hooks)],
  ] as const) {
    test(`${name}: the new version whole, not the old start with the new end`, async () => {
      const hook = saveAfterFirstRead();
      const text = await read(hook);
      assert.equal(hook.saves(), 1);
      // Without the check the second read(2) returns NEW's bytes past OLD's length: a text nobody wrote.
      assert.equal(text, NEW);
    });

    test(`${name}: a file that changes at every read is refused, not returned torn`, async () => {
      let n = 0;
      const hooks = {
        afterRead: (bytes: number) => {
          if (bytes > 0) writeFileSync(file, `${NEW}# save ${++n}\n`);
        },
      };
      await assert.rejects(read(hooks), (e: unknown) => e instanceof FileChanging && e.code === 'EAGAIN' && e.path === file);
    });

    test(`${name}: an unchanged file is read once`, async () => {
      let reads = 0;
      const text = await read({ afterRead: () => void reads++ });
      assert.equal(text, OLD);
      assert.equal(reads, 2, 'one read(2) for the content and one that sees the end');
    });
  }
});
