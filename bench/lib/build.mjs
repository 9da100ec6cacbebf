// Builds the C tools into bench/bin (gitignored) with `cc -O2`, when the
// binary is missing or older than its source.
import { mkdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.mjs';
import { BENCH_DIR } from './paths.mjs';

export const TOOLS = {
  sim: { src: 'sim/smtpd-sim.c', bin: 'smtpd-sim' },
  proceed: { src: 'ref/proceed-filter.c', bin: 'proceed-filter' },
  load: { src: 'load/smtp-load.c', bin: 'smtp-load' },
};

function mtime(p) {
  return existsSync(p) ? statSync(p).mtimeMs : -1;
}

/** Returns { sim, proceed, load } absolute binary paths. Throws with the compiler output on failure. */
export async function buildTools({ force = false, cc = process.env.CC || 'cc' } = {}) {
  const binDir = join(BENCH_DIR, 'bin');
  mkdirSync(binDir, { recursive: true, mode: 0o755 });
  const paths = {};
  for (const [name, t] of Object.entries(TOOLS)) {
    const src = join(BENCH_DIR, t.src);
    const bin = join(binDir, t.bin);
    paths[name] = bin;
    if (!force && mtime(bin) >= mtime(src)) continue;
    const r = await run(cc, ['-O2', '-Wall', '-Wextra', '-o', bin, src], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`building ${t.src} failed:\n${r.stderr}`);
  }
  return paths;
}
