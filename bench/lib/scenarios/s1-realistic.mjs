// Scenario 1: a realistic chain where nothing matches. filter-rules vs the C
// proceed filter (the protocol's limit here) vs a naive Python filter doing the
// same checks. Same simulator, same traffic, same run, interleaved repetitions.
import { join } from 'node:path';
import { RULES_DIR } from '../paths.mjs';
import { naiveArgv, oursArgv, proceedArgv, shellLine } from '../subjects.mjs';
import { ratio } from '../stats.mjs';
import { makeRow, mb, repeatSims, skippedRow, summarizeSims, unexpectedDecisions } from './common.mjs';

export const id = 'S1';
export const title = 'Realistic chain, nothing matches';

export async function run(ctx) {
  const p = ctx.params.s1;
  const rules = join(RULES_DIR, 'realistic.rules');
  const options = (r) => ({
    sessions: 100_000_000,
    durationMs: p.durationMs,
    warmup: p.warmup,
    concurrency: p.concurrency,
    rcpts: p.rcpts,
    seed: 1000 + r,
    deadlineMs: p.durationMs + 60_000,
  });
  const subjects = [
    { id: 'c', name: 'C proceed filter', cmd: shellLine(proceedArgv(ctx.tools.proceed, ctx.registration)), options },
    { id: 'python', name: 'naive Python filter', cmd: shellLine(naiveArgv(ctx.registration)), options },
  ];
  if (ctx.ours.ok) subjects.splice(1, 0, { id: 'ours', name: 'filter-rules', cmd: shellLine(oursArgv(rules, 'realistic')), options });
  const runs = await repeatSims(ctx, subjects, ctx.params.reps, 'S1');

  const pick = (r) => ({
    sessions_per_s: r.sessions_per_s,
    requests_per_s: r.requests_per_s,
    p50_us: r.latency_us.all.p50,
    p99_us: r.latency_us.all.p99,
    max_us: r.latency_us.all.max,
    rss_mb: mb(r.filter.vmhwm_kb),
    filter_cpu_pct: r.filter.cpu_pct,
    sim_cpu_pct: r.sim.cpu_pct,
  });
  const summary = new Map([...runs].map(([k, v]) => [k, summarizeSims(v.results, pick)]));
  const cRate = summary.get('c')?.sessions_per_s?.median ?? null;

  const rows = [];
  for (const s of [subjects.find((x) => x.id === 'c'), { id: 'ours', name: 'filter-rules' }, subjects.find((x) => x.id === 'python')]) {
    if (s.id === 'ours' && !ctx.ours.ok) {
      rows.push(skippedRow('filter-rules', ctx.ours.reason));
      continue;
    }
    const { results, failures } = runs.get(s.id);
    const m = summary.get(s.id);
    if (results.length === 0) {
      rows.push(makeRow({ subject: s.name, status: 'failed', note: failures[0] ?? 'no result' }));
      continue;
    }
    const odd = [...new Set(results.flatMap((r) => unexpectedDecisions(r)))];
    const rate = m.sessions_per_s.median;
    const targets =
      s.id === 'ours'
        ? [
            { text: '≥ 0.5 × C sessions/s', met: ratio(rate, cRate) === null ? null : ratio(rate, cRate) >= 0.5 },
            { text: 'p99 < 2 ms', met: m.p99_us.median < 2000 },
          ]
        : [];
    rows.push(
      makeRow({
        subject: s.name,
        headline: { label: 'sessions/s', value: rate, unit: '' },
        ratio: s.id === 'c' ? { value: 1, of: 'C' } : { value: ratio(rate, cRate), of: 'C' },
        baseline: s.id === 'c',
        targets,
        metrics: m,
        note: [failures.length ? `${failures.length} failed run(s): ${failures[0]}` : '', odd.length ? `unexpected decisions (rules matched something): ${odd.join(', ')}` : '']
          .filter(Boolean)
          .join('; '),
      }),
    );
  }
  return {
    id,
    title,
    setup: `smtpd-sim, ${p.concurrency} concurrent sessions (EHLO, MAIL, ${p.rcpts} RCPT, DATA, QUIT; every session from its own 10.x address), ${p.durationMs / 1000} s measured after ${p.warmup} warm-up sessions, ${ctx.params.reps} interleaved repetitions; rules: bench/rules/realistic.rules`,
    columns: [
      ['sessions/s', 'sessions_per_s', 0],
      ['requests/s', 'requests_per_s', 0],
      ['p50 µs', 'p50_us', 0],
      ['p99 µs', 'p99_us', 0],
      ['max µs', 'max_us', 0],
      ['peak RSS MB', 'rss_mb', 1],
      ['filter CPU %', 'filter_cpu_pct', 0],
      ['sim CPU %', 'sim_cpu_pct', 0],
    ],
    rows,
  };
}
