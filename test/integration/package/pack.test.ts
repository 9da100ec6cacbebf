/**
 * What `npm pack` makes is an installable package: packed from this build,
 * installed globally under a temporary prefix (dependencies from the npm
 * cache, the registry only for what the cache lacks; better-sqlite3 gets its
 * native module the way npm builds it), its `filter-rules` works from any
 * directory — version, check, the filter itself with a SQLite greylist store,
 * and `greylist stats` — and the man pages are installed.
 *
 * Slow (npm may compile better-sqlite3): skipped with SKIP_PACKAGE_TEST=1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
const skip = process.env['SKIP_PACKAGE_TEST'] === '1' ? 'SKIP_PACKAGE_TEST=1' : spawnSync('npm', ['--version']).error ? 'npm not found' : false;

function run(cmd: string, args: readonly string[], options: { cwd: string; input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv }): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, {
    cwd: options.cwd,
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    env: { ...process.env, ...options.env },
  });
  if (r.error) throw r.error;
  return r;
}

const show = (r: SpawnSyncReturns<string>): string => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

describe('npm pack → npm install -g → filter-rules', { skip, timeout: 15 * 60_000 }, () => {
  let dir = '';
  let prefix = '';
  let bin = '';
  let elsewhere = '';
  let files: string[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fr-pack-'));
    prefix = join(dir, 'prefix');
    bin = join(prefix, 'bin', 'filter-rules');
    elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    // The tests run on a fresh build (dist/), which is what `prepare` would build: no second compile.
    const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root });
    assert.equal(packed.status, 0, show(packed));
    const info = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = info[0]?.files.map((f) => f.path) ?? [];
    const tarball = join(dir, info[0]?.filename ?? '');
    assert.ok(existsSync(tarball), tarball);
    const installed = run(
      'npm',
      ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--allow-scripts=better-sqlite3', tarball],
      { cwd: elsewhere, timeoutMs: 12 * 60_000 },
    );
    assert.equal(installed.status, 0, show(installed));
  });
  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  test('the tarball holds the build, docs, rules and man pages, not the tests or sources', () => {
    // main.js is the bin; it loads app.js (the program) after catching signals.
    for (const f of ['package.json', 'README.md', 'dist/src/cli/main.js', 'dist/src/cli/app.js', 'man/filter-rules.8', 'man/filter-rules.rules.5', 'rules/default.rules', 'grammar/REFERENCE.md']) {
      assert.ok(files.includes(f), `${f} missing from the package`);
    }
    for (const f of files) {
      assert.doesNotMatch(f, /^(dist\/test|test|src|bench|node_modules)\//, `${f} should not be packed`);
      assert.doesNotMatch(f, /\.ts$/, `${f} should not be packed`);
    }
  });

  test('filter-rules --version, from another directory', () => {
    const r = run(bin, ['--version'], { cwd: elsewhere });
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, `filter-rules ${pkg.version}\n`);
  });

  test('filter-rules check on a rules file in another directory, by relative and absolute path', () => {
    writeFileSync(join(elsewhere, 'antispam.rules'), readFileSync(join(root, 'rules/default.rules'), 'utf8'));
    for (const path of ['antispam.rules', join(elsewhere, 'antispam.rules')]) {
      const r = run(bin, ['check', path], { cwd: elsewhere });
      assert.equal(r.status, 0, show(r));
      assert.match(r.stdout, /: valid/);
    }
    const bad = join(dir, 'bad.rules');
    writeFileSync(bad, 'chain c = pasue 3s\n');
    const r = run(bin, ['check', bad], { cwd: '/' });
    assert.equal(r.status, 1, show(r));
    assert.match(r.stdout, /error\[E004\]/);
  });

  test('the installed filter runs: handshake on stdin/stdout, a SQLite greylist store opened (native module), exit at EOF', () => {
    const state = join(dir, 'state');
    const rules = join(dir, 'greylist.rules');
    writeFileSync(rules, `chain inbound = pause 1s then greylist store "sqlite:${join(state, 'greylist.db')}"\n`);
    const r = run(bin, ['--log-level', 'warn', rules], {
      cwd: '/',
      input: 'config|smtpd-version|6.8.0p2\nconfig|subsystem|smtp-in\nconfig|ready\n',
      timeoutMs: 30_000,
    });
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /^register\|filter\|smtp-in\|connect$/m);
    assert.match(r.stdout, /register\|ready\n$/);
    assert.doesNotMatch(r.stderr, /cannot open greylist store|better_sqlite3|Could not locate the bindings/, show(r));
    assert.ok(existsSync(join(state, 'greylist.db')), 'the store was created');

    const stats = run(bin, ['greylist', 'stats', rules], { cwd: elsewhere });
    assert.equal(stats.status, 0, show(stats));
    assert.match(stats.stdout, /^triplets +0 /m);
  });

  test('the man pages are installed', () => {
    const man = join(prefix, 'share', 'man');
    assert.ok(readdirSync(join(man, 'man8')).includes('filter-rules.8'));
    assert.ok(readdirSync(join(man, 'man5')).includes('filter-rules.rules.5'));
  });
});
