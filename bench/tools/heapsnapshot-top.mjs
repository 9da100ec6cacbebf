#!/usr/bin/env node
// Summarise a V8 .heapsnapshot (from v8.writeHeapSnapshot() or
// `node --heapsnapshot-signal`): count and self size per constructor/type,
// largest first. Enough to see what a paused session costs.
//
//   node bench/tools/heapsnapshot-top.mjs FILE.heapsnapshot [N]
import { readFileSync } from 'node:fs';

// Piped into `head`: stop quietly when the reader goes away.
process.stdout.on('error', () => process.exit(0));

const [file, nArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: heapsnapshot-top.mjs FILE.heapsnapshot [N]\n');
  process.exit(2);
}
const top = Number(nArg ?? 40);
const snap = JSON.parse(readFileSync(file, 'utf8'));
const meta = snap.snapshot.meta;
const fields = meta.node_fields;
const types = meta.node_types[0];
const width = fields.length;
const iType = fields.indexOf('type');
const iName = fields.indexOf('name');
const iSize = fields.indexOf('self_size');
const groups = new Map();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + iType]];
  const name = type === 'object' || type === 'closure' || type === 'native' ? snap.strings[snap.nodes[i + iName]] : `(${type})`;
  const key = type === 'closure' ? `closure ${name}` : name;
  const size = snap.nodes[i + iSize];
  total += size;
  const g = groups.get(key) ?? { count: 0, size: 0 };
  g.count++;
  g.size += size;
  groups.set(key, g);
}
process.stdout.write(`total self size ${(total / 1e6).toFixed(1)} MB\n`);
for (const [k, g] of [...groups].sort((a, b) => b[1].size - a[1].size).slice(0, top)) {
  process.stdout.write(`${(g.size / 1e6).toFixed(2).padStart(8)} MB ${String(g.count).padStart(8)}  ${k.slice(0, 100)}\n`);
}
