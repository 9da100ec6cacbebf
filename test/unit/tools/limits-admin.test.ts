/** `filter-rules limits` arguments and commands, in process, on the memory counter store. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRulesSource } from '../../../src/dsl/index.js';
import { MemoryCounterStore } from '../../../src/store/counter-memory.js';
import { parseLimitsArgs, type LimitsCommand } from '../../../src/tools/limits/args.js';
import { runLimitsAdmin, selectCounterStore } from '../../../src/tools/limits/commands.js';
import { ok } from '../../../src/support/result.js';

const RULES = 'chain inbound =\n    limit "3/1h" per "src(24,64)" store "sqlite:/var/lib/filter-rules/limits.db"\n';

function command(argv: string[]): LimitsCommand {
  const r = parseLimitsArgs(argv);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

describe('limits arguments', () => {
  test('list and reset, their options, and the mistakes as messages', () => {
    assert.deepEqual(command(['list', '--json', 'r.rules', '192.0.2']), { kind: 'limits', action: 'list', rulesFile: 'r.rules', store: null, limit: 1000, json: true, args: ['192.0.2'] });
    assert.equal(command(['list', '--limit', '0', 'r.rules']).limit, null);
    assert.deepEqual(command(['reset', '--store', 'redis://127.0.0.1/3', 'r.rules', 'k']).store, 'redis://127.0.0.1/3');
    const mistakes: Array<[string[], RegExp]> = [
      [[], /expected list or reset/],
      [['list'], /missing RULES-FILE/],
      [['reset', 'r.rules'], /at least one KEY/],
      [['reset', '--json', 'r.rules', 'k'], /options of list/],
      [['list', '--store', 'ftp://x', 'r.rules'], /--store/],
      [['list', '--limit', 'x', 'r.rules'], /whole number/],
    ];
    for (const [argv, message] of mistakes) {
      const r = parseLimitsArgs(argv);
      assert.ok(!r.ok && message.test(r.error), `${argv.join(' ')}: ${r.ok ? 'accepted' : r.error}`);
    }
  });
});

describe('limits commands', () => {
  const compile = () => compileRulesSource(RULES, 'r.rules');

  test('the store is the limit steps’ one, or --store', () => {
    const c = compile();
    assert.ok(c.ok);
    assert.deepEqual(selectCounterStore(c.rules, null), { ok: true, value: 'sqlite:/var/lib/filter-rules/limits.db' });
    assert.deepEqual(selectCounterStore(c.rules, 'redis://h/1'), { ok: true, value: 'redis://h/1' });
  });

  test('list shows the counters (filtered by text), reset forgets one; an unknown key is exit 1', async () => {
    const store = new MemoryCounterStore();
    const spec = { rate: 3, periodMs: 3_600_000, burst: 3 };
    await store.consume('recipients:3/1h:3:src(24,64)|192.0.2.0/24', spec, 1, 'lenient', Date.now());
    await store.consume('recipients:3/1h:3:src(24,64)|198.51.100.0/24', spec, 1, 'lenient', Date.now());
    await store.acquire('sessions:2:2:src(32,64)|192.0.2.7/32', 'mx1:s1', { max: 2, orphanAfterMs: 60_000 }, Date.now());
    let out = '';
    let errors = '';
    const deps = { io: { out: (t: string) => (out += t), err: (t: string) => (errors += t) }, compile, open: async () => ok(store) };
    // The command closes the store it opened: give it one that survives for the next command.
    store.close = async () => {};
    assert.equal(await runLimitsAdmin(command(['list', 'r.rules', '192.0.2.']), deps), 0);
    assert.deepEqual(out.trim().split('\n').map((l) => l.split(/\s+/).slice(0, 2).join(' ')), [
      'rate recipients:3/1h:3:src(24,64)|192.0.2.0/24',
      'concurrency sessions:2:2:src(32,64)|192.0.2.7/32',
    ]);
    out = '';
    assert.equal(await runLimitsAdmin(command(['reset', 'r.rules', 'recipients:3/1h:3:src(24,64)|192.0.2.0/24']), deps), 0);
    assert.equal(out, 'reset: recipients:3/1h:3:src(24,64)|192.0.2.0/24\n');
    out = '';
    assert.equal(await runLimitsAdmin(command(['reset', 'r.rules', 'nope']), deps), 1);
    assert.equal(out, 'not found: nope\n');
    out = '';
    assert.equal(await runLimitsAdmin(command(['list', '--json', 'r.rules']), deps), 0);
    assert.equal(out.trim().split('\n').length, 2);
    assert.equal(errors, '');
  });
});
