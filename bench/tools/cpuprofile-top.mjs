#!/usr/bin/env node
// Summarise a V8 .cpuprofile (from `node --cpu-prof`): the top functions by
// self time, and by inclusive ("total") time, with their source location.
//
//   node bench/tools/cpuprofile-top.mjs PROFILE.cpuprofile [N]
//
// Self time is the time spent in the function's own code; total time adds
// everything it called (each function counted once per stack, so recursion
// does not inflate it).
import { readFileSync } from 'node:fs';

// Piped into `head`: stop quietly when the reader goes away.
process.stdout.on('error', () => process.exit(0));

const [file, nArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: cpuprofile-top.mjs PROFILE.cpuprofile [N]\n');
  process.exit(2);
}
const top = Number(nArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8'));

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Time per sample: the deltas (µs) attributed to the sample's node.
const selfUs = new Map();
let totalUs = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  const dt = profile.timeDeltas[i + 1] ?? 0;
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  totalUs += dt;
}

const keyOf = (n) => {
  const f = n.callFrame;
  const url = f.url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
};

const self = new Map();
const incl = new Map();
for (const [id, us] of selfUs) {
  const k = keyOf(nodes.get(id));
  self.set(k, (self.get(k) ?? 0) + us);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const kk = keyOf(nodes.get(cur));
    if (seen.has(kk)) continue;
    seen.add(kk);
    incl.set(kk, (incl.get(kk) ?? 0) + us);
  }
}

const pct = (us) => `${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
const print = (title, map) => {
  process.stdout.write(`\n${title} (of ${(totalUs / 1000).toFixed(0)} ms sampled)\n`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${pct(us)} ${(us / 1000).toFixed(1).padStart(8)} ms  ${k}\n`);
  }
};
print('Self time', self);
print('Total time', incl);
