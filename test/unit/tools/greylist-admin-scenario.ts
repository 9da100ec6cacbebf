/**
 * One admin scenario for `filter-rules greylist`, run against each store kind
 * (SQLite and the memory store in test/unit/tools, a real redis-server in
 * test/integration/tools):
 * the store is filled through the same `check` the filter uses, then listed,
 * counted and edited through runGreylistAdmin, as the CLI runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GreylistPolicy } from '../../../src/greylist/machine.js';
import { buildTriplet } from '../../../src/greylist/triplet.js';
import type { GreylistStore } from '../../../src/store/types.js';
import type { Result } from '../../../src/support/result.js';
import { parseGreylistArgs } from '../../../src/tools/greylist/args.js';
import { openStoreForAdmin, runGreylistAdmin } from '../../../src/tools/greylist/commands.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
export const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const POLICY: GreylistPolicy = { delayMs: 5 * MIN, retryWindowMs: 2 * DAY, maxAgeMs: 35 * DAY, autoWhitelistAfter: 2 };

export interface AdminStoreHarness {
  /** A store URL nobody else uses. */
  url(): string;
  /** Opens that URL as the filter would (creating it). */
  open(url: string): Promise<GreylistStore>;
  /** Opens it for the commands (default: openStoreForAdmin, as the CLI does). */
  readonly openForAdmin?: (url: string) => Promise<Result<GreylistStore, string>>;
}

function triplet(src: string, from: string, to: string) {
  const t = buildTriplet({ src, mailFrom: from, rcptTo: to }, { ipv4Prefix: 24, ipv6Prefix: 64 });
  if (!t.ok) throw new Error(t.error);
  return t.value;
}

/**
 * Fill a store the way the filter does, from `t0` on (2 h 6 min of checks): one
 * passed triplet, one waiting, a whitelisted client — 4 triplets (3 passed), 2
 * client records.
 */
export async function fill(store: GreylistStore, t0 = T0): Promise<void> {
  const passed = triplet('192.0.2.10', 'alice+list123@example.org', 'bob@example.net');
  await store.check(passed, POLICY, t0);
  assert.equal((await store.check(passed, POLICY, t0 + 6 * MIN)).action, 'pass');
  await store.check(triplet('198.51.100.7', 'carol@example.com', 'dave@example.net'), POLICY, t0);
  // Two passes an hour apart whitelist 203.0.113.5 (auto-whitelist 2).
  for (const [i, to] of ['x@example.net', 'y@example.net'].entries()) {
    const t = triplet('203.0.113.5', 'news@example.com', to);
    const at = t0 + i * 2 * HOUR;
    await store.check(t, POLICY, at);
    assert.equal((await store.check(t, POLICY, at + 6 * MIN)).action, 'pass');
  }
}

export interface RunResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export function rulesFor(url: string): string {
  return `chain inbound =\n    pause 1s\n    then greylist auto-whitelist 2 store "${url}"\n`;
}

export function defineAdminScenario(harness: AdminStoreHarness): void {
  const dir = mkdtempSync(join(tmpdir(), 'fr-greylist-admin-'));
  const rulesFile = join(dir, 'inbound.rules');
  // Set in the first test: a store server may only be up by then.
  let url = '';
  const now = T0 + 3 * HOUR;

  async function cli(...argv: string[]): Promise<RunResult> {
    const parsed = parseGreylistArgs(argv);
    if (!parsed.ok) return { code: 2, out: '', err: parsed.error };
    let out = '';
    let err = '';
    const code = await runGreylistAdmin(parsed.value, {
      io: { out: (t) => (out += t), err: (t) => (err += t) },
      clock: { now: () => now },
      open: harness.openForAdmin ?? openStoreForAdmin,
    });
    return { code, out, err };
  }

  test('setup: the filter fills the store', async () => {
    url = harness.url();
    writeFileSync(rulesFile, rulesFor(url));
    const store = await harness.open(url);
    try {
      await fill(store);
    } finally {
      await store.close();
    }
  });

  test('stats: live triplets (passed and waiting) and client records', async () => {
    const r = await cli('stats', rulesFile);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^triplets +4 \(3 passed, 1 waiting for a retry\)$/m);
    assert.match(r.out, /^clients +2 auto-whitelist records$/m);
    assert.match(r.out, /used by +chain inbound step #1 \(.*inbound\.rules:3\)/);
    const json = await cli('stats', '--json', rulesFile);
    assert.deepEqual(
      { ...JSON.parse(json.out), store: undefined },
      { store: undefined, triplets: 4, passedTriplets: 3, waitingTriplets: 1, clients: 2 },
    );
  });

  test('list: both tables, sorted, with states and UTC times; KEY is what delete takes', async () => {
    const r = await cli('list', rulesFile);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split('\n');
    const row = (key: string) => lines.find((l) => l.endsWith(key)) ?? '';
    assert.match(row('192.0.2.0/alice@example.org/bob@example.net'), /^passed +2026-11-25 12:00:00 +2026-11-25 12:06:00 +2026-12-30 12:06:00 +192\.0\.2\.0\//);
    assert.match(row('198.51.100.0/carol@example.com/dave@example.net'), /^waiting +2026-11-25 12:00:00 /);
    assert.match(row(' 203.0.113.5'), /^whitelisted +2 /);
    assert.match(row(' 192.0.2.10'), /^counting +1 /);
    assert.match(r.out, /^triplets \(4\)$/m);
    assert.match(r.out, /^clients \(2; whitelisted from 2 passes\)$/m);
    assert.match(r.out, /^STATE +FIRST SEEN +LAST SEEN +EXPIRES +KEY \(network\/sender\/recipient\)$/m);
  });

  test('list TEXT filters rows; --limit; --clients; --json', async () => {
    const only = await cli('list', rulesFile, '198.51');
    assert.match(only.out, /carol@example\.com/);
    assert.doesNotMatch(only.out, /alice/);
    assert.match(only.out, /^clients \(0;/m);

    const limited = await cli('list', '--triplets', '--limit', '1', rulesFile);
    assert.match(limited.out, /^triplets \(1, more not shown: --limit 0 shows all\)$/m);
    assert.doesNotMatch(limited.out, /^clients/m);

    const clients = await cli('list', '--clients', rulesFile);
    assert.doesNotMatch(clients.out, /^triplets/m);
    assert.match(clients.out, /203\.0\.113\.5/);

    const json = await cli('list', '--json', rulesFile);
    const objects = json.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(objects.filter((o) => o['type'] === 'triplet').length, 4);
    const awl = objects.find((o) => o['client'] === '203.0.113.5');
    assert.equal(awl?.['state'], 'whitelisted');
    assert.equal(awl?.['count'], 2);
  });

  test('delete: a triplet written as the filter saw it (full address, tagged sender, any case), and a client', async () => {
    const r = await cli('delete', rulesFile, '192.0.2.77/ALICE+other@Example.ORG/Bob@Example.NET', '::ffff:203.0.113.5');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'deleted triplet 192.0.2.0/alice@example.org/bob@example.net\ndeleted client 203.0.113.5\n');
    const again = await cli('delete', rulesFile, '192.0.2.0/alice@example.org/bob@example.net');
    assert.equal(again.code, 1);
    assert.match(again.out, /^not found: triplet /);
    const bad = await cli('delete', rulesFile, 'nonsense');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /neither a client address nor a triplet/);
    const s = await cli('stats', '--json', rulesFile);
    assert.equal(JSON.parse(s.out).triplets, 3);
    assert.equal(JSON.parse(s.out).clients, 1);
  });

  test('--store URL names the store explicitly; cleanup', async () => {
    const r = await cli('stats', '--store', url, rulesFile);
    assert.equal(r.code, 0, r.err);
    rmSync(dir, { recursive: true, force: true });
  });
}
