#!/usr/bin/env node
/**
 * Limit decisions per second (issue 13): the `limit` step with its memory,
 * SQLite and Redis counter stores, side by side with a real postfwd enforcing
 * the same limit (its rate() action) through the `policy` step, in one run.
 * Each subject is the real filter process driven by bench/bin/smtpd-sim:
 * CONCURRENCY sessions at once, each a new client (10.x.y.z) with RCPTS
 * recipients, so each client's first 10 RCPTs pass and the rest are refused
 * (`limit "10/1h" per "src(32,128)" count recipients` and postfwd's
 * `rate(client_address/10/3600/…)`); a decision is one RCPT answer. The
 * subjects run interleaved, REPS times; the medians are printed (a table, or
 * JSON with --json). Build first (npx tsc -p tsconfig.json); needs
 * redis-server and postfwd (skipped with the reason when missing).
 *
 *   node bench/limits.mjs [--reps 3] [--duration-ms 5000] [--json] [--tiny]
 *
 * --tiny: a few hundred sessions a subject, one repetition (bench/test/limits.test.mjs).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildTools } from './lib/build.mjs';
import { killAll } from './lib/proc.mjs';
import { startRedis } from './lib/services.mjs';
import { runSim } from './lib/sim.mjs';
import { median } from './lib/stats.mjs';
import { oursArgv, shellLine } from './lib/subjects.mjs';

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    'duration-ms': { type: 'string', default: '5000' },
    json: { type: 'boolean', default: false },
    tiny: { type: 'boolean', default: false },
  },
});
const TINY = args.tiny;
const REPS = TINY ? 1 : Number(args.reps);
const DURATION_MS = TINY ? 0 : Number(args['duration-ms']);
const CONCURRENCY = 20;
const RCPTS = 12;
const MAX = 10;
const PERIOD_S = 3600;

const dist = new URL('../dist/', import.meta.url);
const daemonModule = new URL('test/integration/limits/postfwd-daemon.js', dist);
if (!existsSync(daemonModule)) {
  console.error('dist/ is missing: build first (npx tsc -p tsconfig.json)');
  process.exit(2);
}
const { PostfwdDaemon, POSTFWD } = await import(daemonModule.href);

const log = (s) => {
  if (!args.json) console.error(s);
};

/** The sim's options for one run; a new range of clients every run, so stores that persist start from fresh keys. */
let runNo = 0;
function simOptions() {
  const common = { concurrency: CONCURRENCY, rcpts: RCPTS, noData: true, idOffset: 100_000_000 * ++runNo };
  return TINY
    ? { ...common, sessions: 200, deadlineMs: 60_000 }
    : { ...common, sessions: 100_000_000, durationMs: DURATION_MS, warmup: 200, deadlineMs: DURATION_MS + 60_000 };
}

/** One run's numbers: decisions/s, RCPT latency, and the share refused (the limit must bite). */
function pick(r) {
  const measured = r.latency_us['rcpt-to']?.n ?? 0;
  const rcpt = r.decisions['rcpt-to'] ?? {};
  const all = Object.values(rcpt).reduce((a, b) => a + b, 0);
  return {
    decisions_per_s: r.elapsed_s > 0 ? measured / r.elapsed_s : null,
    rcpt_p50_us: r.latency_us['rcpt-to']?.p50 ?? null,
    rcpt_p99_us: r.latency_us['rcpt-to']?.p99 ?? null,
    refused_pct: all > 0 ? (100 * (rcpt.reject ?? 0)) / all : null,
  };
}

const tmp = mkdtempSync(join(tmpdir(), 'filter-rules-bench-limits-'));
const services = [];
const subjects = [];
try {
  const tools = await buildTools();
  const limitRules = (name, store) => {
    const file = join(tmp, `${name}.rules`);
    writeFileSync(file, `chain main =\n    limit "${MAX}/1h" per "src(32,128)" count recipients store "${store}"\n`, { mode: 0o644 });
    return file;
  };
  subjects.push({ id: 'memory', name: 'limit, memory store', rules: limitRules('memory', 'memory:') });
  subjects.push({ id: 'sqlite', name: 'limit, SQLite store', rules: limitRules('sqlite', `sqlite:${join(tmp, 'limits.db')}`) });
  try {
    const redis = await startRedis(join(tmp, 'redis'));
    services.push(redis);
    subjects.push({ id: 'redis', name: 'limit, Redis store', rules: limitRules('redis', redis.url) });
  } catch (e) {
    subjects.push({ id: 'redis', name: 'limit, Redis store', skipped: `redis-server: ${e.message.split('\n')[0]}` });
  }
  if (existsSync(POSTFWD)) {
    try {
      const postfwd = await PostfwdDaemon.start(`id=RCPTRATE; action=rate(client_address/${MAX}/${PERIOD_S}/450 4.7.1 postfwd rate limit exceeded)\n`);
      services.push(postfwd);
      const file = join(tmp, 'postfwd.rules');
      writeFileSync(file, `chain main =\n    policy unix:${postfwd.socket} timeout 5s\n`, { mode: 0o644 });
      subjects.push({ id: 'postfwd', name: 'policy step → postfwd rate()', rules: file });
    } catch (e) {
      subjects.push({ id: 'postfwd', name: 'policy step → postfwd rate()', skipped: e.message.split('\n')[0] });
    }
  } else {
    subjects.push({ id: 'postfwd', name: 'policy step → postfwd rate()', skipped: `${POSTFWD} not installed` });
  }

  const runs = new Map(subjects.map((s) => [s.id, []]));
  const failures = new Map(subjects.map((s) => [s.id, []]));
  const runnable = subjects.filter((s) => !s.skipped);
  for (let rep = 0; rep < REPS; rep++) {
    // Interleaved, and rotated each repetition, so a busy moment of the machine does not fall on one subject only.
    for (const [i] of runnable.entries()) {
      const s = runnable[(i + rep) % runnable.length];
      const res = await runSim(tools.sim, shellLine(oursArgv(s.rules)), simOptions());
      if (res.ok) {
        const p = pick(res.result);
        runs.get(s.id).push(p);
        log(`${s.id} #${rep + 1}: ${Math.round(p.decisions_per_s)} decisions/s, ${p.refused_pct?.toFixed(1)}% refused`);
      } else {
        failures.get(s.id).push(res.error);
        log(`${s.id} #${rep + 1}: FAILED ${res.error}`);
      }
    }
  }

  const rows = subjects.map((s) => {
    if (s.skipped) return { id: s.id, subject: s.name, skipped: s.skipped };
    const rs = runs.get(s.id);
    const med = (k) => median(rs.map((r) => r[k]));
    return {
      id: s.id,
      subject: s.name,
      runs: rs.length,
      decisions_per_s: med('decisions_per_s'),
      rcpt_p50_us: med('rcpt_p50_us'),
      rcpt_p99_us: med('rcpt_p99_us'),
      refused_pct: med('refused_pct'),
      failures: failures.get(s.id),
    };
  });
  // Every subject enforces the same limit on the same traffic: each client's RCPTs after the 10th are refused.
  const wantRefused = (100 * (RCPTS - MAX)) / RCPTS;
  for (const r of rows) {
    if (typeof r.refused_pct === 'number' && Math.abs(r.refused_pct - wantRefused) > 0.05) {
      r.note = `refused ${r.refused_pct.toFixed(1)}% of RCPTs, not ${wantRefused.toFixed(1)}%: not the same limit (or failures)`;
    }
  }
  const postfwdRate = rows.find((r) => r.id === 'postfwd')?.decisions_per_s ?? null;
  for (const r of rows) r.vs_postfwd = typeof r.decisions_per_s === 'number' && postfwdRate ? r.decisions_per_s / postfwdRate : null;
  const setup = { reps: REPS, duration_ms: DURATION_MS, concurrency: CONCURRENCY, rcpts_per_session: RCPTS, limit: `${MAX}/1h per client`, tiny: TINY };

  if (args.json) console.log(JSON.stringify({ setup, rows }, null, 2));
  else {
    const n = (x, d = 0) => (typeof x === 'number' ? x.toFixed(d) : '–');
    console.log(`limit decisions/s, medians of ${REPS} (${CONCURRENCY} sessions at once, ${RCPTS} RCPTs each, ${MAX}/1h per client)`);
    console.log('| subject | decisions/s | × postfwd | RCPT p50 µs | RCPT p99 µs | refused % |');
    console.log('|---|---|---|---|---|---|');
    for (const r of rows) {
      if (r.skipped) console.log(`| ${r.subject} | skipped: ${r.skipped} | | | | |`);
      else console.log(`| ${r.subject} | ${n(r.decisions_per_s)} | ${n(r.vs_postfwd, 1)} | ${n(r.rcpt_p50_us)} | ${n(r.rcpt_p99_us)} | ${n(r.refused_pct, 1)} |`);
    }
    for (const r of rows) if (r.note) console.log(`${r.subject}: ${r.note}`);
  }
  process.exitCode = rows.some((r) => !r.skipped && (r.runs === 0 || r.note)) ? 1 : 0;
} finally {
  for (const s of services.reverse()) await s.stop().catch(() => {});
  await killAll();
  rmSync(tmp, { recursive: true, force: true });
}
