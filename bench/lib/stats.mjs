// Small, pure statistics over repetitions.

/** Median of the finite numbers in `xs`; null when there are none. */
export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Smallest and largest finite number, or null. */
export function range(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return null;
  return { min: Math.min(...v), max: Math.max(...v) };
}

/** a / b, or null when either is missing or b is 0. */
export function ratio(a, b) {
  if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

/**
 * Medians of several metrics over repetitions: `pick` maps one repetition's
 * result to { metric: number }; returns { metric: { median, min, max, n } }.
 */
export function summarize(results, pick) {
  const cols = new Map();
  for (const r of results) {
    for (const [k, v] of Object.entries(pick(r))) {
      if (!cols.has(k)) cols.set(k, []);
      cols.get(k).push(v);
    }
  }
  const out = {};
  for (const [k, xs] of cols) {
    const r = range(xs);
    out[k] = { median: median(xs), min: r?.min ?? null, max: r?.max ?? null, n: xs.filter((x) => Number.isFinite(x)).length };
  }
  return out;
}
