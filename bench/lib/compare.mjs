// The pure part of bench/tools/compare.mjs: its arguments, what it reads from
// inproc.mjs's output, and the side-by-side table. No I/O here.
import { fmt } from './format.mjs';
import { median, range, ratio } from './stats.mjs';

export const MODES = ['s1', 's3', 'sessions'];

/** Sessions per inproc.mjs run (its own defaults; S3's is the bench's 10,000-session burst). */
export const DEFAULT_SIZES = { s1: 50_000, s3: 10_000, sessions: 50_000 };

export const USAGE =
  'usage: node bench/tools/compare.mjs --base DIR --head DIR [--runs N] [--only s1,s3,sessions] [--s1 N] [--s3 N] [--sessions N]\n' +
  '  DIR: a build (the dist/ of a checkout, after npx tsc -p tsconfig.json); --base X --head X shows the noise band\n';

const POSITIVE = /^[1-9][0-9]*$/;

/** argv → { base, head, runs, modes, sizes }; throws with the usage on anything else. */
export function parseCompareArgs(argv) {
  const a = { base: null, head: null, runs: 9, modes: [...MODES], sizes: { ...DEFAULT_SIZES } };
  const fail = (why) => {
    throw new Error(`${why}\n${USAGE}`);
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if ((k === '--base' || k === '--head') && v !== undefined && !v.startsWith('--')) a[k.slice(2)] = argv[++i];
    else if (k === '--runs' && POSITIVE.test(v ?? '')) a.runs = Number(argv[++i]);
    else if (k === '--only' && v !== undefined) {
      const modes = argv[++i].toLowerCase().split(',');
      const unknown = modes.filter((m) => !MODES.includes(m));
      if (unknown.length > 0 || modes.length === 0) fail(`--only: unknown scenario ${unknown.join(', ')} (known: ${MODES.join(', ')})`);
      a.modes = MODES.filter((m) => modes.includes(m));
    } else if (MODES.includes(k?.slice(2)) && POSITIVE.test(v ?? '')) a.sizes[k.slice(2)] = Number(argv[++i]);
    else fail(`unknown or incomplete argument ${k}`);
  }
  if (a.base === null || a.head === null) fail('--base and --head are required');
  return a;
}

/**
 * What one inproc.mjs run printed, per scenario: the numbers compared, each
 * with its label and how many decimals to show. `primary` rows are the ones
 * the issue 11 acceptance reads (S1 CPU, S3 RSS, heap per open session).
 */
export const MEASURES = {
  s1: {
    pattern: /^S1 in-process: ([\d.]+) µs CPU per session \(([\d.]+) µs wall\)/m,
    fields: [
      { key: 's1.cpu', label: 'S1 CPU per session (µs)', digits: 1, primary: true },
      { key: 's1.wall', label: 'S1 wall time per session (µs)', digits: 1 },
    ],
  },
  s3: {
    pattern:
      /^S3 in-process: (\d+) connects taken in (\d+) ms \((\d+) ms CPU\), (\d+) answers, the last (-?\d+) ms after its due time, RSS ([\d.]+) MB after the burst, ([\d.]+) MB after the answers/m,
    // Capture groups 1 and 4 (connects, answers) are checked, not compared.
    fields: [
      null,
      { key: 's3.took', label: 'S3 time to take the burst (ms)', digits: 0 },
      { key: 's3.cpu', label: 'S3 CPU to take the burst (ms)', digits: 0 },
      null,
      { key: 's3.late', label: 'S3 last answer after its due time (ms)', digits: 0 },
      { key: 's3.rssBurst', label: 'S3 RSS after the burst (MB)', digits: 1, primary: true },
      { key: 's3.rssAnswered', label: 'S3 RSS after the answers (MB)', digits: 1, primary: true },
    ],
  },
  sessions: {
    pattern: /^sessions in-process: (\d+) sessions open .*heap \+(-?[\d.]+) MB \((-?\d+) B per session\), RSS \+(-?[\d.]+) MB \((-?\d+) B per session\)/m,
    fields: [
      null,
      null,
      { key: 'sessions.heap', label: 'heap per open session (B)', digits: 0, primary: true },
      null,
      { key: 'sessions.rss', label: 'RSS per open session (B)', digits: 0 },
    ],
  },
};

/**
 * One run's output → { key: number }. Throws when the line is missing or the
 * run did not do what was asked (a build that answers fewer requests, or keeps
 * fewer sessions, would otherwise just look fast).
 */
export function parseInproc(mode, stdout, size) {
  const m = MEASURES[mode];
  const found = m.pattern.exec(stdout);
  if (found === null) throw new Error(`inproc.mjs ${mode}: no result line in its output:\n${stdout.trim()}`);
  const n = (i) => Number(found[i + 1]);
  if (mode === 's3' && (n(0) !== size || n(3) !== size)) throw new Error(`inproc.mjs s3: ${n(3)} answers to ${n(0)} connects, expected ${size} of each`);
  if (mode === 'sessions' && n(0) !== size) throw new Error(`inproc.mjs sessions: ${n(0)} sessions open, expected ${size}`);
  const out = {};
  m.fields.forEach((f, i) => {
    if (f !== null) out[f.key] = n(i);
  });
  return out;
}

/**
 * Rows of the comparison: for every measure of the scenarios run, the base and
 * head samples' median and range, the ratio and difference of the medians,
 * and the range of the per-round ratios (round i's head over round i's base).
 * `base` and `head` are arrays of { key: number } in round order.
 */
export function compareRows(modes, base, head) {
  const rows = [];
  for (const mode of modes) {
    for (const f of MEASURES[mode].fields) {
      if (f === null) continue;
      const b = base.map((r) => r[f.key]).filter((x) => x !== undefined);
      const h = head.map((r) => r[f.key]).filter((x) => x !== undefined);
      const bm = median(b);
      const hm = median(h);
      const pairs = b.map((x, i) => ratio(h[i], x)).filter((x) => x !== null);
      rows.push({
        ...f,
        base: { median: bm, ...(range(b) ?? { min: null, max: null }), n: b.length },
        head: { median: hm, ...(range(h) ?? { min: null, max: null }), n: h.length },
        ratio: ratio(hm, bm),
        diff: bm === null || hm === null ? null : hm - bm,
        pairs: range(pairs),
      });
    }
  }
  return rows;
}

const sample = (s, digits) => (s.median === null ? '–' : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`);
const signed = (x, digits) => (x === null ? '–' : `${x > 0 ? '+' : x < 0 ? '−' : '±'}${fmt(Math.abs(x), digits)}`);
// Three decimals: the ratios sit near 1, and the noise band is a few thousandths to a few hundredths wide.
const factor = (x) => (x === null ? '–' : x.toFixed(3));

/** The table, columns padded; `*` marks the rows the acceptance reads. */
export function renderComparison(rows) {
  const header = ['', 'base median (min–max)', 'head median (min–max)', 'head/base', 'head−base', 'per-round head/base'];
  const body = rows.map((r) => [
    `${r.primary ? '* ' : '  '}${r.label}`,
    sample(r.base, r.digits),
    sample(r.head, r.digits),
    factor(r.ratio),
    signed(r.diff, r.digits),
    r.pairs === null ? '–' : `${factor(r.pairs.min)}–${factor(r.pairs.max)}`,
  ]);
  const widths = header.map((_, c) => Math.max(...[header, ...body].map((row) => row[c].length)));
  const line = (row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd();
  return `${[header, ...body].map(line).join('\n')}\n`;
}
