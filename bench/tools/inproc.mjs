#!/usr/bin/env node
// The filter's own cost, without sockets or the scheduler: feeds FilterHost
// (from dist/, so build first) the lines smtpd-sim would send, in the same
// order, and reports CPU time. On a busy machine the simulator's sessions/s
// mostly measure how often the filter gets a CPU; this measures what it does
// with it, so before/after comparisons of a change are stable.
//
//   node bench/tools/inproc.mjs s1 [SESSIONS]   # S1 traffic and rules: CPU µs per session
//   node bench/tools/inproc.mjs s3 [SESSIONS]   # S3 burst: connects paused 1 s; CPU to take
//                                               # the burst, lateness of the last answer
//   node bench/tools/inproc.mjs sessions [N]    # memory of N open sessions (default 50,000):
//                                               # link-connect, EHLO, MAIL, one RCPT; none ended
//   DIST=/path/to/other/checkout/dist node bench/tools/inproc.mjs s1   # compare a build
//   (bench/tools/compare.mjs runs all three for two builds, interleaved, and tabulates them)
//
// Add --cpu-prof (node --cpu-prof bench/tools/inproc.mjs s1) and summarise the
// profile with bench/tools/cpuprofile-top.mjs.
import { join } from 'node:path';
import { ROOT_DIR as REPO } from '../lib/paths.mjs';

const [mode = 's1', nArg] = process.argv.slice(2);
const DIST = process.env.DIST ?? join(REPO, 'dist');
const { compileRulesFile } = await import(join(DIST, 'src/dsl/index.js'));
const { FilterHost } = await import(join(DIST, 'src/runtime/host.js'));
const { REPORTED_EVENTS } = await import(join(DIST, 'src/protocol/handshake.js'));

const HANDSHAKE = 'config|smtpd-version|6.8.0p2\nconfig|smtp-session-timeout|300\nconfig|subsystem|smtp-in\nconfig|admd|bench.example\nconfig|ready\n';
const hex = (n, width) => n.toString(16).padStart(width, '0');
const tick = () => new Promise((resolve) => setImmediate(resolve));

function host(rulesFile, chain, onWrite) {
  const compiled = compileRulesFile(rulesFile);
  if (!compiled.ok) throw new Error(`${rulesFile} does not compile`);
  const created = FilterHost.create({ rules: compiled.rules, chain, output: { write: (c) => (onWrite(c), true), once() {} } });
  if (!created.ok) throw new Error(created.error);
  created.value.feed(Buffer.from(HANDSHAKE));
  return created.value;
}

/** One S1 session as the simulator scripts it (EHLO, MAIL, 2 RCPT, DATA, QUIT): its input, step by step. */
function s1Session(n, registered) {
  const sid = hex(0x840cf0000000 + n, 16);
  const t = (Date.now() / 1000).toFixed(6);
  const rep = (event, params) => (registered.has(event) ? `report|0.6|${t}|smtp-in|${event}|${sid}${params === null ? '' : `|${params}`}\n` : '');
  const req = (phase, param) => `filter|0.6|${t}|smtp-in|${phase}|${sid}|${hex(phase.length, 16)}|${param}\n`;
  const v = (n % 16777214) + 1;
  const ip = `10.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`;
  const rdns = n % 20 === 7 ? '<unknown>' : `mail${(n % 7) + 1}.sender${n}.example`;
  const helo = `mx${(n % 3) + 1}.sender${n}.example`;
  const sender = `newsletter+${n}@sender${n}.example`;
  const rcpt = (i) => `user${n % 997}${i ? `-${i}` : ''}@bench.example`;
  const msgid = hex((n * 2654435761) >>> 0, 8);
  const ehloReply = [`250-bench.example Hello ${helo} [${ip}], pleased to meet you`, '250-8BITMIME', '250-ENHANCEDSTATUSCODES', '250-SIZE 36700160', '250-DSN', '250 HELP'];
  return [
    rep('link-connect', `${rdns}|${n % 20 === 7 ? 'fail' : 'pass'}|${ip}:${1024 + (n % 60000)}|203.0.113.25:25`) + req('connect', `${rdns}|${ip}`),
    rep('protocol-server', '220 bench.example ESMTP OpenSMTPD') + rep('link-greeting', 'bench.example') + rep('protocol-client', `EHLO ${helo}`) + req('ehlo', helo),
    rep('link-identify', `EHLO|${helo}`) + ehloReply.map((r) => rep('protocol-server', r)).join('') + rep('protocol-client', `MAIL FROM:<${sender}>`) + req('mail-from', sender),
    rep('protocol-server', '250 2.0.0 Ok') + rep('tx-begin', msgid) + rep('tx-mail', `${msgid}|ok|${sender}`) + req('rcpt-to', rcpt(0)),
    rep('tx-envelope', `${msgid}|${msgid}00000001`) + rep('protocol-server', '250 2.1.5 Destination address valid: Recipient ok') + rep('tx-rcpt', `${msgid}|ok|${rcpt(0)}`) + req('rcpt-to', rcpt(1)),
    rep('tx-envelope', `${msgid}|${msgid}00000002`) + rep('protocol-server', '250 2.1.5 Destination address valid: Recipient ok') + rep('tx-rcpt', `${msgid}|ok|${rcpt(1)}`) + req('data', ''),
    rep('protocol-server', '354 Enter mail, end with "." on a line by itself') + rep('tx-data', `${msgid}|ok`) + req('commit', ''),
    rep('protocol-server', `250 2.0.0 ${msgid} Message accepted for delivery`) + rep('tx-commit', `${msgid}|400`) + rep('tx-reset', msgid) + rep('protocol-server', '221 2.0.0 Bye') + rep('link-disconnect', null),
  ];
}

async function s1(sessions) {
  const registered = new Set(REPORTED_EVENTS);
  let outBytes = 0;
  const h = host(join(REPO, 'bench/rules/realistic.rules'), 'realistic', (c) => (outBytes += c.length));
  // 50 sessions advance together, one step per chunk, as the simulator's 50 concurrent sessions do.
  const chunks = [];
  for (let base = 0; base < sessions; base += 50) {
    const group = [];
    for (let k = 0; k < 50 && base + k < sessions; k++) group.push(s1Session(base + k, registered));
    for (let step = 0; step < group[0].length; step++) chunks.push(Buffer.from(group.map((s) => s[step]).join('')));
  }
  const inBytes = chunks.reduce((a, c) => a + c.length, 0);
  const warm = Math.floor(chunks.length / 10);
  for (let i = 0; i < warm; i++) h.feed(chunks[i]);
  await tick();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = warm; i < chunks.length; i++) {
    h.feed(chunks[i]);
    if (i % 8 === 0) await tick();
  }
  await tick();
  const cpu = process.cpuUsage(cpu0);
  const measured = ((chunks.length - warm) / chunks.length) * sessions;
  console.log(
    `S1 in-process: ${((cpu.user + cpu.system) / measured).toFixed(1)} µs CPU per session ` +
      `(${((performance.now() - t0) * 1000 / measured).toFixed(1)} µs wall), ` +
      `${(inBytes / sessions).toFixed(0)} B in and ${(outBytes / sessions).toFixed(0)} B out per session`,
  );
}

async function s3(sessions) {
  let answers = 0;
  let lastAt = 0;
  const h = host(join(REPO, 'bench/rules/pause.rules'), 'paused', (c) => {
    const text = String(c);
    for (let i = text.indexOf('filter-result|'); i >= 0; i = text.indexOf('filter-result|', i + 1)) answers++;
    lastAt = performance.now();
  });
  const sentWall = Date.now();
  const sentAt = performance.now();
  const t = (sentWall / 1000).toFixed(6);
  const lines = [];
  for (let i = 0; i < sessions; i++) {
    const sid = hex(0x1000 + i, 16);
    const ip = `10.0.${(i >> 8) & 255}.${i & 255}`;
    lines.push(`report|0.6|${t}|smtp-in|link-connect|${sid}|mx${i}.example|pass|${ip}:${1024 + (i % 60000)}|203.0.113.25:25\n`);
    lines.push(`filter|0.6|${t}|smtp-in|connect|${sid}|00000000000000aa|mx${i}.example|${ip}\n`);
  }
  const input = Buffer.from(lines.join(''));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let o = 0; o < input.length; o += 65536) h.feed(input.subarray(o, o + 65536));
  const cpu = process.cpuUsage(cpu0);
  const took = performance.now() - t0;
  const rssAfterBurst = process.memoryUsage().rss;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  console.log(
    `S3 in-process: ${sessions} connects taken in ${took.toFixed(0)} ms (${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU), ` +
      `${answers} answers, the last ${(lastAt - sentAt - 1000).toFixed(0)} ms after its due time, ` +
      `RSS ${(rssAfterBurst / 1e6).toFixed(1)} MB after the burst, ${(process.memoryUsage().rss / 1e6).toFixed(1)} MB after the answers`,
  );
}

/**
 * What open sessions cost: `sessions` sessions connect, say EHLO and MAIL FROM
 * (every request answered, the reports applied) and stay open, as a server
 * full of slow or idle clients holds them. Heap and RSS are read after a full
 * GC, before and after; the difference per session is the session table's
 * cost (Session, its facts, the table entry) plus what V8 keeps around it.
 */
async function sessionsMemory(sessions) {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc');
  const registered = new Set(REPORTED_EVENTS);
  let answers = 0;
  const h = host(join(REPO, 'bench/rules/realistic.rules'), 'realistic', (c) => {
    const text = String(c);
    for (let i = text.indexOf('filter-result|'); i >= 0; i = text.indexOf('filter-result|', i + 1)) answers++;
  });
  // 10.x addresses: not in the chain's trusted list, so every step runs and nothing is accepted early.
  const steps = (n) => s1Session(n, registered).slice(0, 4);
  await tick();
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  for (let base = 0; base < sessions; base += 1000) {
    const group = [];
    for (let k = 0; k < 1000 && base + k < sessions; k++) group.push(steps(base + k));
    for (let step = 0; step < 4; step++) h.feed(Buffer.from(group.map((s) => s[step]).join('')));
    await tick();
  }
  await tick();
  gc();
  const heap = process.memoryUsage().heapUsed - heap0;
  const rss = process.memoryUsage().rss - rss0;
  const open = h.stats().sessions;
  console.log(
    `sessions in-process: ${open} sessions open (link-connect, EHLO, MAIL and one RCPT answered and reported; ${answers} answers): ` +
      `heap +${(heap / 1e6).toFixed(1)} MB (${(heap / open).toFixed(0)} B per session), ` +
      `RSS +${(rss / 1e6).toFixed(1)} MB (${(rss / open).toFixed(0)} B per session), RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB in all`,
  );
}

const n = Number(nArg ?? (mode === 's3' ? 10_000 : 50_000));
if (mode === 's1') await s1(n);
else if (mode === 's3') await s3(n);
else if (mode === 'sessions') await sessionsMemory(n);
else {
  console.error('usage: inproc.mjs s1|s3|sessions [SESSIONS]');
  process.exit(2);
}
process.exit(0);
