#!/usr/bin/env node
// The benchmark suite: `npm run bench` (quick, CI-sized) or `npm run bench -- --full`.
//
//   node bench/run.mjs [--full|--quick] [--only S1,S3] [--reps N] [--no-write] [--out DIR]
//
// Builds the C tools (bench/bin), finds out what filter-rules registers, runs
// the scenarios, prints a summary and writes bench/RESULTS.md, results.svg and
// results.json. Exit status 1 when any run failed (a protocol error, an
// unanswered request, a failed SMTP session) or a scenario could not run at
// all; missed targets are only reported.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTools } from './lib/build.mjs';
import { fmt } from './lib/format.mjs';
import { describeMachine } from './lib/machine.mjs';
import { BENCH_DIR, RULES_DIR } from './lib/paths.mjs';
import { killAll } from './lib/proc.mjs';
import { consoleTable, renderMarkdown, targetTally } from './lib/report.mjs';
import { probeRegistration } from './lib/sim.mjs';
import { DEFAULT_REGISTRATION, oursArgv, oursBuilt, shellLine } from './lib/subjects.mjs';
import { renderSvg } from './lib/svg.mjs';
import * as s1 from './lib/scenarios/s1-realistic.mjs';
import * as s2 from './lib/scenarios/s2-greylist.mjs';
import * as s3 from './lib/scenarios/s3-pause.mjs';
import * as s4 from './lib/scenarios/s4-reload.mjs';
import * as s5 from './lib/scenarios/s5-smtpd.mjs';

const SCENARIOS = [s1, s2, s3, s4, s5];

export const PARAMS = {
  quick: {
    reps: 3,
    s1: { durationMs: 1500, warmup: 2000, concurrency: 50, rcpts: 2 },
    s2: { durationMs: 1500, postgreyDurationMs: 1500, warmup: 200, concurrency: 50 },
    s3: { sessions: 10_000 },
    s4: { concurrency: 1000, thinkMs: 200, durationMs: 4000, reloadAtMs: 2000, modes: ['rename'] },
    s5: { concurrency: 10, durationMs: 3000, warmupMs: 500, python: false },
  },
  full: {
    reps: 5,
    s1: { durationMs: 5000, warmup: 5000, concurrency: 50, rcpts: 2 },
    s2: { durationMs: 5000, postgreyDurationMs: 5000, warmup: 500, concurrency: 50 },
    s3: { sessions: 10_000 },
    s4: { concurrency: 1000, thinkMs: 200, durationMs: 8000, reloadAtMs: 4000, modes: ['rename', 'in-place write'] },
    s5: { concurrency: 10, durationMs: 10_000, warmupMs: 1000, python: true },
  },
};

export function parseArgs(argv) {
  const a = { mode: 'quick', only: null, reps: null, write: true, out: BENCH_DIR };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--full') a.mode = 'full';
    else if (k === '--quick') a.mode = 'quick';
    else if (k === '--no-write') a.write = false;
    else if (k === '--only' && argv[i + 1]) a.only = argv[++i].toUpperCase().split(',');
    else if (k === '--reps' && /^[1-9][0-9]*$/.test(argv[i + 1] ?? '')) a.reps = Number(argv[++i]);
    else if (k === '--out' && argv[i + 1]) a.out = argv[++i];
    else throw new Error(`unknown argument ${k}\nusage: node bench/run.mjs [--full|--quick] [--only S1,S2] [--reps N] [--no-write] [--out DIR]`);
  }
  return a;
}

function brief(r) {
  const parts = [`${fmt(r.sessions_per_s)} sessions/s`, `${fmt(r.requests_per_s)} req/s`, `p99 ${fmt(r.latency_us?.all?.p99)} µs`];
  if (r.filter?.vmhwm_kb > 0) parts.push(`RSS ${fmt(r.filter.vmhwm_kb / 1024, 1)} MB`);
  if (r.connect_lateness_ms) parts.push(`last banner +${fmt(r.connect_lateness_ms.max, 1)} ms`);
  if (r.reload) parts.push(`reload in force ${fmt(r.reload.in_force_ms, 1)} ms, max delay ${fmt(r.reload.max_latency_during_ms, 1)} ms`);
  parts.push(`filter CPU ${fmt(r.filter?.cpu_pct)}%, sim ${fmt(r.sim?.cpu_pct)}%`);
  return parts.join(', ');
}

async function findOurs(simBin) {
  if (!oursBuilt()) return { ok: false, reason: 'filter-rules is not built (dist/src/cli/main.js missing): `npm run bench` builds it first' };
  try {
    const reg = await probeRegistration(simBin, shellLine(oursArgv(join(RULES_DIR, 'realistic.rules'), 'realistic')));
    return { ok: true, registration: { filter: reg.filter, report: reg.report }, startupMs: reg.handshakeMs };
  } catch (e) {
    return { ok: false, reason: `filter-rules did not start with bench/rules/realistic.rules: ${e.message.split('\n')[0]}` };
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const params = { ...PARAMS[args.mode], reps: args.reps ?? PARAMS[args.mode].reps };
  const log = (s) => process.stderr.write(`${s}\n`);

  log(`filter-rules bench, ${args.mode} mode, ${params.reps} repetitions`);
  const tools = await buildTools();
  const machine = await describeMachine();
  log(`machine: ${machine.cpu} × ${machine.nproc}, load ${machine.loadavg.join(' ')}`);
  const ours = await findOurs(tools.sim);
  log(ours.ok ? `filter-rules registers: ${ours.registration.filter.join(',')} | ${ours.registration.report.join(',')}` : `filter-rules: ${ours.reason}`);

  const tmp = mkdtempSync(join(tmpdir(), 'filter-rules-bench-'));
  chmodSync(tmp, 0o755); // filters run by smtpd (user opensmtpd) read rules from here
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true })); // also after Ctrl-C
  const ctx = {
    mode: args.mode,
    params,
    tools,
    machine,
    ours,
    registration: ours.ok ? ours.registration : DEFAULT_REGISTRATION,
    tmp,
    failures: [],
    progress: (s) => log(`  ${s}`),
    brief,
  };

  // Other work on the machine skews everything: keep the load seen during the run.
  const loads = [loadavg()[0]];
  const sampler = setInterval(() => loads.push(loadavg()[0]), 5000);
  const scenarios = [];
  try {
    for (const sc of SCENARIOS) {
      if (args.only && !args.only.includes(sc.id)) continue;
      log(`${sc.id}: ${sc.title}`);
      try {
        scenarios.push(await sc.run(ctx));
      } catch (e) {
        scenarios.push({ id: sc.id, title: sc.title, error: e.message.split('\n')[0], rows: [] });
        log(`  ${sc.id} failed: ${e.stack ?? e.message}`);
      }
    }
  } finally {
    clearInterval(sampler);
    loads.push(loadavg()[0]);
    await killAll();
    rmSync(tmp, { recursive: true, force: true });
  }

  const results = {
    command: `npm run bench${args.mode === 'full' ? ' -- --full' : ''}`,
    mode: args.mode,
    reps: params.reps,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    durationS: (Date.now() - t0) / 1000,
    machine,
    ours: { ok: ours.ok, reason: ours.reason ?? null, registration: ours.registration ?? null, startupMs: ours.startupMs ?? null },
    params,
    load: { start: loads[0], max: Math.max(...loads), end: loads[loads.length - 1] },
    failures: ctx.failures,
    scenarios,
  };

  process.stdout.write(`\n${consoleTable(results)}\n`);
  const tally = targetTally(results);
  process.stdout.write(`\ntargets: ${tally.met} met, ${tally.missed} missed${tally.unknown ? `, ${tally.unknown} n/a` : ''}\n`);
  if (args.write) {
    writeFileSync(join(args.out, 'RESULTS.md'), renderMarkdown(results));
    writeFileSync(join(args.out, 'results.svg'), renderSvg(results));
    writeFileSync(join(args.out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`wrote ${join(args.out, 'RESULTS.md')}, results.svg, results.json\n`);
  }
  const broken = scenarios.filter((s) => s.error).map((s) => s.id);
  if (ctx.failures.length || broken.length) {
    process.stdout.write(`FAILED:\n  ${[...ctx.failures, ...broken.map((b) => `${b} could not run`)].join('\n  ')}\n`);
    process.exitCode = 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch(async (e) => {
    process.stderr.write(`bench: ${e.stack ?? e.message}\n`);
    await killAll();
    process.exit(1);
  });
}
