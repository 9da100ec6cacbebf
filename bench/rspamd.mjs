#!/usr/bin/env node
/**
 * The rspamd step's cost (issue 15): messages per second through the filter
 * process with an `rspamd` step (smtpd's protocol, data-lines held, /checkv2
 * asked at the dot, answered at commit), against rspamd alone (`rspamc` over
 * the same messages, as many in parallel), and the filter's peak RSS with
 * IN_FLIGHT messages held at once. One rspamd (tests' minimal configuration)
 * on loopback for both. Build first (npx tsc -p tsconfig.json).
 *
 *   node bench/rspamd.mjs [MESSAGES=400] [IN_FLIGHT=100] [BODY_LINES=200]
 *
 * rspamc is given the same envelope (IP, HELO, sender, recipient) as the
 * filter sends: rspamd's checks of it (RBL, SPF, HFILTER: DNS, which fails in
 * the sandbox after its timeouts) dominate both. Measured here (2 cores,
 * 2026-12-04, 300 messages of 200 lines, 100 in flight): rspamc 12.1/s, the
 * step 12.0/s, the step's own cost about 0.8 ms a message (the time from the
 * client's dot to ours, less rspamd's), the filter's peak RSS 123 MB with 100
 * messages held. Without the envelope rspamc does 40–170/s: rspamd is fast
 * when it has nothing to look up.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url);
const { Rspamd } = await import(new URL('test/integration/rspamd/rspamd.js', dist).href);
const { CliFilter, newSessionId, TOKENS } = await import(new URL('test/integration/faults/live.js', dist).href);
const MAIN = new URL('src/cli/main.js', dist).pathname;

const MESSAGES = Number(process.argv[2] ?? 400);
const IN_FLIGHT = Number(process.argv[3] ?? 100);
const BODY_LINES = Number(process.argv[4] ?? 200);

function lines(i) {
  const body = Array.from({ length: BODY_LINES }, (_, n) => `line ${n} of message ${i}: the quick brown fox jumps over the lazy dog`);
  return [`From: alice${i}@example.net`, 'To: bob@example.org', `Subject: bench ${i}`, `Message-ID: <${i}@bench.test>`, 'Date: Fri, 4 Dec 2026 19:00:00 +0000', '', ...body];
}

const rspamd = await Rspamd.start();
const dir = mkdtempSync(join(tmpdir(), 'filter-rules-bench-rspamd-'));
try {
  // rspamd alone: rspamc over the same messages, IN_FLIGHT in parallel.
  const files = [];
  for (let i = 0; i < MESSAGES; i++) {
    const f = join(dir, `m${i}.eml`);
    writeFileSync(f, `${lines(i).join('\r\n')}\r\n`);
    files.push(f);
  }
  const t0 = performance.now();
  // The same envelope the filter sends (IP, HELO, sender, recipient): rspamd's checks of them (DNS) cost the same.
  const envelope = ['-i', '192.0.2.10', '--helo', 'mx.example.net', '-F', 'alice@example.net', '-r', 'bob@example.org'];
  execFileSync('rspamc', ['-h', `127.0.0.1:${rspamd.port}`, '-n', String(IN_FLIGHT), ...envelope, ...files], { stdio: 'ignore', maxBuffer: 1 << 28 });
  const rspamcSeconds = (performance.now() - t0) / 1000;

  // The filter with the step: IN_FLIGHT sessions at a time, each one message.
  writeFileSync(join(dir, 'bench.rules'), `chain main =\n    rspamd "${rspamd.url}" timeout 30s\n`);
  const filter = await CliFilter.start([process.execPath, MAIN, join(dir, 'bench.rules')]);
  let peakKb = 0;
  const sample = setInterval(() => (peakKb = Math.max(peakKb, filter.memory().rssKb)), 50);
  // One scan of the new output lines for our dots (polling includes() per session would cost more than the filter).
  const dots = new Map();
  const timings = [];
  const opens = [];
  const rcpts = [];
  const commits = [];
  const median = (xs) => Number(xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]?.toFixed(1));
  let seen = 0;
  const scan = setInterval(() => {
    for (; seen < filter.written.length; seen++) {
      const m = /^filter-dataline\|([0-9a-f]{16})\|[0-9a-f]{16}\|\.$/.exec(filter.written[seen]);
      if (m !== null) dots.get(m[1])?.();
    }
  }, 2);
  const one = async (i) => {
    const sid = newSessionId();
    const tOpen = performance.now();
    await filter.open(sid);
    opens.push(performance.now() - tOpen);
    const tRcpt = performance.now();
    await filter.ask(sid, 'rcpt-to', 'bob@example.org');
    filter.feed(`report|0.6|1.0|smtp-in|tx-rcpt|${sid}|0a0b0c0d|ok|bob@example.org`);
    await filter.ask(sid, 'data', '');
    rcpts.push(performance.now() - tRcpt);
    const dot = new Promise((resolve) => dots.set(sid, resolve));
    const stamp = (Date.now() / 1000).toFixed(6);
    filter.feed(...[...lines(i), '.'].map((l) => `filter|0.6|${stamp}|smtp-in|data-line|${sid}|${TOKENS['data-line']}|${l}`));
    const tFeed = performance.now();
    await dot;
    timings.push(performance.now() - tFeed);
    const tCommit = performance.now();
    const commit = (await filter.ask(sid, 'commit', '')).decision;
    commits.push(performance.now() - tCommit);
    filter.close(sid);
    if (commit.startsWith('reject|4')) throw new Error(`tempfailed: ${commit}`);
  };
  const t1 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < MESSAGES) await one(next++);
  }));
  const stepSeconds = (performance.now() - t1) / 1000;
  clearInterval(sample);
  clearInterval(scan);
  filter.kill();
  const rate = (s) => (MESSAGES / s).toFixed(1);
  console.log(JSON.stringify({
    messages: MESSAGES,
    inFlight: IN_FLIGHT,
    bodyLines: BODY_LINES,
    rspamcPerSecond: Number(rate(rspamcSeconds)),
    stepPerSecond: Number(rate(stepSeconds)),
    stepCostMsPerMessage: Number((((stepSeconds - rspamcSeconds) / MESSAGES) * 1000).toFixed(2)),
    filterPeakRssMb: Number((peakKb / 1024).toFixed(1)),
    openMsMedian: median(opens),
    rcptDataMsMedian: median(rcpts),
    commitMsMedian: median(commits),
    heldMsMean: Number((timings.reduce((a, b) => a + b, 0) / Math.max(1, timings.length)).toFixed(1)),
    heldMsMax: Number(Math.max(...timings).toFixed(1)),
    heldMsMedian: Number(timings.sort((a, b) => a - b)[Math.floor(timings.length / 2)]?.toFixed(1)),
    note: 'the step run includes this script feeding the protocol (and its polling); an upper bound of the step\'s cost',
  }, null, 2));
} finally {
  await rspamd.stop();
  rmSync(dir, { recursive: true, force: true });
}
