/**
 * `filter-rules greylist`: arguments, which store the rules name, delete
 * targets, and the whole scenario against the memory store and a real SQLite
 * file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCliArgs } from '../../../src/cli/args.js';
import { compileRulesSource } from '../../../src/dsl/index.js';
import type { CompiledRules } from '../../../src/model/plan.js';
import { buildTriplet } from '../../../src/greylist/triplet.js';
import { MemoryGreylistStore } from '../../../src/store/memory.js';
import { openStore } from '../../../src/store/open.js';
import { ok } from '../../../src/support/result.js';
import { parseGreylistArgs } from '../../../src/tools/greylist/args.js';
import { formatTime, openStoreForAdmin, runGreylistAdmin, table } from '../../../src/tools/greylist/commands.js';
import { parseDeleteTarget, selectStore } from '../../../src/tools/greylist/select.js';
import { defineAdminScenario, rulesFor } from './greylist-admin-scenario.js';

function compiled(source: string): CompiledRules {
  const r = compileRulesSource(source, '/etc/mail/t.rules', { readFile: () => '' });
  if (!r.ok) assert.fail(r.diagnostics.map((d) => d.message).join('\n'));
  return r.rules;
}

describe('greylist admin: arguments', () => {
  test('list, delete, stats with their options', () => {
    const list = parseGreylistArgs(['list', '--chain', 'mx', '--limit', '0', '--clients', 'r.rules', '192.0.2']);
    assert.ok(list.ok);
    assert.deepEqual(list.value, {
      kind: 'greylist',
      action: 'list',
      rulesFile: 'r.rules',
      chain: 'mx',
      store: null,
      show: 'clients',
      limit: null,
      json: false,
      args: ['192.0.2'],
    });
    const del = parseGreylistArgs(['delete', '--store', 'redis://127.0.0.1:6379/2', 'r.rules', '192.0.2.1', '192.0.2.0/a@b/c@d']);
    assert.ok(del.ok);
    assert.equal(del.value.store, 'redis://127.0.0.1:6379/2');
    assert.deepEqual(del.value.args, ['192.0.2.1', '192.0.2.0/a@b/c@d']);
    const stats = parseGreylistArgs(['stats', '--json', 'r.rules']);
    assert.ok(stats.ok);
    assert.equal(stats.value.limit, 1000);
  });

  test('the CLI hands `greylist ...` to this parser; `greylist --help` shows its own usage', () => {
    const r = parseCliArgs(['greylist', 'stats', '--chain', 'mx', 'r.rules']);
    assert.ok(r.ok && r.value.kind === 'greylist' && r.value.action === 'stats' && r.value.chain === 'mx');
    const help = parseCliArgs(['greylist', '--help']);
    assert.ok(help.ok && help.value.kind === 'help');
    assert.match(help.value.text ?? '', /filter-rules greylist delete/);
  });

  test('mistakes come back as messages', () => {
    const bad: Array<[string[], RegExp]> = [
      [[], /expected list, delete or stats/],
      [['purge', 'r.rules'], /not "purge"/],
      [['list'], /missing RULES-FILE/],
      [['delete', 'r.rules'], /at least one KEY/],
      [['stats', 'r.rules', 'extra'], /unexpected argument/],
      [['stats', '--limit', '3', 'r.rules'], /options of list/],
      [['delete', '--json', 'r.rules', '1.2.3.4'], /--json/],
      [['list', '--limit', 'many', 'r.rules'], /--limit must be a whole number/],
      [['list', '--triplets', '--clients', 'r.rules'], /not both/],
      [['list', '--store', 'mysql://x', 'r.rules'], /--store: .*unknown scheme/],
      [['list', '--bogus', 'r.rules'], /bogus/],
    ];
    for (const [argv, re] of bad) {
      const r = parseGreylistArgs(argv);
      assert.equal(r.ok, false, argv.join(' '));
      if (!r.ok) assert.match(r.error, re, argv.join(' '));
    }
  });
});

describe('greylist admin: the store the rules use', () => {
  const two = compiled(`
chain mx = greylist store "sqlite:/var/lib/a.db"
chain backup = greylist store "redis://127.0.0.1:6379/2" then greylist at data store "redis://127.0.0.1:6379/2"
chain submission = pause 1s
`);

  test('one store in the chain: that one, with the steps using it', () => {
    const r = selectStore(two, 'backup', null);
    assert.ok(r.ok);
    assert.equal(r.value.url, 'redis://127.0.0.1:6379/2');
    assert.deepEqual(
      r.value.uses.map((u) => `${u.chain}#${u.index} ${u.where}`),
      ['backup#0 /etc/mail/t.rules:3', 'backup#1 /etc/mail/t.rules:3'],
    );
  });

  test('several stores: asks for --store or --chain, listing them', () => {
    const r = selectStore(two, null, null);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.match(r.error, /use 2 stores; pick one with --store URL or --chain NAME/);
      assert.match(r.error, /sqlite:\/var\/lib\/a\.db \(\/etc\/mail\/t\.rules:2\)/);
    }
  });

  test('no greylist step, or an unknown chain', () => {
    const none = selectStore(two, 'submission', null);
    assert.ok(!none.ok && /no greylist step in chain "submission": name the store with --store URL/.test(none.error));
    const unknown = selectStore(two, 'nope', null);
    assert.ok(!unknown.ok && /no chain "nope"/.test(unknown.error));
    const forced = selectStore(two, 'submission', 'sqlite:/tmp/x.db');
    assert.ok(forced.ok);
    assert.deepEqual(forced.value, { url: 'sqlite:/tmp/x.db', uses: [] });
  });

  test('the default store when the step names none', () => {
    const r = selectStore(compiled('chain c = greylist'), null, null);
    assert.ok(r.ok);
    assert.equal(r.value.url, 'sqlite:/var/lib/filter-rules/greylist.db');
  });
});

describe('greylist admin: delete targets and formatting', () => {
  const prefixes = { ipv4Prefix: 24, ipv6Prefix: 64 };

  test('an address is a client record, canonical (IPv4-mapped folded)', () => {
    assert.deepEqual(parseDeleteTarget('192.0.2.7', prefixes), { ok: true, value: { kind: 'client', client: '192.0.2.7' } });
    assert.deepEqual(parseDeleteTarget('::ffff:192.0.2.7', prefixes), { ok: true, value: { kind: 'client', client: '192.0.2.7' } });
    assert.deepEqual(parseDeleteTarget('2001:DB8::1', prefixes), { ok: true, value: { kind: 'client', client: '2001:db8::1' } });
  });

  test('a triplet is normalised like the filter builds keys', () => {
    const r = parseDeleteTarget('2001:db8::1:2/SRS0=abcd=TT=orig.example=user@Fwd.example/Rcpt@Example.COM', prefixes);
    assert.ok(r.ok && r.value.kind === 'triplet');
    assert.equal(r.value.key, '2001:db8::/srs0=orig.example=user@fwd.example/rcpt@example.com');
    // The mail-from form (no recipient) keeps its empty last field.
    const pair = parseDeleteTarget('192.0.2.0/a@b.example/', prefixes);
    assert.ok(pair.ok && pair.value.kind === 'triplet' && pair.value.key === '192.0.2.0/a@b.example/');
  });

  test('anything else is refused, saying which part is wrong', () => {
    for (const bad of ['alice@example.org', 'x/y/z', '192.0.2.1/a@b']) assert.equal(parseDeleteTarget(bad, prefixes).ok, false, bad);
    assert.deepEqual(parseDeleteTarget('alice@example.org', prefixes), {
      ok: false,
      error: '"alice@example.org" is neither a client address nor a triplet NETWORK/SENDER/RECIPIENT',
    });
    assert.deepEqual(parseDeleteTarget('mx.example/a@b/c@d', prefixes), { ok: false, error: '"mx.example/a@b/c@d": "mx.example" is not an address or network' });
  });

  test('a triplet written as the filter saw it gets the key the filter built for it', () => {
    const seen: Array<[string, string, string]> = [
      ['192.0.2.77', 'Bounce-1234@Lists.Example', 'Bob@Example.NET'],
      ['2001:db8:0:1::25', '', 'a@b.example'],
      ['::ffff:198.51.100.9', 'prvs=0123456789=User+tag@Example.ORG', 'Ünïcode@Example.ORG'],
      ['203.0.113.5', 'SRS0=HHH=TT=orig.example=user@fwd.example', 'x@y.example'],
      ['[IPv6:2001:db8::7]', 'odd/local@example.org', 'c@d.example'],
    ];
    for (const [src, mailFrom, rcptTo] of seen) {
      const filter = buildTriplet({ src, mailFrom, rcptTo }, prefixes);
      assert.ok(filter.ok, src);
      const target = parseDeleteTarget(`${src}/${mailFrom}/${rcptTo}`, prefixes);
      assert.deepEqual(target, { ok: true, value: { kind: 'triplet', key: filter.value.key, written: `${src}/${mailFrom}/${rcptTo}` } });
    }
  });

  test('times in UTC; tables padded, last column free', () => {
    assert.equal(formatTime(Date.UTC(2026, 0, 2, 3, 4, 5)), '2026-01-02 03:04:05');
    assert.equal(table(['A', 'BB', 'C'], [['xxx', 'y', 'long last'], ['', '', '']]), 'A    BB  C\nxxx  y   long last\n');
  });
});

describe('greylist admin: opening never creates a store', () => {
  test('a SQLite file that does not exist is reported, and not created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fr-gl-'));
    try {
      const path = join(dir, 'sub', 'greylist.db');
      const r = await openStoreForAdmin(`sqlite:${path}`);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, /does not exist: nothing is stored yet/);
      assert.equal(existsSync(path), false);
      assert.equal(existsSync(join(dir, 'sub')), false);

      writeFileSync(join(dir, 'r.rules'), rulesFor(`sqlite:${path}`));
      const parsed = parseGreylistArgs(['list', join(dir, 'r.rules')]);
      assert.ok(parsed.ok);
      let err = '';
      const code = await runGreylistAdmin(parsed.value, { io: { out: () => {}, err: (t) => (err += t) }, clock: { now: () => 0 } });
      assert.equal(code, 1);
      assert.match(err, /store sqlite:.*greylist\.db: .*does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('invalid rules: the diagnostics, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fr-gl-'));
    try {
      writeFileSync(join(dir, 'bad.rules'), 'chain c = greylist store "ftp://x"\n');
      const parsed = parseGreylistArgs(['stats', join(dir, 'bad.rules')]);
      assert.ok(parsed.ok);
      let err = '';
      const code = await runGreylistAdmin(parsed.value, { io: { out: () => {}, err: (t) => (err += t) }, clock: { now: () => 0 } });
      assert.equal(code, 1);
      assert.match(err, /error\[E025\]/);
      assert.match(err, /invalid rules; fix them first/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The memory store outlives each command's close: its records are all there is. */
class KeptMemoryStore extends MemoryGreylistStore {
  override async close(): Promise<void> {}
}

describe('greylist admin on the memory store (the stores\' reference model)', () => {
  const store = new KeptMemoryStore();
  defineAdminScenario({
    // What the rules name; the commands open the memory store instead.
    url: () => 'sqlite:/nonexistent/greylist.db',
    open: async () => store,
    openForAdmin: async () => ok(store),
  });
});

describe('greylist admin on a real SQLite store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fr-gl-sqlite-'));
  defineAdminScenario({
    url: () => `sqlite:${join(dir, 'greylist.db')}`,
    open: async (url) => {
      const r = openStore(url);
      if (!r.ok) throw new Error(r.error);
      return r.value;
    },
  });
  test('cleanup', () => rmSync(dir, { recursive: true, force: true }));
});
