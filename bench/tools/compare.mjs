#!/usr/bin/env node
// Two builds side by side on the in-process scenarios of inproc.mjs, for
// before/after checks of a refactor (issue 11: every stage against its base):
//
//   node bench/tools/compare.mjs --base /tmp/i11-base/dist --head dist [--runs 9]
//   node bench/tools/compare.mjs --base dist --head dist      # the noise band
//
// Each round runs every scenario once per build, in separate processes
// (`DIST=… node bench/tools/inproc.mjs s1 50000`, `s3 10000`, `sessions 50000`),
// the two builds interleaved and each round starting with the other one, so
// drift on a shared machine (other jobs, thermal) falls on both. inproc.mjs and
// the rules come from this checkout; only the filter's code comes from DIR.
// Prints medians, min–max, head/base and head−base of the medians, and the
// range of the per-round ratios; --base X --head X shows how far those stray
// from 1 with no change at all.
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { compareRows, parseCompareArgs, parseInproc, renderComparison } from '../lib/compare.mjs';
import { rotate } from '../lib/scenarios/common.mjs';
import { BENCH_DIR } from '../lib/paths.mjs';
import { killAll, run } from '../lib/proc.mjs';

const INPROC = join(BENCH_DIR, 'tools', 'inproc.mjs');
/** One scenario run takes seconds; minutes means it hangs. */
const RUN_TIMEOUT_MS = 10 * 60_000;

function buildDir(flag, dir) {
  const abs = resolve(dir);
  if (!existsSync(join(abs, 'src', 'runtime', 'host.js'))) {
    throw new Error(`${flag} ${dir}: no build there (${join(abs, 'src', 'runtime', 'host.js')} is missing; run npx tsc -p tsconfig.json in that checkout)`);
  }
  return abs;
}

async function once(mode, size, dist) {
  const r = await run(process.execPath, [INPROC, mode, String(size)], { env: { ...process.env, DIST: dist }, timeoutMs: RUN_TIMEOUT_MS });
  if (r.timedOut) throw new Error(`DIST=${dist} inproc.mjs ${mode} ${size}: no result within ${RUN_TIMEOUT_MS / 60_000} min`);
  if (r.code !== 0) throw new Error(`DIST=${dist} inproc.mjs ${mode} ${size}: exit ${r.code ?? r.signal}\n${r.stderr.trim()}`);
  return parseInproc(mode, r.stdout, size);
}

async function main() {
  const args = parseCompareArgs(process.argv.slice(2));
  const builds = { base: buildDir('--base', args.base), head: buildDir('--head', args.head) };
  const log = (s) => process.stderr.write(`${s}\n`);
  const samples = { base: [], head: [] };
  const load0 = loadavg()[0];
  for (let round = 0; round < args.runs; round++) {
    const got = { base: {}, head: {} };
    for (const mode of args.modes) {
      for (const which of rotate(['base', 'head'], round)) {
        Object.assign(got[which], await once(mode, args.sizes[mode], builds[which]));
      }
    }
    samples.base.push(got.base);
    samples.head.push(got.head);
    log(`round ${round + 1}/${args.runs}: ${Object.entries(got.base).map(([k, v]) => `${k} ${v} → ${got.head[k]}`).join(', ')}`);
  }
  const sizes = args.modes.map((m) => `${m} ${args.sizes[m]}`).join(', ');
  process.stdout.write(
    `base ${builds.base}\nhead ${builds.head}${builds.base === builds.head ? ' (the same build: the noise band)' : ''}\n` +
      `${args.runs} run(s) of each (${sizes}), interleaved; load average ${load0.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end\n\n` +
      renderComparison(compareRows(args.modes, samples.base, samples.head)),
  );
}

main().catch(async (e) => {
  process.stderr.write(`compare: ${e.message}\n`);
  await killAll();
  process.exit(1);
});
