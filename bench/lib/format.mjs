// Number formatting shared by the console output, RESULTS.md and the SVG. Pure.

export function fmt(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (x === Infinity) return '∞';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "0.62× C", "15.3× postgrey". */
export function fmtRatio(r) {
  if (!r || r.value === null || r.value === undefined) return '–';
  return `${fmtFactor(r.value)}× ${r.of}`;
}

/** 15.3, 0.62, 0.0042: two significant digits below 0.1, so small ratios do not read as 0. */
export function fmtFactor(v) {
  if (v >= 10) return fmt(v, 1);
  if (v >= 0.1 || v === 0) return fmt(v, 2);
  return Number(v.toPrecision(2)).toString();
}

export function fmtMetric(m, digits) {
  if (!m || m.median === null) return '–';
  return fmt(m.median, digits);
}

/** "11,468 (11,102–11,790)" when the repetitions differ, else just the median. */
export function fmtWithRange(m, digits) {
  if (!m || m.median === null) return '–';
  if (m.n > 1 && m.min !== m.max) return `${fmt(m.median, digits)} (${fmt(m.min, digits)}–${fmt(m.max, digits)})`;
  return fmt(m.median, digits);
}

export function fmtTargets(targets) {
  return targets.map((t) => `${t.text}: ${t.met === null ? 'n/a' : t.met ? 'met' : 'MISSED'}`).join('; ');
}
