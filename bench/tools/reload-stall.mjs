#!/usr/bin/env node
// How long filter requests wait while the filter reloads a 1,000,000-line list
// file: the real filter process (dist/src/cli/main.js of each build given),
// a closed loop of connect requests on its stdin (a few in flight, each sent
// again as soon as it is answered), the list file replaced by another
// 1,000,000-line list and SIGHUP sent; the reload ends at its "rules reloaded"
// log line. Reports, per build, the medians over the repetitions of:
//   - the longest answer delay during the reload (what an smtpd session waits:
//     the longest the event loop was held up),
//   - the longest answer delay over the same time before it (the baseline),
//   - how long the reload took (SIGHUP → "rules reloaded").
//
//   node bench/tools/reload-stall.mjs [--reps 5] [--lines 1000000] [--kind ip|address]
//        [--before DIST] [--after DIST]
//
// --after defaults to this checkout's dist/. For a "before", build another
// commit outside the work tree, e.g.:
//   mkdir /tmp/before && git archive COMMIT | tar -x -C /tmp/before &&
//   ln -s "$PWD/node_modules" /tmp/before/ && (cd /tmp/before && npx tsc -p tsconfig.json)
//   node bench/tools/reload-stall.mjs --before /tmp/before/dist
import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT_DIR } from '../lib/paths.mjs';
import { median } from '../lib/stats.mjs';

const { values: opt } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    lines: { type: 'string', default: '1000000' },
    kind: { type: 'string', default: 'ip' },
    before: { type: 'string' },
    after: { type: 'string', default: join(ROOT_DIR, 'dist') },
    'in-flight': { type: 'string', default: '4' },
  },
});
const REPS = Number(opt.reps);
const LINES = Number(opt.lines);
const IN_FLIGHT = Number(opt['in-flight']);
if (!['ip', 'address'].includes(opt.kind)) throw new Error(`--kind ip|address, got ${opt.kind}`);

/** List `variant` (0 or 1): LINES distinct items, different between the variants. */
function listText(variant) {
  const out = new Array(LINES);
  for (let i = 0; i < LINES; i++) {
    const v = ((i * 2654435761) ^ (variant * 0x5bd1e995)) >>> 0;
    out[i] = opt.kind === 'ip' ? `${(v >>> 24) | 1}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}` : `user${i}.${variant}@host${v % 50_000}.example`;
  }
  return `${out.join('\n')}\n`;
}

const RULES =
  opt.kind === 'ip'
    ? 'list big = file "big.list"\nchain main = junk when src in big at connect\n'
    : 'list big = file "big.list"\nchain main = junk when mail-from in big at mail-from\n';

const HANDSHAKE = 'config|smtpd-version|6.8.0p2\nconfig|smtp-session-timeout|300\nconfig|subsystem|smtp-in\nconfig|ready\n';
const hex = (n, w = 16) => n.toString(16).padStart(w, '0');
const CONNECT_TOKEN = hex(0x1a9c37f7cd0c06a5n);

/** The filter process and a closed loop of connect requests on it. */
class Probe {
  constructor(dist, rules) {
    this.child = spawn(process.execPath, [join(dist, 'src/cli/main.js'), rules], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.stderr = '';
    this.out = '';
    this.answers = []; // [sentAt, answeredAt]
    this.open = new Map(); // session → sentAt
    this.n = 0;
    this.running = false;
    this.child.stderr.setEncoding('utf8').on('data', (d) => (this.stderr += d));
    this.child.stdout.setEncoding('utf8').on('data', (d) => this.onOut(d));
    this.child.stdin.on('error', () => {});
    this.child.stdin.write(HANDSHAKE);
  }

  onOut(d) {
    const lines = (this.out + d).split('\n');
    this.out = lines.pop();
    for (const l of lines) {
      const m = /^filter-result\|([0-9a-f]{16})\|/.exec(l);
      if (m === null) continue;
      const sentAt = this.open.get(m[1]);
      if (sentAt === undefined) continue;
      this.open.delete(m[1]);
      this.answers.push([sentAt, performance.now()]);
      this.child.stdin.write(`report|0.6|1.0|smtp-in|link-disconnect|${m[1]}\n`);
      if (this.running) this.send();
    }
  }

  send() {
    const sid = hex(0xfb00000000000000n + BigInt(++this.n));
    const t = (Date.now() / 1000).toFixed(6);
    this.open.set(sid, performance.now());
    this.child.stdin.write(
      `report|0.6|${t}|smtp-in|link-connect|${sid}|mx.example.net|pass|192.0.2.${this.n % 250}:40000|127.0.0.1:25\n` +
        `filter|0.6|${t}|smtp-in|connect|${sid}|${CONNECT_TOKEN}|mx.example.net|192.0.2.${this.n % 250}\n`,
    );
  }

  start() {
    this.running = true;
    for (let i = 0; i < IN_FLIGHT; i++) this.send();
  }

  logged(re) {
    return this.stderr.split('\n').some((l) => l.startsWith('{') && re.test(JSON.parse(l).msg ?? ''));
  }

  async until(probe, ms, what) {
    const deadline = Date.now() + ms;
    while (!probe()) {
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`no ${what} (${this.child.exitCode === null ? 'timeout' : 'exited'}):\n${this.stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Longest answer delay among answers overlapping [from, to]. */
  maxDelay(from, to) {
    let max = 0;
    for (const [s, a] of this.answers) if (a >= from && s <= to) max = Math.max(max, a - s);
    // A request still open at the end waited at least this long.
    for (const s of this.open.values()) if (s <= to) max = Math.max(max, to - s);
    return max;
  }

  stop() {
    this.running = false;
    this.child.kill('SIGKILL');
  }
}

async function once(dist, lists) {
  const dir = mkdtempSync(join(tmpdir(), 'reload-stall-'));
  try {
    const rules = join(dir, 'main.rules');
    const list = join(dir, 'big.list');
    writeFileSync(list, lists[0]);
    writeFileSync(rules, RULES);
    writeFileSync(join(dir, 'next.list'), lists[1]);
    const p = new Probe(dist, rules);
    await p.until(() => p.logged(/^filter-rules starting/), 120_000, 'start');
    p.start();
    // Settle, then a baseline as long as the reload will take (measured after).
    await p.until(() => p.answers.length >= 2000, 60_000, 'warm-up answers');
    const baseFrom = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const baseTo = performance.now();
    renameSync(join(dir, 'next.list'), list);
    const from = performance.now();
    p.child.kill('SIGHUP');
    await p.until(() => p.logged(/^rules reloaded/), 120_000, 'reload');
    const to = performance.now();
    const result = { during: p.maxDelay(from, to), before: p.maxDelay(baseFrom, baseTo), reloadMs: to - from, answersDuring: p.answers.filter(([, a]) => a >= from && a <= to).length };
    p.stop();
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const builds = [...(opt.before === undefined ? [] : [['before', opt.before]]), ['after', opt.after]];
console.error(`${LINES.toLocaleString('en')}-line ${opt.kind} list, ${REPS} repetitions per build, ${IN_FLIGHT} requests in flight`);
const lists = [listText(0), listText(1)];
const results = new Map(builds.map(([name]) => [name, []]));
// Interleaved, so both builds see the same machine load.
for (let rep = 1; rep <= REPS; rep++) {
  for (const [name, dist] of builds) {
    const r = await once(dist, lists);
    results.get(name).push(r);
    console.error(`  ${name} #${rep}: longest answer delay during reload ${r.during.toFixed(1)} ms (before: ${r.before.toFixed(1)} ms), reload ${r.reloadMs.toFixed(0)} ms, ${r.answersDuring} answers during it`);
  }
}
const row = (label, pick, digits = 1) => [label, ...builds.map(([name]) => median(results.get(name).map(pick))?.toFixed(digits) ?? '-')];
const table = [
  ['median of', ...builds.map(([name]) => name)],
  row('longest answer delay during the reload, ms', (r) => r.during),
  row('longest answer delay before it (1 s), ms', (r) => r.before),
  row('reload (SIGHUP → "rules reloaded"), ms', (r) => r.reloadMs, 0),
  row('answers during the reload', (r) => r.answersDuring, 0),
];
const widths = table[0].map((_, c) => Math.max(...table.map((r) => String(r[c]).length)));
for (const r of table) console.log(r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  '));
