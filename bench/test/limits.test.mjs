// bench/limits.mjs end to end in its tiny mode: every subject that can run
// (memory, SQLite, Redis, postfwd through the policy step) has a rate, and all
// of them refuse the same share of RCPTs (the same limit on the same traffic).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, ROOT_DIR } from '../lib/paths.mjs';
import { run } from '../lib/proc.mjs';

const LIMITS = join(BENCH_DIR, 'limits.mjs');
const built = existsSync(join(ROOT_DIR, 'dist', 'test', 'integration', 'limits', 'postfwd-daemon.js'));

test('limits bench, tiny: a rate per subject, the same refusals everywhere', { skip: built ? false : 'dist/ not built (npx tsc -p tsconfig.json)' }, async () => {
  const r = await run(process.execPath, [LIMITS, '--tiny', '--json'], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const { setup, rows } = JSON.parse(r.stdout);
  assert.equal(setup.tiny, true);
  assert.deepEqual(
    rows.map((row) => row.id),
    ['memory', 'sqlite', 'redis', 'postfwd'],
  );
  const ran = rows.filter((row) => !row.skipped);
  assert.ok(ran.some((row) => row.id === 'memory') && ran.some((row) => row.id === 'sqlite'), 'the memory and SQLite stores need nothing installed');
  for (const row of ran) {
    assert.equal(row.runs, 1, row.subject);
    assert.ok(row.decisions_per_s > 0, `${row.subject}: ${row.decisions_per_s}`);
    assert.ok(Math.abs(row.refused_pct - (100 * 2) / 12) < 0.05, `${row.subject} refused ${row.refused_pct}%`);
  }
  for (const row of rows.filter((x) => x.skipped)) assert.match(row.skipped, /\S/);
});
