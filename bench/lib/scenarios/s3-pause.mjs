// Scenario 3: 10,000 sessions paused at once (`pause 1s`): the filter's peak
// RSS, and how late the last banner is (connect answer time minus its due time).
import { join } from 'node:path';
import { RULES_DIR } from '../paths.mjs';
import { oursArgv, shellLine } from '../subjects.mjs';
import { makeRow, mb, repeatSims, skippedRow, summarizeSims } from './common.mjs';

export const id = 'S3';
export const title = '10,000 sessions paused at once';

export async function run(ctx) {
  const p = ctx.params.s3;
  const setup = `smtpd-sim opens ${p.sessions} sessions at once (EHLO, MAIL, RCPT, QUIT after the banner); rules: bench/rules/pause.rules (pause 1s); ${ctx.params.reps} repetitions`;
  const columns = [
    ['peak RSS MB', 'rss_mb', 1],
    ['last banner late ms', 'late_max_ms', 1],
    ['p99 late ms', 'late_p99_ms', 1],
    ['p50 late ms', 'late_p50_ms', 1],
    ['filter CPU s', 'filter_cpu_s', 2],
  ];
  if (!ctx.ours.ok) return { id, title, setup, columns, rows: [skippedRow('filter-rules', ctx.ours.reason)] };
  const subjects = [
    {
      id: 'ours',
      cmd: shellLine(oursArgv(join(RULES_DIR, 'pause.rules'), 'paused')),
      options: {
        sessions: p.sessions,
        concurrency: p.sessions,
        connectDueMs: 1000,
        noData: true,
        deadlineMs: 120_000,
        stallMs: 30_000,
      },
    },
  ];
  const runs = await repeatSims(ctx, subjects, ctx.params.reps, 'S3');
  const { results, failures } = runs.get('ours');
  if (results.length === 0) return { id, title, setup, columns, rows: [makeRow({ subject: 'filter-rules', status: 'failed', note: failures[0] })] };
  const m = summarizeSims(results, (r) => ({
    rss_mb: mb(r.filter.vmhwm_kb),
    late_max_ms: r.connect_lateness_ms.max,
    late_p99_ms: r.connect_lateness_ms.p99,
    late_p50_ms: r.connect_lateness_ms.p50,
    filter_cpu_s: r.filter.cpu_s,
  }));
  const early = results.map((r) => r.latency_us.connect?.p50 / 1000).filter((x) => x < 999);
  return {
    id,
    title,
    setup,
    columns,
    rows: [
      makeRow({
        subject: 'filter-rules',
        headline: { label: 'peak RSS MB', value: m.rss_mb.median, unit: 'MB' },
        targets: [
          { text: 'RSS < 100 MB', met: m.rss_mb.median < 100 },
          { text: 'last banner ≤ 100 ms late', met: m.late_max_ms.median <= 100 },
        ],
        metrics: m,
        note: [failures.length ? `${failures.length} failed run(s): ${failures[0]}` : '', early.length ? 'connect answered before the pause was over' : ''].filter(Boolean).join('; '),
      }),
    ],
  };
}
