// Scenario 5: real smtpd under many short sessions (EHLO, MAIL, RCPT, QUIT) from
// a C load generator, ~10 at a time, on a private loopback: smtpd's throughput
// with filter-rules (realistic chain) relative to smtpd without any filter, and
// with the C proceed filter for comparison. A fresh smtpd per run.
import { join } from 'node:path';
import { RULES_DIR } from '../paths.mjs';
import { loadSmtpd, startSmtpd } from '../smtpd.mjs';
import { naiveArgv, oursArgv, proceedArgv } from '../subjects.mjs';
import { ratio, summarize } from '../stats.mjs';
import { makeRow, rotate, skippedRow } from './common.mjs';

export const id = 'S5';
export const title = 'Real smtpd with and without the filter';

export async function run(ctx) {
  const p = ctx.params.s5;
  const setup = `smtpd ${ctx.machine.versions.smtpd ?? ''} -d in its own mount+network namespace (resolver that fails at once, relay action, nothing delivered); smtp-load: ${p.concurrency} concurrent sessions, each from its own 10.77.x.y address, EHLO/MAIL/RCPT/QUIT, ${p.durationMs / 1000} s measured after ${p.warmupMs / 1000} s warm-up; a fresh smtpd per run; ${ctx.params.reps} interleaved repetitions`;
  const columns = [
    ['sessions/s', 'sessions_per_s', 0],
    ['session p50 ms', 'p50_ms', 2],
    ['session p99 ms', 'p99_ms', 2],
    ['failed sessions', 'failed', 0],
  ];
  const configs = [
    { id: 'none', name: 'smtpd, no filter', argv: null },
    { id: 'c', name: 'smtpd + C proceed filter', argv: proceedArgv(ctx.tools.proceed, ctx.registration) },
  ];
  if (ctx.ours.ok) configs.push({ id: 'ours', name: 'smtpd + filter-rules', argv: oursArgv(join(RULES_DIR, 'realistic.rules'), 'realistic') });
  if (p.python) configs.push({ id: 'python', name: 'smtpd + naive Python filter', argv: naiveArgv(ctx.registration) });

  const runs = new Map(configs.map((c) => [c.id, { results: [], failures: [] }]));
  let offset = 0;
  for (let r = 0; r < ctx.params.reps; r++) {
    for (const c of rotate(configs, r)) {
      const slot = runs.get(c.id);
      if (slot.failures.length > 0 && slot.results.length === 0) continue;
      let smtpd = null;
      try {
        smtpd = await startSmtpd(c.argv, { loadBin: ctx.tools.load });
        const res = await loadSmtpd(smtpd, ctx.tools.load, {
          concurrency: p.concurrency,
          durationMs: p.durationMs,
          warmupMs: p.warmupMs,
          idOffset: (offset += 1_000_000),
        });
        if (!smtpd.alive()) throw new Error(`smtpd exited during the run: ${smtpd.log().slice(-600)}`);
        if (/lost processor|fatal/i.test(smtpd.log())) throw new Error(`smtpd logged a filter failure: ${smtpd.log().match(/.*(lost processor|fatal).*/i)?.[0]}`);
        if (res.failed > 0) ctx.failures.push(`S5 ${c.id} #${r + 1}: ${res.failed} SMTP session(s) failed: ${res.first_failures[0] ?? ''}`);
        slot.results.push(res);
        ctx.progress(`S5 ${c.id} #${r + 1}: ${res.sessions_per_s.toFixed(0)} sessions/s, ${res.failed} failed`);
      } catch (e) {
        slot.failures.push(e.message.split('\n')[0]);
        ctx.failures.push(`S5 ${c.id} #${r + 1}: ${e.message.split('\n')[0]}`);
        ctx.progress(`S5 ${c.id} #${r + 1}: FAILED ${e.message.split('\n')[0]}`);
      } finally {
        if (smtpd) await smtpd.stop().catch(() => {});
      }
    }
  }
  const pick = (r) => ({ sessions_per_s: r.sessions_per_s, p50_ms: r.session_ms.p50, p99_ms: r.session_ms.p99, failed: r.failed });
  const med = (cid) => summarize(runs.get(cid)?.results ?? [], pick);
  const base = med('none').sessions_per_s?.median ?? null;
  const rows = [];
  for (const c of configs) {
    const { results, failures } = runs.get(c.id);
    if (results.length === 0) {
      rows.push(makeRow({ subject: c.name, status: 'failed', note: failures[0] ?? 'no result' }));
      continue;
    }
    const m = med(c.id);
    const rate = m.sessions_per_s.median;
    const failedSessions = results.reduce((a, r) => a + r.failed, 0);
    rows.push(
      makeRow({
        subject: c.name,
        headline: { label: 'sessions/s', value: rate, unit: '' },
        ratio: { value: c.id === 'none' ? 1 : ratio(rate, base), of: 'no filter' },
        baseline: c.id === 'none',
        targets: c.id === 'ours' ? [{ text: '≥ 0.9 × no filter', met: ratio(rate, base) === null ? null : ratio(rate, base) >= 0.9 }] : [],
        metrics: m,
        note: [failures.length ? `${failures.length} failed run(s): ${failures[0]}` : '', failedSessions ? `${failedSessions} session(s) failed (${results.flatMap((r) => r.first_failures)[0] ?? ''})` : '']
          .filter(Boolean)
          .join('; '),
      }),
    );
  }
  if (!ctx.ours.ok) rows.push(skippedRow('smtpd + filter-rules', ctx.ours.reason));
  return { id, title, setup, columns, rows };
}
