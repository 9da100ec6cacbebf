#!/usr/bin/env node
// Runs the compiled tests under dist/test with node's own test runner.
//
//   node scripts/run-tests.mjs                    what `npm test` (and so CI) runs, one run after another:
//     1. every suite (unit, integration, fuzz, soak, e2e, bench) on this node, e2e with Debian's smtpd 6.8;
//     2. the e2e suite again with OpenSMTPD 7.8 (filter protocol 0.7, built by ../shared/opensmtpd/build.sh);
//     3. the unit and integration suites on Node.js 24 (scripts/node24.sh).
//   node scripts/run-tests.mjs SUITE...           those suites once, on this node, e2e with E2E_SMTPD
//                                                 (6.8 unless set: 6.8, 7.8 or a path to smtpd)
//   node scripts/run-tests.mjs --node24 SUITE...  those suites on Node.js 24
// A SUITE may also be one test file, as a path from the project root (dist/test/unit/x.test.js).
//
// Each run first says what it runs on (node, smtpd); the last line adds up every run's counts.
// A run that cannot start (no smtpd 7.8, no Node 24) is skipped with the reason, except under
// CI=true, where that fails: install-deps.sh installs both there.
// Node 20's `node --test` takes no globs, so the file list is built here.
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const projectRoot = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const underCi = !['', 'false', undefined].includes(process.env.CI);

/** The suites under `root`/dist/test, plus the benchmark tools' own tests (plain .mjs under bench/test). */
function allSuites(root) {
  const dist = join(root, 'dist', 'test');
  return [...readdirSync(dist).filter((d) => statSync(join(dist, d)).isDirectory()), 'bench'];
}

function collect(dir, suffix) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p, suffix));
    else if (name.endsWith(suffix)) out.push(p);
  }
  return out;
}

/** A suite's files; a path (dist/test/…/x.test.js, relative to the project) stands for itself. */
function testFiles(root, suites) {
  return suites.flatMap((s) => {
    if (/\.m?js$/.test(s)) return [join(root, s)];
    return s === 'bench' ? collect(join(root, 'bench', 'test'), '.test.mjs') : collect(join(root, 'dist', 'test', s), '.test.js');
  });
}

/** What E2E_SMTPD=`wanted` runs, from the harness itself (the one place that knows). */
async function smtpdLabel(wanted) {
  const { smtpdFor } = await import(join(projectRoot, 'dist', 'test', 'e2e', 'harness', 'env.js'));
  const s = smtpdFor(wanted);
  return 'skip' in s ? { skip: s.skip } : { label: `smtpd ${s.version} (${s.binary}, filter protocol ${s.protocol})` };
}

const COUNTS = ['pass', 'fail', 'cancelled', 'skipped', 'todo'];

/**
 * One `node --test` over `suites`, its output passed through; returns the runner's closing
 * counts (TAP `# pass N` or spec `ℹ pass N`, whichever reporter this node picks).
 */
function runOnce({ node, root, suites, env }) {
  const files = testFiles(root, suites);
  if (files.length === 0) {
    console.error(`no test files under ${suites.join(', ')} in ${root}`);
    return Promise.resolve({ status: 1, counts: { fail: 1 } });
  }
  // End-to-end suites start real smtpd instances: one file at a time there, else two.
  const concurrency = suites.some((s) => s === 'e2e' || s.startsWith('dist/test/e2e/')) ? 1 : 2;
  const child = spawn(node, ['--test', `--test-concurrency=${concurrency}`, ...files], { cwd: root, env, stdio: ['inherit', 'pipe', 'inherit'] });
  const counts = {};
  let pending = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^(?:# |ℹ )(\w+) (\d+)$/.exec(line);
      if (m !== null && COUNTS.includes(m[1])) counts[m[1]] = Number(m[2]);
    }
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status: status ?? 1, counts })));
}

/** Node 24 and its better-sqlite3 build, from the cache (scripts/node24.sh installs them when missing). */
function node24() {
  const r = spawnSync('bash', [join(projectRoot, 'scripts', 'node24.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const node = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !node.startsWith('/')) return { skip: `scripts/node24.sh failed (exit ${r.status})` };
  const bsVersion = JSON.parse(readFileSync(join(projectRoot, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')).version;
  const modules = join(dirname(dirname(node)), `better-sqlite3-${bsVersion}`, 'node_modules');
  if (!existsSync(join(modules, 'better-sqlite3'))) return { skip: `no better-sqlite3 for Node 24 in ${modules}` };
  return { node, modules };
}

/**
 * A copy of the project for the Node 24 run, whose node_modules is the project's but for
 * better-sqlite3, the build for Node 24's ABI. A copy, because node resolves packages from a
 * module's real path: the compiled tests and the filter they spawn must live in a tree whose
 * node_modules holds that build, exactly as after `npm ci` with Node 24. Everything else is
 * symlinked to the project's install; the copy (of the sources, fixtures and dist/: a few MB)
 * is world-readable, since some integration tests run the filter as opensmtpd.
 */
function node24Tree(modules) {
  const tree = mkdtempSync(join(tmpdir(), 'filter-rules-node24-'));
  chmodSync(tree, 0o755);
  const skip = new Set(['.git', 'node_modules', 'tmp']);
  cpSync(projectRoot, tree, { recursive: true, filter: (src) => !skip.has(relative(projectRoot, src)) });
  const installed = realpathSync(join(projectRoot, 'node_modules'));
  mkdirSync(join(tree, 'node_modules'));
  for (const name of readdirSync(installed)) {
    const target = name === 'better-sqlite3' ? join(modules, name) : join(installed, name);
    symlinkSync(target, join(tree, 'node_modules', name));
  }
  return tree;
}

/** Each run: a label, and how to start it (or why it cannot start). */
async function plan(args) {
  const onNode24 = args[0] === '--node24';
  const wanted = onNode24 ? args.slice(1) : args;
  const here = `node ${process.version}`;
  if (wanted.length === 0 && !onNode24) {
    return [
      { suites: allSuites(projectRoot), smtpd: '6.8' },
      { suites: ['e2e'], smtpd: '7.8' },
      { suites: ['unit', 'integration'], node24: true },
    ].map((r) => ({ ...r, here }));
  }
  return [{ suites: wanted.length > 0 ? wanted : ['unit', 'integration'], smtpd: process.env.E2E_SMTPD ?? '6.8', node24: onNode24, here }];
}

async function main() {
  const runs = await plan(process.argv.slice(2));
  const results = [];
  for (const [i, run] of runs.entries()) {
    const n = `run ${i + 1}/${runs.length}`;
    const env = { ...process.env };
    let node = process.execPath;
    let root = projectRoot;
    let tree = null;
    const parts = [run.suites.join(' ')];
    let skip = null;
    try {
      if (run.node24) {
        const n24 = node24();
        if ('skip' in n24) skip = n24.skip;
        else {
          node = n24.node;
          tree = node24Tree(n24.modules);
          root = tree;
          // `node` on PATH (shebangs, npm's scripts) is this one too, and npm builds native
          // modules against its headers (the pack test's npm install -g).
          env.PATH = `${dirname(node)}:${env.PATH ?? ''}`;
          env.npm_config_nodedir = dirname(dirname(node));
        }
      }
      parts.push(`on node ${run.node24 ? (skip === null ? spawnSync(node, ['-p', 'process.version'], { encoding: 'utf8' }).stdout.trim() : '24') : process.version} (${node})`);
      if (run.suites.some((s) => /^(dist\/test\/)?(e2e|soak)\b/.test(s))) {
        const s = await smtpdLabel(run.smtpd);
        env.E2E_SMTPD = run.smtpd;
        if ('skip' in s) skip ??= s.skip;
        else parts.push(`with ${s.label}`);
      }
    } catch (e) {
      skip = e instanceof Error ? e.message : String(e);
    }
    const label = parts.join(' ');
    if (skip !== null) {
      console.log(`\n# run-tests: ${n}: ${label}: ${underCi ? 'FAILED to start' : 'skipped'}: ${skip}\n`);
      results.push({ n, label, status: underCi ? 1 : 0, counts: underCi ? { fail: 1 } : {}, note: underCi ? 'could not start' : `skipped: ${skip}` });
      continue;
    }
    console.log(`\n# run-tests: ${n}: ${label}\n`);
    const started = Date.now();
    try {
      const r = await runOnce({ node, root, suites: run.suites, env });
      results.push({ n, label, ...r, note: `${Math.round((Date.now() - started) / 1000)} s` });
    } finally {
      if (tree !== null && process.env.KEEP_NODE24_TREE === undefined) rmSync(tree, { recursive: true, force: true });
    }
  }
  const total = Object.fromEntries(COUNTS.map((k) => [k, 0]));
  console.log('\n# run-tests: summary');
  for (const r of results) {
    for (const k of COUNTS) total[k] += r.counts[k] ?? 0;
    console.log(`#   ${r.n}: ${r.label}: ${r.status === 0 ? 'ok' : `FAILED (exit ${r.status})`}, ${COUNTS.map((k) => `${k} ${r.counts[k] ?? 0}`).join(', ')} (${r.note})`);
  }
  const failed = results.some((r) => r.status !== 0);
  // A run can fail with no failing test counted (a crash before the summary): never print 0 then.
  const failures = Math.max(total.fail + total.cancelled, failed ? 1 : 0);
  console.log(`total: ${total.pass} passed, ${failures} failed, ${total.skipped} skipped`);
  process.exit(failed ? 1 : 0);
}

await main();
