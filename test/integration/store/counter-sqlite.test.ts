/** The SQLite counter store on real files: the contract, counts across a reopen (a restart), a file shared with the greylist tables. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteCounterStore, type SqliteCounterStore } from '../../../src/store/counter-sqlite.js';
import { openSqliteStore } from '../../../src/store/sqlite.js';
import { defineCounterContract } from '../../unit/store/counter-contract.js';
import { POLICY, T0, triplet } from '../../unit/store/store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'fr-counter-sqlite-'));
let files = 0;
const freshPath = (): string => join(root, `c${++files}`, 'limits.db');

function open(path: string): SqliteCounterStore {
  const r = openSqliteCounterStore(path);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

after(() => rmSync(root, { recursive: true, force: true }));

describe('SqliteCounterStore (real files)', () => {
  describe('counter store contract', () => {
    defineCounterContract({ open: async () => open(freshPath()), now: () => Date.now() });
  });

  test('counts survive close and reopen (a filter restart); purge deletes full buckets', async () => {
    const path = freshPath();
    const spec = { rate: 30, periodMs: 3_600_000, burst: 2 };
    const first = open(path);
    await first.consume('k', spec, 2, 'lenient', T0);
    await first.close();
    const second = open(path);
    assert.deepEqual(await second.consume('k', spec, 1, 'lenient', T0 + 1000), { allowed: false, retryAfterMs: 119_000 });
    assert.equal(await second.purgeExpired(T0 + 240_001, 10), 1);
    assert.deepEqual(await second.consume('k', spec, 1, 'lenient', T0 + 240_001), { allowed: true, remaining: 1 });
    await second.close();
  });

  test('one file for greylisting and counters: each keeps its tables', async () => {
    const path = freshPath();
    const grey = openSqliteStore(path);
    assert.ok(grey.ok);
    const counters = open(path);
    await grey.value.check(triplet('192.0.2.1', 'a@example.org', 'b@example.net'), POLICY, T0);
    assert.equal((await counters.consume('k', { rate: 1, periodMs: 1000, burst: 1 }, 1, 'lenient', T0)).allowed, true);
    assert.equal((await grey.value.stats(T0)).triplets, 1);
    await grey.value.close();
    await counters.close();
    const again = openSqliteStore(path);
    assert.ok(again.ok, 'the greylist schema version is untouched');
    await again.value.close();
  });

  test('an unusable path is one clear message', () => {
    const file = join(root, 'a-file');
    writeFileSync(file, '');
    const r = openSqliteCounterStore(join(file, 'limits.db'));
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error, /^counter store sqlite:.*a-file\/limits\.db: cannot open .*ENOTDIR/);
  });
});
