/**
 * `filter-rules greylist` through the real program (`node dist/src/cli/main.js
 * greylist …`), on a real SQLite store the filter's own `check` filled: the
 * bin reaches the split admin (args → select → commands), `delete` keys a
 * triplet written as the filter saw it the way the filter built it, and its
 * mistakes are messages on stderr with exit 1. The scenario in
 * test/unit/tools runs the same commands in-process, on every store kind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../../src/store/open.js';
import { fill, rulesFor } from '../../unit/tools/greylist-admin-scenario.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const HOUR = 3_600_000;

function greylist(...args: string[]): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, [MAIN, 'greylist', ...args], { encoding: 'utf8', input: '', timeout: 30_000 });
  if (r.error) throw r.error;
  return r;
}

const show = (r: SpawnSyncReturns<string>): string => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

describe('filter-rules greylist, the program', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fr-greylist-cli-'));
  const rules = join(dir, 'inbound.rules');
  after(() => rmSync(dir, { recursive: true, force: true }));

  before(async () => {
    const url = `sqlite:${join(dir, 'greylist.db')}`;
    writeFileSync(rules, rulesFor(url));
    const opened = openStore(url);
    assert.ok(opened.ok);
    try {
      // Real time, since the program reads its own clock: every record is live.
      await fill(opened.value, Date.now() - 3 * HOUR);
    } finally {
      await opened.value.close();
    }
  });

  test('stats --json counts what the filter stored', () => {
    const r = greylist('stats', '--json', rules);
    assert.equal(r.status, 0, show(r));
    assert.deepEqual({ ...JSON.parse(r.stdout), store: undefined }, { store: undefined, triplets: 4, passedTriplets: 3, waitingTriplets: 1, clients: 2 });
  });

  test('delete: a triplet as the filter saw it (full address, tagged sender, any case) and a client, by their stored keys', () => {
    const r = greylist('delete', rules, '192.0.2.77/ALICE+other@Example.ORG/Bob@Example.NET', '::ffff:203.0.113.5');
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, 'deleted triplet 192.0.2.0/alice@example.org/bob@example.net\ndeleted client 203.0.113.5\n');
    const left = greylist('list', '--json', rules);
    assert.equal(left.status, 0, show(left));
    const rows = left.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows.filter((o) => o['type'] === 'triplet').map((o) => o['key']), [
      '198.51.100.0/carol@example.com/dave@example.net',
      '203.0.113.0/news@example.com/x@example.net',
      '203.0.113.0/news@example.com/y@example.net',
    ]);
    assert.deepEqual(rows.filter((o) => o['type'] === 'client').map((o) => o['client']), ['192.0.2.10']);
  });

  test('delete: what is not a key, or no longer stored, is said, and exits 1', () => {
    const r = greylist('delete', rules, 'nonsense', 'mx.example/a@b.example/c@d.example', '192.0.2.0/alice@example.org/bob@example.net');
    assert.equal(r.status, 1, show(r));
    assert.equal(
      r.stderr,
      'filter-rules greylist delete: "nonsense" is neither a client address nor a triplet NETWORK/SENDER/RECIPIENT\n' +
        'filter-rules greylist delete: "mx.example/a@b.example/c@d.example": "mx.example" is not an address or network\n',
    );
    assert.equal(r.stdout, 'not found: triplet 192.0.2.0/alice@example.org/bob@example.net\n');
  });
});
