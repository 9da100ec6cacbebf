// Scenario 4: save new rules while ~1,000 sessions are in flight. Time from the
// save to the first answer under the new rules, and the longest any answer
// waited around the reload (vs the longest before it, same load).
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RULES_DIR } from '../paths.mjs';
import { oursArgv, shellLine } from '../subjects.mjs';
import { makeRow, repeatSims, skippedRow, summarizeSims } from './common.mjs';

export const id = 'S4';
export const title = 'Reload with 1,000 sessions in flight';

export async function run(ctx) {
  const p = ctx.params.s4;
  const setup = `smtpd-sim keeps ${p.concurrency} sessions in flight (clients think ${p.thinkMs} ms before each command); ${p.reloadAtMs / 1000} s into the measured window it saves bench/rules/realistic-reloaded.rules over a copy of realistic.rules (${p.modes.join(' and ')}); ${ctx.params.reps} repetitions per save mode`;
  const columns = [
    ['new rules in force ms', 'in_force_ms', 1],
    ['max answer delay during reload ms', 'max_during_ms', 1],
    ['max answer delay before ms', 'max_before_ms', 1],
    ['p99 µs (whole run)', 'p99_us', 0],
    ['old-rules answers after', 'stale_after', 0],
  ];
  if (!ctx.ours.ok) return { id, title, setup, columns, rows: [skippedRow('filter-rules', ctx.ours.reason)] };
  const rows = [];
  for (const mode of p.modes) {
    let n = 0;
    const prepare = () => {
      // A fresh copy of the rules for every run: the save replaces it.
      const dir = join(ctx.tmp, `s4-${mode.replace(/\W+/g, '-')}-${++n}`);
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      const live = join(dir, 'reload.rules');
      const next = join(dir, '.reload.rules.new');
      copyFileSync(join(RULES_DIR, 'realistic.rules'), live);
      copyFileSync(join(RULES_DIR, 'realistic-reloaded.rules'), next);
      return {
        cmd: shellLine(oursArgv(live, 'realistic')),
        options: {
          sessions: 100_000_000,
          durationMs: p.durationMs,
          warmup: p.concurrency,
          concurrency: p.concurrency,
          thinkMs: p.thinkMs,
          rampMs: p.thinkMs,
          reloadAtMs: p.reloadAtMs,
          reloadFrom: next,
          reloadTo: live,
          reloadWrite: mode === 'in-place write',
          reloadDetect: 'connect:junk',
          reloadWindowMs: 1000,
          deadlineMs: p.durationMs + 60_000,
        },
      };
    };
    const runs = await repeatSims(ctx, [{ id: mode, prepare }], ctx.params.reps, `S4 (${mode})`);
    const { results, failures } = runs.get(mode);
    const name = `filter-rules, ${mode}`;
    if (results.length === 0) {
      rows.push(makeRow({ subject: name, status: 'failed', note: failures[0] }));
      continue;
    }
    const m = summarizeSims(results, (r) => ({
      in_force_ms: r.reload?.in_force_ms ?? Infinity,
      max_during_ms: r.reload?.max_latency_during_ms,
      max_before_ms: r.reload?.max_latency_before_ms,
      p99_us: r.latency_us.all.p99,
      stale_after: r.reload?.stale_after,
    }));
    const never = results.filter((r) => r.reload?.in_force_ms === null).length;
    const stale = results.reduce((a, r) => a + (r.reload?.stale_after ?? 0), 0);
    rows.push(
      makeRow({
        subject: name,
        headline: { label: 'in force after ms', value: m.in_force_ms.median, unit: 'ms' },
        targets: [
          { text: 'new rules ≤ 500 ms after save', met: m.in_force_ms.median !== null && m.in_force_ms.median <= 500 && never === 0 },
          { text: 'no answer delayed > 50 ms', met: m.max_during_ms.median !== null && m.max_during_ms.median <= 50 },
        ],
        metrics: m,
        note: [
          failures.length ? `${failures.length} failed run(s): ${failures[0]}` : '',
          never ? `${never} run(s) never saw the new rules` : '',
          stale ? `${stale} session(s) started after the switch still got old-rules answers` : '',
        ]
          .filter(Boolean)
          .join('; '),
      }),
    );
  }
  return { id, title, setup, columns, rows };
}
