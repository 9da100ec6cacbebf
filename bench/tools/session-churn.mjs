#!/usr/bin/env node
// What connect/disconnect churn costs the session table on a quiet server: one
// session added and deleted, over and over, so the table keeps going from one
// session to none. The table must cost O(1) per session whatever its cap
// (--max, smtpd's sessions at most): this prints, side by side in one run, the
// median time of the churn
//   - in SessionTable with a cap of 10 (the reference),
//   - in SessionTable with the cap given (50,000 by default),
//   - in lru-cache with that cap: the table it replaced, whose delete of its last
//     entry refills arrays sized by the cap (seconds instead of milliseconds),
// and the ratios to the reference. A ratio near 1 for SessionTable is the claim.
// (It was a timed assertion in test/unit/runtime/session-table.test.ts; timings
// belong here.)
//
//   node bench/tools/session-churn.mjs [--reps 7] [--churn 20000] [--max 50000] [--dist DIST]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LRUCache } from 'lru-cache';
import { ROOT_DIR } from '../lib/paths.mjs';
import { median } from '../lib/stats.mjs';

const { values: opt } = parseArgs({
  options: {
    reps: { type: 'string', default: '7' },
    churn: { type: 'string', default: '20000' },
    max: { type: 'string', default: '50000' },
    dist: { type: 'string', default: join(ROOT_DIR, 'dist') },
  },
});
const reps = Number(opt.reps);
const churn = Number(opt.churn);
const max = Number(opt.max);

const { Session } = await import(join(opt.dist, 'src', 'runtime', 'session.js'));
const { SessionTable } = await import(join(opt.dist, 'src', 'runtime', 'session-table.js'));
const clock = { now: () => 0, monotonic: () => 0 };
/** The table never reads a session's plan. */
const plan = /** @type {never} */ ({});
const id = (n) => n.toString(16).padStart(16, '0');

function timeMs(run) {
  const started = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function sessionTable(cap) {
  return () => {
    const t = new SessionTable({ clock, maxSessions: cap, onEnd: () => {} });
    for (let i = 0; i < churn; i++) {
      t.add(new Session(id(i), plan));
      t.delete(id(i));
    }
  };
}

function lruCache(cap) {
  return () => {
    const t = new LRUCache({ max: cap });
    for (let i = 0; i < churn; i++) {
      t.set(id(i), new Session(id(i), plan));
      t.delete(id(i));
    }
  };
}

const subjects = [
  [`SessionTable, cap 10 (reference)`, sessionTable(10)],
  [`SessionTable, cap ${max}`, sessionTable(max)],
  [`lru-cache, cap ${max}`, lruCache(max)],
];
const medians = subjects.map(([name, run]) => {
  run(); // warm-up
  return [name, median(Array.from({ length: reps }, () => timeMs(run)))];
});
const reference = medians[0][1];
console.log(`${churn} connect/disconnect pairs, median of ${reps} runs`);
for (const [name, ms] of medians) {
  console.log(`${name.padEnd(34)} ${ms.toFixed(2).padStart(10)} ms   x${(ms / reference).toFixed(2)}`);
}
