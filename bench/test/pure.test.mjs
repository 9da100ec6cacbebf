// Pure parts of the bench: statistics, formatting, argument parsing, templates,
// smtpd.conf, the Markdown and SVG writers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, ratio, summarize } from '../lib/stats.mjs';
import { fmtRatio, fmtWithRange } from '../lib/format.mjs';
import { renderMarkdown, targetTally, consoleTable } from '../lib/report.mjs';
import { chartBars, renderSvg } from '../lib/svg.mjs';
import { simArgs } from '../lib/sim.mjs';
import { smtpdConf } from '../lib/smtpd.mjs';
import { fillTemplate } from '../lib/scenarios/s2-greylist.mjs';
import { rotate, unexpectedDecisions } from '../lib/scenarios/common.mjs';
import { shellLine } from '../lib/subjects.mjs';
import { parseArgs } from '../run.mjs';
import { compareRows, DEFAULT_SIZES, parseCompareArgs, parseInproc, renderComparison } from '../lib/compare.mjs';

test('median of odd and even samples ignores missing values', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([null, 5, undefined, NaN]), 5);
  assert.equal(median([]), null);
});

test('ratio refuses missing values and zero denominators', () => {
  assert.equal(ratio(5, 10), 0.5);
  assert.equal(ratio(5, 0), null);
  assert.equal(ratio(null, 3), null);
});

test('summarize gives median, min, max and count per metric', () => {
  const s = summarize([{ a: 1, b: 10 }, { a: 3, b: null }, { a: 2, b: 30 }], (r) => r);
  assert.deepEqual(s.a, { median: 2, min: 1, max: 3, n: 3 });
  assert.deepEqual(s.b, { median: 20, min: 10, max: 30, n: 2 });
});

test('formatting of ratios and ranges', () => {
  assert.equal(fmtRatio({ value: 0.123, of: 'C' }), '0.12× C');
  assert.equal(fmtRatio({ value: 15.26, of: 'postgrey' }), '15.3× postgrey');
  assert.equal(fmtRatio(null), '–');
  assert.equal(fmtWithRange({ median: 1500, min: 1000, max: 2000, n: 3 }, 0), '1,500 (1,000–2,000)');
  assert.equal(fmtWithRange({ median: 7, min: 7, max: 7, n: 3 }, 0), '7');
});

test('rotate starts each repetition with another subject', () => {
  assert.deepEqual(rotate(['a', 'b', 'c'], 0), ['a', 'b', 'c']);
  assert.deepEqual(rotate(['a', 'b', 'c'], 1), ['b', 'c', 'a']);
  assert.deepEqual(rotate(['a', 'b', 'c'], 4), ['b', 'c', 'a']);
});

test('unexpectedDecisions lists everything but proceed and the allowed ones', () => {
  const r = { decisions: { connect: { proceed: 5 }, 'rcpt-to': { reject: 3, junk: 1 } } };
  assert.deepEqual(unexpectedDecisions(r), ['rcpt-to:reject=3', 'rcpt-to:junk=1']);
  assert.deepEqual(unexpectedDecisions(r, { 'rcpt-to': ['reject'] }), ['rcpt-to:junk=1']);
});

test('run.mjs arguments', () => {
  assert.deepEqual(parseArgs(['--full', '--only', 's1,s3', '--reps', '2', '--no-write']).only, ['S1', 'S3']);
  assert.equal(parseArgs(['--full']).mode, 'full');
  assert.equal(parseArgs([]).mode, 'quick');
  assert.throws(() => parseArgs(['--reps', '0']), /unknown argument/);
  assert.throws(() => parseArgs(['--bogus']), /unknown argument/);
});

test('simArgs maps options to flags and rejects unknown ones', () => {
  assert.deepEqual(simArgs('f', { sessions: 5, noData: true, reloadWrite: false, thinkMs: undefined }), ['--filter', 'f', '--quiet', '--sessions', '5', '--no-data']);
  assert.throws(() => simArgs('f', { bogus: 1 }), /unknown sim option/);
});

test('rules templates are filled, unknown placeholders kept', () => {
  assert.equal(fillTemplate('store "sqlite:@DIR@/g.db" @X@', { DIR: '/tmp/a' }), 'store "sqlite:/tmp/a/g.db" @X@');
});

test('shellLine quotes only what needs quoting', () => {
  assert.equal(shellLine(['/usr/bin/node', '/a/b.js', '--chain', 'x']), '/usr/bin/node /a/b.js --chain x');
  assert.equal(shellLine(["it's", 'a b']), `'it'\\''s' 'a b'`);
});

test('smtpd.conf with and without a filter; unsafe arguments refused', () => {
  const withFilter = smtpdConf(['/usr/bin/node', '/x/main.js', '/x/r.rules']);
  assert.match(withFilter, /^filter "bench" proc-exec "\/usr\/bin\/node \/x\/main.js \/x\/r.rules"$/m);
  assert.match(withFilter, /^listen on 10\.77\.0\.1 port 2525 filter "bench"$/m);
  assert.doesNotMatch(smtpdConf(null), /filter/);
  assert.throws(() => smtpdConf(['/bin/x', 'a"b']), /not usable/);
});

function sampleResults() {
  const m = (v) => ({ median: v, min: v, max: v, n: 3 });
  return {
    command: 'npm run bench',
    mode: 'quick',
    reps: 3,
    date: '2026-01-01T00:00:00Z',
    durationS: 60,
    machine: { cpu: 'Test CPU <x>', nproc: 2, memoryGiB: 4, kernel: 'Linux 6', loadavg: [1, 1, 1], versions: { node: 'v20', smtpd: null } },
    load: { start: 1.5, max: 4, end: 2 },
    failures: [],
    scenarios: [
      {
        id: 'S1',
        title: 'Realistic | chain',
        setup: 'setup text',
        columns: [['sessions/s', 'sessions_per_s', 0]],
        rows: [
          { subject: 'C proceed filter', status: 'ok', baseline: true, headline: { label: 'sessions/s', value: 1000 }, ratio: { value: 1, of: 'C' }, targets: [], metrics: { sessions_per_s: m(1000) }, note: '' },
          {
            subject: 'filter-rules',
            status: 'ok',
            headline: { label: 'sessions/s', value: 600 },
            ratio: { value: 0.6, of: 'C' },
            targets: [{ text: '≥ 0.5 × C sessions/s', met: true }, { text: 'p99 < 2 ms', met: false }],
            metrics: { sessions_per_s: m(600) },
            note: '',
          },
          { subject: 'naive Python filter', status: 'failed', headline: null, ratio: null, targets: [], metrics: {}, note: 'fatal: boom' },
        ],
      },
      { id: 'S2', title: 'Greylisting', error: 'postgrey missing', rows: [] },
    ],
  };
}

test('RESULTS.md has the summary, machine, per-scenario tables and escapes pipes', () => {
  const md = renderMarkdown(sampleResults());
  assert.match(md, /^# filter-rules benchmark results$/m);
  assert.match(md, /median of 3 repetitions/);
  assert.match(md, /\| S1 Realistic \\\| chain \| filter-rules \| 600 sessions\/s \| 0\.60× C \| ≥ 0\.5 × C sessions\/s: met; p99 < 2 ms: MISSED \|/);
  assert.match(md, /\| S2 Greylisting \| – \| failed \| – \| – \| postgrey missing \|/);
  assert.match(md, /smtpd not found/);
  assert.match(md, /Targets: \*\*1 met, 1 missed\*\*/);
  assert.match(md, /\| naive Python filter \| – \| failed: fatal: boom \|/);
  assert.match(md, /!\[Throughput ratios\]\(results\.svg\)/);
  assert.match(md, /1\.50 when the run started, up to 4\.00 during it.*already busy/);
  assert.deepEqual(targetTally(sampleResults()), { met: 1, missed: 1, unknown: 0 });
  assert.match(consoleTable(sampleResults()), /filter-rules\s+600 sessions\/s\s+0\.60× C/);
});

test('SVG chart: one bar per compared row, target tick, escaped text, well-formed', () => {
  const r = sampleResults();
  const bars = chartBars(r);
  assert.deepEqual(bars.map((b) => [b.label, b.value, b.target, b.met]), [['S1 filter-rules vs C', 0.6, 0.5, true]]);
  const svg = renderSvg(r);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.match(svg, /Test CPU &lt;x&gt;/);
  assert.doesNotMatch(svg, /<x>/);
  assert.equal((svg.match(/<rect /g) ?? []).length, 2); // background + one bar
  assert.match(svg, /fill="#2e7d32"/); // met: green
});

// What inproc.mjs prints (bench/tools/inproc.mjs), one line per scenario.
const INPROC_OUT = {
  s1: 'S1 in-process: 24.1 µs CPU per session (30.2 µs wall), 2154 B in and 325 B out per session\n',
  s3: 'S3 in-process: 10000 connects taken in 120 ms (131 ms CPU), 10000 answers, the last 4 ms after its due time, RSS 81.5 MB after the burst, 85.0 MB after the answers\n',
  sessions:
    'sessions in-process: 50000 sessions open (link-connect, EHLO, MAIL and one RCPT answered and reported; 200000 answers): heap +203.4 MB (4068 B per session), RSS +978.4 MB (19568 B per session), RSS 1050 MB in all\n',
};

test('compare.mjs arguments: both builds required, runs, scenarios and sizes', () => {
  const a = parseCompareArgs(['--base', '/tmp/b/dist', '--head', 'dist']);
  assert.deepEqual(a, { base: '/tmp/b/dist', head: 'dist', runs: 9, modes: ['s1', 's3', 'sessions'], sizes: DEFAULT_SIZES });
  const b = parseCompareArgs(['--head', 'h', '--base', 'b', '--runs', '3', '--only', 'sessions,S1', '--s1', '500']);
  assert.deepEqual([b.runs, b.modes, b.sizes.s1, b.sizes.s3], [3, ['s1', 'sessions'], 500, 10_000]);
  assert.throws(() => parseCompareArgs(['--base', 'b']), /--base and --head are required\nusage:/);
  assert.throws(() => parseCompareArgs(['--base', 'b', '--head', 'h', '--runs', '0']), /unknown or incomplete argument --runs/);
  assert.throws(() => parseCompareArgs(['--base', '--head', 'h']), /unknown or incomplete argument --base/);
  assert.throws(() => parseCompareArgs(['--base', 'b', '--head', 'h', '--only', 's2']), /unknown scenario s2/);
});

test("compare.mjs reads inproc.mjs's lines, and refuses a run that did not do what was asked", () => {
  assert.deepEqual(parseInproc('s1', INPROC_OUT.s1, 50_000), { 's1.cpu': 24.1, 's1.wall': 30.2 });
  assert.deepEqual(parseInproc('s3', INPROC_OUT.s3, 10_000), { 's3.took': 120, 's3.cpu': 131, 's3.late': 4, 's3.rssBurst': 81.5, 's3.rssAnswered': 85 });
  assert.deepEqual(parseInproc('sessions', INPROC_OUT.sessions, 50_000), { 'sessions.heap': 4068, 'sessions.rss': 19568 });
  // The whole-MB RSS inproc.mjs printed before still reads.
  assert.equal(parseInproc('s3', INPROC_OUT.s3.replace('81.5 MB', '82 MB'), 10_000)['s3.rssBurst'], 82);
  assert.throws(() => parseInproc('s3', INPROC_OUT.s3.replace('10000 answers', '9999 answers'), 10_000), /9999 answers to 10000 connects/);
  assert.throws(() => parseInproc('sessions', INPROC_OUT.sessions, 1000), /50000 sessions open, expected 1000/);
  assert.throws(() => parseInproc('s1', 'Error: boom\n', 50_000), /no result line/);
});

test('compare.mjs table: medians with ranges, ratio and difference of the medians, per-round ratios', () => {
  const base = [{ 's1.cpu': 20, 's1.wall': 30 }, { 's1.cpu': 22, 's1.wall': 30 }, { 's1.cpu': 21, 's1.wall': 33 }];
  const head = [{ 's1.cpu': 21, 's1.wall': 30 }, { 's1.cpu': 22, 's1.wall': 33 }, { 's1.cpu': 23.1, 's1.wall': 30 }];
  const [cpu, wall] = compareRows(['s1'], base, head);
  assert.deepEqual(cpu.base, { median: 21, min: 20, max: 22, n: 3 });
  assert.deepEqual(cpu.head, { median: 22, min: 21, max: 23.1, n: 3 });
  assert.equal(cpu.ratio, 22 / 21);
  assert.equal(cpu.diff, 1);
  assert.deepEqual(cpu.pairs, { min: 1, max: 1.1 });
  assert.equal(wall.diff, 0);
  const lines = renderComparison([cpu, wall]).split('\n');
  assert.match(lines[0], /base median \(min–max\) +head median \(min–max\) +head\/base +head−base +per-round head\/base$/);
  assert.match(lines[1], /^\* S1 CPU per session \(µs\) +21\.0 \(20\.0–22\.0\) +22\.0 \(21\.0–23\.1\) +1\.048 +\+1\.0 +1\.000–1\.100$/);
  assert.match(lines[2], /^ {2}S1 wall time per session \(µs\) .* ±0\.0 +0\.909–1\.100$/);
});
