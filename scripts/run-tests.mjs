#!/usr/bin/env node
// Runs the compiled tests under dist/test with node's own test runner.
// `node scripts/run-tests.mjs [unit|e2e]...` limits the run to those folders.
// Node 20's `node --test` takes no globs, so the file list is built here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../dist/test/', import.meta.url).pathname;
const wanted = process.argv.slice(2);
// The benchmark tools' own tests (plain .mjs under bench/test) are a suite too:
// they check the smtpd simulator that the benchmark numbers rest on.
const suites =
  wanted.length > 0 ? wanted : [...readdirSync(root).filter((d) => statSync(join(root, d)).isDirectory()), 'bench'];

function collectBench() {
  const dir = new URL('../bench/test/', import.meta.url).pathname;
  return readdirSync(dir)
    .filter((n) => n.endsWith('.test.mjs'))
    .sort()
    .map((n) => join(dir, n));
}

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = suites.flatMap((s) => (s === 'bench' ? collectBench() : collect(join(root, s))));
if (files.length === 0) {
  console.error(`no test files under ${suites.map((s) => join(root, s)).join(', ')}`);
  process.exit(1);
}
// End-to-end suites start real smtpd instances: run files one at a time there,
// unit files in parallel.
const concurrency = suites.includes('e2e') ? 1 : 2;
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
