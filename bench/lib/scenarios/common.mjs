// Shared pieces of the scenarios: repeated simulator runs with rotating order,
// and the row shape every scenario returns (rendered by ../report.mjs).
import { runSim } from '../sim.mjs';
import { summarize } from '../stats.mjs';

/**
 * A result row.
 *  subject   who was measured ("filter-rules", "C proceed filter", ...)
 *  status    'ok' | 'failed' | 'skipped'
 *  headline  { label, value, unit }: the one number of the row (a median)
 *  ratio     { value, of }: e.g. 0.62 "of C"; null when there is nothing to compare with
 *  baseline  true for the row the others are divided by (its ratio is 1)
 *  targets   [{ text, met: true|false|null }]
 *  metrics   the summarize() output: { name: { median, min, max, n } }
 *  note      free text (why skipped/failed, anomalies)
 */
export function makeRow(fields) {
  return { status: 'ok', headline: null, ratio: null, baseline: false, targets: [], metrics: {}, note: '', ...fields };
}

export function skippedRow(subject, note) {
  return makeRow({ subject, status: 'skipped', note });
}

/** Rotate a list by `k` (repetition k starts with a different subject, to spread drift). */
export function rotate(list, k) {
  if (list.length === 0) return list;
  const s = k % list.length;
  return [...list.slice(s), ...list.slice(0, s)];
}

/**
 * Run every subject `reps` times through the simulator, interleaved.
 * subjects: [{ id, cmd, options }] or [{ id, prepare(rep) → { cmd, options } }]. Returns Map id → { results: [json], failures: [text] }.
 * A subject whose first run fails is not run again (its failure is the finding).
 */
export async function repeatSims(ctx, subjects, reps, describe) {
  const out = new Map(subjects.map((s) => [s.id, { results: [], failures: [] }]));
  for (let r = 0; r < reps; r++) {
    for (const s of rotate(subjects, r)) {
      const slot = out.get(s.id);
      if (slot.failures.length > 0 && slot.results.length === 0) continue;
      // prepare(r) → { cmd, options } when each run needs its own files; else cmd + options(r)
      const { cmd, options } = s.prepare ? s.prepare(r) : { cmd: s.cmd, options: typeof s.options === 'function' ? s.options(r) : s.options };
      const res = await runSim(ctx.tools.sim, cmd, options);
      if (res.ok) {
        slot.results.push(res.result);
        ctx.progress(`${describe} ${s.id} #${r + 1}: ${ctx.brief(res.result)}`);
      } else {
        slot.failures.push(res.error);
        ctx.failures.push(`${describe} ${s.id} #${r + 1}: ${res.error}`);
        ctx.progress(`${describe} ${s.id} #${r + 1}: FAILED ${res.error}`);
      }
    }
  }
  return out;
}

export function summarizeSims(results, pick) {
  return summarize(results, pick);
}

/** Non-proceed decisions in a sim result, as "phase:decision=N" strings. */
export function unexpectedDecisions(result, allowed = {}) {
  const out = [];
  for (const [phase, counts] of Object.entries(result.decisions ?? {})) {
    for (const [d, n] of Object.entries(counts)) {
      const ok = d === 'proceed' || (allowed[phase] ?? []).includes(d);
      if (!ok && n > 0) out.push(`${phase}:${d}=${n}`);
    }
  }
  return out;
}

export const mb = (kb) => (typeof kb === 'number' && kb > 0 ? kb / 1024 : null);
