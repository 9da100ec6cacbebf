// bench/tools/compare.mjs end to end, on this checkout's build twice (tiny
// scenario sizes): inproc.mjs's real output is read, every row has numbers,
// and a missing build is refused before anything runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, ROOT_DIR } from '../lib/paths.mjs';
import { run } from '../lib/proc.mjs';

const COMPARE = join(BENCH_DIR, 'tools', 'compare.mjs');
const DIST = join(ROOT_DIR, 'dist');
const built = existsSync(join(DIST, 'src', 'runtime', 'host.js'));

test('the same build as base and head: every measure read, one round each', { skip: built ? false : 'dist/ not built (npx tsc -p tsconfig.json)' }, async () => {
  const r = await run(process.execPath, [COMPARE, '--base', DIST, '--head', DIST, '--runs', '1', '--s1', '500', '--s3', '200', '--sessions', '500'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\(the same build: the noise band\)/);
  const rows = r.stdout.split('\n').filter((l) => /^[* ] \S/.test(l));
  assert.equal(rows.length, 9, r.stdout);
  for (const row of rows) assert.doesNotMatch(row, / – /, `a measure without a value: ${row}`);
  assert.match(r.stderr, /^round 1\/1: s1\.cpu /m);
});

test('a directory without a build is refused with the command that makes one', async () => {
  const r = await run(process.execPath, [COMPARE, '--base', '/nonexistent/dist', '--head', DIST], { timeoutMs: 30_000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--base \/nonexistent\/dist: no build there .*run npx tsc -p tsconfig.json in that checkout/);
});
