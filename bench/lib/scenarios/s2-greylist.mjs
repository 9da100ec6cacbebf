// Scenario 2: a flood of new triplets (every session a new client, sender and
// recipient: every RCPT is greylisted) through filter-rules' built-in
// greylisting with SQLite and with Redis, against the same flood through a
// real postgrey via filter-rules' `postgrey` step. Decisions (RCPT answers)
// per second. The C proceed filter on the same flood shows the ceiling.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RULES_DIR } from '../paths.mjs';
import { startPostgrey, startRedis } from '../services.mjs';
import { probeRegistration } from '../sim.mjs';
import { oursArgv, proceedArgv, shellLine } from '../subjects.mjs';
import { ratio } from '../stats.mjs';
import { makeRow, mb, repeatSims, skippedRow, summarizeSims, unexpectedDecisions } from './common.mjs';

export const id = 'S2';
export const title = 'Greylisting flood: built-in vs postgrey';

/** Fill a rules template (@DIR@, @REDIS@). Pure. */
export function fillTemplate(text, vars) {
  return text.replace(/@([A-Z]+)@/g, (m, k) => (k in vars ? vars[k] : m));
}

function writeRules(ctx, name, vars) {
  const text = fillTemplate(readFileSync(join(RULES_DIR, name), 'utf8'), vars);
  const file = join(ctx.tmp, name);
  writeFileSync(file, text, { mode: 0o644 });
  return file;
}

export async function run(ctx) {
  const p = ctx.params.s2;
  const base = { title, id, setup: '', columns: [], rows: [] };
  if (!ctx.ours.ok) return { ...base, rows: [skippedRow('filter-rules', ctx.ours.reason)] };

  const dir = join(ctx.tmp, 's2');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const services = [];
  const notes = [];
  try {
    let redis = null;
    try {
      redis = await startRedis(join(dir, 'redis'));
      services.push(redis);
    } catch (e) {
      notes.push(`redis not available: ${e.message.split('\n')[0]}`);
    }
    let postgrey = null;
    try {
      postgrey = await startPostgrey(join(dir, 'postgrey'), { delay: 300 });
      services.push(postgrey);
    } catch (e) {
      notes.push(`postgrey not available: ${e.message.split('\n')[0]}`);
    }
    const sqliteRules = writeRules(ctx, 'greylist-sqlite.rules', { DIR: dir });
    const subjects = [];
    // Probe each configuration once: a rules file the filter refuses (the
    // greylisting work not landed, syntax changed) is reported, not fatal.
    const tryAdd = async (sid, name, rules) => {
      try {
        const reg = await probeRegistration(ctx.tools.sim, shellLine(oursArgv(rules, 'grey')));
        subjects.push({ id: sid, name, cmd: shellLine(oursArgv(rules, 'grey')), reg });
      } catch (e) {
        subjects.push({ id: sid, name, unavailable: `filter-rules refused ${rules.split('/').pop()}: ${e.message.split('\n')[0]}` });
      }
    };
    await tryAdd('sqlite', 'filter-rules greylist (SQLite)', sqliteRules);
    if (redis) await tryAdd('redis', 'filter-rules greylist (Redis)', writeRules(ctx, 'greylist-redis.rules', { REDIS: redis.url }));
    else subjects.push({ id: 'redis', name: 'filter-rules greylist (Redis)', unavailable: notes.find((n) => n.startsWith('redis')) });
    if (postgrey) await tryAdd('postgrey', 'filter-rules → postgrey', writeRules(ctx, 'postgrey.rules', { DIR: join(dir, 'postgrey') }));
    else subjects.push({ id: 'postgrey', name: 'filter-rules → postgrey', unavailable: notes.find((n) => n.startsWith('postgrey')) });
    const reg = subjects.find((s) => s.reg)?.reg ?? ctx.registration;
    subjects.unshift({ id: 'c', name: 'C proceed filter (same flood)', cmd: shellLine(proceedArgv(ctx.tools.proceed, reg)) });

    let runNo = 0;
    const runnable = subjects
      .filter((s) => !s.unavailable)
      .map((s) => ({
        ...s,
        options: () => ({
          sessions: 100_000_000,
          durationMs: s.id === 'postgrey' ? p.postgreyDurationMs : p.durationMs,
          warmup: p.warmup,
          concurrency: p.concurrency,
          noData: true,
          // every run gets never-seen triplets, also when stores persist across repetitions
          idOffset: 100_000_000 * ++runNo,
          deadlineMs: p.durationMs + 60_000,
        }),
      }));
    const runs = await repeatSims(ctx, runnable, ctx.params.reps, 'S2');

    const pick = (r) => {
      const measured = r.latency_us['rcpt-to']?.n ?? 0;
      const rcpt = r.decisions['rcpt-to'] ?? {};
      const all = Object.values(rcpt).reduce((a, b) => a + b, 0);
      return {
        decisions_per_s: r.elapsed_s > 0 ? measured / r.elapsed_s : null,
        rcpt_p50_us: r.latency_us['rcpt-to']?.p50,
        rcpt_p99_us: r.latency_us['rcpt-to']?.p99,
        greylisted_pct: all > 0 ? (100 * (rcpt.reject ?? 0)) / all : null,
        rss_mb: mb(r.filter.vmhwm_kb),
        filter_cpu_pct: r.filter.cpu_pct,
      };
    };
    const med = (sid) => summarizeSims(runs.get(sid)?.results ?? [], pick);
    const cRate = med('c').decisions_per_s?.median ?? null;
    const pgRate = runs.get('postgrey')?.results.length ? med('postgrey').decisions_per_s.median : null;

    for (const s of subjects) {
      if (s.unavailable) {
        base.rows.push(skippedRow(s.name, s.unavailable));
        continue;
      }
      const { results, failures } = runs.get(s.id);
      if (results.length === 0) {
        base.rows.push(makeRow({ subject: s.name, status: 'failed', note: failures[0] ?? 'no result' }));
        continue;
      }
      const m = med(s.id);
      const rate = m.decisions_per_s.median;
      const builtin = s.id === 'sqlite' || s.id === 'redis';
      const odd = s.id === 'c' ? [] : [...new Set(results.flatMap((r) => unexpectedDecisions(r, { 'rcpt-to': ['reject'] })))];
      const notGreylisted = s.id !== 'c' && m.greylisted_pct.median < 99.9 ? `only ${m.greylisted_pct.median.toFixed(1)}% of RCPTs greylisted` : '';
      base.rows.push(
        makeRow({
          subject: s.name,
          headline: { label: 'decisions/s', value: rate, unit: '' },
          ratio: s.id === 'c' ? { value: 1, of: 'C' } : { value: ratio(rate, cRate), of: 'C' },
        baseline: s.id === 'c',
          extraRatio: builtin && pgRate ? { value: ratio(rate, pgRate), of: 'postgrey' } : null,
          targets: builtin ? [{ text: '≥ 10 × postgrey', met: pgRate ? ratio(rate, pgRate) >= 10 : null }] : [],
          metrics: m,
          note: [failures.length ? `${failures.length} failed run(s): ${failures[0]}` : '', notGreylisted, odd.length ? `unexpected decisions: ${odd.join(', ')}` : '']
            .filter(Boolean)
            .join('; '),
        }),
      );
    }
    base.setup = `smtpd-sim, ${p.concurrency} concurrent sessions (EHLO, MAIL, RCPT, QUIT), every session a new client/sender/recipient; ${p.durationMs / 1000} s measured (${p.postgreyDurationMs / 1000} s for postgrey) after ${p.warmup} warm-up sessions, ${ctx.params.reps} interleaved repetitions; greylist delay 5 min (postgrey --delay=300); rules: bench/rules/greylist-*.rules, postgrey.rules`;
    base.columns = [
      ['decisions/s', 'decisions_per_s', 0],
      ['RCPT p50 µs', 'rcpt_p50_us', 0],
      ['RCPT p99 µs', 'rcpt_p99_us', 0],
      ['greylisted %', 'greylisted_pct', 1],
      ['peak RSS MB', 'rss_mb', 1],
      ['filter CPU %', 'filter_cpu_pct', 0],
    ];
    base.notes = notes;
    return base;
  } finally {
    for (const s of services.reverse()) await s.stop().catch(() => {});
  }
}
