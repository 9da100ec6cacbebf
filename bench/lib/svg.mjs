// A hand-written SVG bar chart of the ratios in a results object (no
// dependency). Log scale, because the ratios run from ~0.05 (a slow filter vs
// C) to ~100 (built-in greylisting vs postgrey). Pure: results → string.
import { fmtFactor } from './format.mjs';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The bars: one per ratio of a measured row; baselines (the 1× rows) are the gridline at 1. */
export function chartBars(results) {
  const bars = [];
  for (const sc of results.scenarios) {
    for (const row of sc.rows ?? []) {
      for (const r of [row.ratio, row.extraRatio]) {
        if (!r || r.value === null || r.value === undefined || row.status !== 'ok' || row.baseline) continue;
        const target = row.targets.find((t) => t.text.includes(`× ${r.of === 'no filter' ? 'no filter' : r.of}`));
        const min = target ? Number((target.text.match(/([0-9.]+) ×/) ?? [])[1]) : null;
        bars.push({
          label: `${sc.id} ${row.subject} vs ${r.of}`,
          value: r.value,
          target: Number.isFinite(min) ? min : null,
          met: target ? target.met : null,
        });
      }
    }
  }
  return bars;
}

export function renderSvg(results) {
  const bars = chartBars(results);
  const W = 860;
  const left = 330;
  const right = 70;
  const rowH = 26;
  const top = 46;
  const plotW = W - left - right;
  const H = top + Math.max(1, bars.length) * rowH + 44;
  const lo = 0.01;
  const hi = Math.max(100, ...bars.map((b) => b.value * 1.5));
  const x = (v) => left + (Math.log10(Math.max(lo, Math.min(hi, v))) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * plotW;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">Throughput ratios, same run (log scale; ▏= target)</text>`);
  out.push(`<text x="${left}" y="36" fill="#555">${esc(`${results.mode} mode, ${results.date}, ${results.machine.cpu} × ${results.machine.nproc}`)}</text>`);
  for (const g of [0.01, 0.1, 0.5, 1, 2, 10, 100, 1000]) {
    if (g > hi) break;
    const gx = x(g).toFixed(1);
    out.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${H - 34}" stroke="${g === 1 ? '#888' : '#ddd'}" stroke-width="${g === 1 ? 1.5 : 1}"/>`);
    out.push(`<text x="${gx}" y="${H - 20}" text-anchor="middle" fill="#555">${g}×</text>`);
  }
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const color = b.met === true ? '#2e7d32' : b.met === false ? '#c62828' : '#5c7cba';
    const x0 = x(lo);
    out.push(`<text x="${left - 8}" y="${y + 16}" text-anchor="end">${esc(b.label)}</text>`);
    out.push(`<rect x="${x0.toFixed(1)}" y="${y + 5}" width="${Math.max(1, x(b.value) - x0).toFixed(1)}" height="${rowH - 10}" fill="${color}"/>`);
    const labelX = Math.max(x(b.value), b.target === null ? 0 : x(b.target)) + 5;
    out.push(`<text x="${labelX.toFixed(1)}" y="${y + 16}">${esc(`${fmtFactor(b.value)}×`)}</text>`);
    if (b.target !== null) {
      const tx = x(b.target).toFixed(1);
      out.push(`<line x1="${tx}" y1="${y + 2}" x2="${tx}" y2="${y + rowH - 2}" stroke="#000" stroke-width="2"/>`);
    }
  });
  if (bars.length === 0) out.push(`<text x="${left}" y="${top + 16}" fill="#555">no ratios measured in this run</text>`);
  out.push(`<text x="8" y="${H - 6}" fill="#777" font-size="10">green: target met, red: missed, blue: no target. bench/RESULTS.md has the numbers.</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
