/**
 * The Debian package's parts that the end-to-end test (test/e2e/package/deb.test.ts)
 * cannot reach on this machine, run here without root and without dpkg:
 *
 * - packaging/deb/postinst and postrm, run with DPKG_ROOT set to a temp dir and stub
 *   getent/stat/chown/chmod/dpkg-statoverride first on PATH, so every branch runs:
 *   no opensmtpd user (the e2e machine always has one), a dpkg-statoverride, an owner
 *   the admin chose;
 * - scripts/deb/stage-app.mjs's pure parts: which packages of a lock are production
 *   ones, the copyright file, a stale build and a node_modules that is not the lock's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const POSTINST = join(root, 'packaging', 'deb', 'postinst');
const POSTRM = join(root, 'packaging', 'deb', 'postrm');

interface StubWorld {
  /** getent finds the user and group `opensmtpd`. */
  readonly userExists: boolean;
  /** `stat -c %u:%g` of the state directory. */
  readonly owner: string;
  /** dpkg-statoverride --list finds an entry. */
  readonly statOverride: boolean;
}

interface ScriptRun {
  readonly status: number | null;
  readonly stderr: string;
  /** The stubbed chown/chmod calls, one per line: `chown opensmtpd:opensmtpd DIR`. */
  readonly calls: string[];
}

const STUBS: Record<string, string> = {
  getent: '[ "$STUB_USER" = yes ] && echo "$2:x:102:105::/nonexistent:/usr/sbin/nologin"',
  stat: 'echo "$STUB_OWNER"',
  'dpkg-statoverride': '[ "$STUB_OVERRIDE" = yes ] && echo "root root 0750 $2"',
  chown: 'echo "chown $*" >>"$STUB_CALLS"',
  chmod: 'echo "chmod $*" >>"$STUB_CALLS"',
};

describe('the Debian package\'s maintainer scripts', () => {
  let dir = '';
  let stubs = '';
  let n = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fr-deb-scripts-'));
    stubs = join(dir, 'bin');
    mkdirSync(stubs);
    for (const [name, body] of Object.entries(STUBS)) {
      writeFileSync(join(stubs, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(stubs, name), 0o755);
    }
  });
  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh DPKG_ROOT with /var/lib, and what the script did in it. */
  function runScript(script: string, arg: string, world: StubWorld, prepare?: (dpkgRoot: string) => void): ScriptRun & { readonly state: string } {
    const dpkgRoot = join(dir, `root-${n++}`);
    mkdirSync(join(dpkgRoot, 'var', 'lib'), { recursive: true });
    prepare?.(dpkgRoot);
    const calls = join(dpkgRoot, 'calls');
    const r = spawnSync('sh', [script, arg], {
      encoding: 'utf8',
      env: {
        PATH: `${stubs}:/usr/bin:/bin`,
        DPKG_ROOT: dpkgRoot,
        STUB_USER: world.userExists ? 'yes' : 'no',
        STUB_OWNER: world.owner,
        STUB_OVERRIDE: world.statOverride ? 'yes' : 'no',
        STUB_CALLS: calls,
      },
    });
    const state = join(dpkgRoot, 'var', 'lib', 'filter-rules');
    return { status: r.status, stderr: r.stderr, calls: existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : [], state };
  }

  const fresh: StubWorld = { userExists: true, owner: '0:0', statOverride: false };

  test('configure with the opensmtpd user: the directory is made 0750 and handed to opensmtpd', () => {
    const r = runScript(POSTINST, 'configure', fresh);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(r.state).mode & 0o7777, 0o750);
    assert.deepEqual(r.calls, [`chown opensmtpd:opensmtpd ${r.state}`, `chmod 0750 ${r.state}`]);
    assert.equal(r.stderr, '');
  });

  test('configure without the opensmtpd user: the directory stays root\'s, no user is made, a note says what to do', () => {
    const r = runScript(POSTINST, 'configure', { ...fresh, userExists: false });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(r.state).mode & 0o7777, 0o750);
    assert.deepEqual(r.calls, []);
    assert.match(r.stderr, /no user opensmtpd, so \/var\/lib\/filter-rules stays root's: install opensmtpd/);
  });

  test('triggered (opensmtpd installed later) hands over a root-owned directory, and keeps one the admin gave away', () => {
    const rootOwned = runScript(POSTINST, 'triggered', fresh, (d) => mkdirSync(join(d, 'var', 'lib', 'filter-rules')));
    assert.equal(rootOwned.status, 0, rootOwned.stderr);
    assert.deepEqual(rootOwned.calls, [`chown opensmtpd:opensmtpd ${rootOwned.state}`, `chmod 0750 ${rootOwned.state}`]);
    const adminOwned = runScript(POSTINST, 'triggered', { ...fresh, owner: '1000:1000' });
    assert.equal(adminOwned.status, 0, adminOwned.stderr);
    assert.deepEqual(adminOwned.calls, []);
  });

  test('a dpkg-statoverride entry for the directory is the admin\'s word: never chowned', () => {
    const r = runScript(POSTINST, 'configure', { ...fresh, statOverride: true });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls, []);
  });

  test('postinst abort-* do nothing; an unknown argument fails', () => {
    const aborted = runScript(POSTINST, 'abort-upgrade', fresh);
    assert.equal(aborted.status, 0, aborted.stderr);
    assert.ok(!existsSync(aborted.state));
    assert.equal(runScript(POSTINST, 'bogus', fresh).status, 1);
  });

  test('postrm: remove keeps the state, purge deletes it with everything in it', () => {
    const withDb = (d: string): void => {
      mkdirSync(join(d, 'var', 'lib', 'filter-rules'));
      writeFileSync(join(d, 'var', 'lib', 'filter-rules', 'greylist.db'), '');
      writeFileSync(join(d, 'var', 'lib', 'filter-rules', 'greylist.db-wal'), '');
    };
    const removed = runScript(POSTRM, 'remove', fresh, withDb);
    assert.equal(removed.status, 0, removed.stderr);
    assert.ok(existsSync(join(removed.state, 'greylist.db')));
    const purged = runScript(POSTRM, 'purge', fresh, withDb);
    assert.equal(purged.status, 0, purged.stderr);
    assert.ok(!existsSync(purged.state));
    assert.ok(existsSync(join(purged.state, '..')), '/var/lib itself stays');
    assert.equal(runScript(POSTRM, 'bogus', fresh).status, 1);
  });
});

interface BundledPackage {
  readonly path: string;
  readonly name: string;
  readonly version: string;
  readonly license: string;
  readonly optional: boolean;
  readonly copyright?: string | null;
}

interface StageApp {
  productionPackages(lock: unknown): BundledPackage[];
  copyrightText(input: { license: string; bundled: readonly BundledPackage[] }): string;
  staleSources(root: string): string[];
  stageModules(root: string, appDir: string): BundledPackage[];
  UNUSED_FILE: RegExp;
}

describe('scripts/deb/stage-app.mjs', () => {
  let stage: StageApp;
  let dir = '';

  before(async () => {
    stage = (await import(pathToFileURL(join(root, 'scripts', 'deb', 'stage-app.mjs')).href)) as StageApp;
    dir = mkdtempSync(join(tmpdir(), 'fr-stage-app-'));
  });
  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const lock = {
    lockfileVersion: 3,
    packages: {
      '': { name: 'filter-rules', version: '0.1.0' },
      'node_modules/pino': { version: '10.4.0', license: 'MIT' },
      'node_modules/@chevrotain/gast': { version: '11.2.0', license: 'Apache-2.0' },
      'node_modules/typescript': { version: '5.9.3', license: 'Apache-2.0', dev: true },
      'node_modules/a/node_modules/b': { version: '1.0.0', license: 'ISC' },
      'node_modules/linked': { resolved: '../elsewhere', link: true },
      'node_modules/fsevents': { version: '2.3.3', license: 'MIT', optional: true },
    },
  };

  test('production packages: not the root, not dev, not links; names from their paths, nested and scoped ones too', () => {
    assert.deepEqual(
      stage.productionPackages(lock).map((p) => [p.path, p.name, p.version, p.license, p.optional]),
      [
        ['node_modules/@chevrotain/gast', '@chevrotain/gast', '11.2.0', 'Apache-2.0', false],
        ['node_modules/a/node_modules/b', 'b', '1.0.0', 'ISC', false],
        ['node_modules/fsevents', 'fsevents', '2.3.3', 'MIT', true],
        ['node_modules/pino', 'pino', '10.4.0', 'MIT', false],
      ],
    );
    assert.throws(() => stage.productionPackages({ lockfileVersion: 1, dependencies: {} }), /lockfileVersion 2 or 3/);
  });

  test('the copyright file: DEP-5, the project under ISC with its text, one paragraph per bundled package', () => {
    const text = stage.copyrightText({
      license: 'ISC',
      bundled: [{ path: 'node_modules/pino', name: 'pino', version: '10.4.0', license: 'MIT', optional: false, copyright: '2016-present Matteo Collina' }],
    });
    assert.match(text, /^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/\n/);
    assert.match(text, /\n\nFiles: \*\nCopyright: the filter-rules authors\nLicense: ISC\n/);
    assert.match(text, /\n\nFiles: usr\/lib\/filter-rules\/node_modules\/pino\/\*\nCopyright: 2016-present Matteo Collina\nLicense: MIT\nComment: pino 10\.4\.0; /);
    assert.match(text, /\n\nLicense: ISC\n Permission to use, copy, modify, and\/or distribute/);
    assert.throws(() => stage.copyrightText({ license: 'MIT', bundled: [] }), /knows the ISC text only/);
  });

  test('nothing loads source maps or TypeScript at run time; JavaScript, JSON and native modules stay', () => {
    for (const f of ['x.js.map', 'api.d.ts', 'index.d.mts', 'index.d.cts', 'src/api.ts']) assert.ok(stage.UNUSED_FILE.test(f), f);
    for (const f of ['index.js', 'index.mjs', 'index.cjs', 'package.json', 'better_sqlite3.node', 'LICENSE']) assert.ok(!stage.UNUSED_FILE.test(f), f);
  });

  test('a .ts newer than its .js, or without one, is a stale build', () => {
    const tree = join(dir, 'stale');
    mkdirSync(join(tree, 'src', 'cli'), { recursive: true });
    mkdirSync(join(tree, 'dist', 'src', 'cli'), { recursive: true });
    for (const f of ['cli/main', 'fresh', 'old']) writeFileSync(join(tree, 'src', `${f}.ts`), '');
    for (const f of ['cli/main', 'fresh', 'old']) writeFileSync(join(tree, 'dist', 'src', `${f}.js`), '');
    writeFileSync(join(tree, 'src', 'new.ts'), '');
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(tree, 'dist', 'src', 'old.js'), past, past);
    assert.deepEqual(stage.staleSources(tree), ['src/new.ts', 'src/old.ts']);
  });

  test('a node_modules that is not the lock\'s is refused, naming each difference', () => {
    const tree = join(dir, 'mismatch');
    mkdirSync(join(tree, 'node_modules', 'pino'), { recursive: true });
    writeFileSync(join(tree, 'package-lock.json'), JSON.stringify(lock));
    writeFileSync(join(tree, 'node_modules', 'pino', 'package.json'), JSON.stringify({ name: 'pino', version: '9.0.0' }));
    assert.throws(
      () => stage.stageModules(tree, join(dir, 'mismatch-app')),
      (e: unknown) =>
        e instanceof Error &&
        /run npm ci/.test(e.message) &&
        e.message.includes('node_modules/pino is 9.0.0, the lock says 10.4.0') &&
        e.message.includes('node_modules/@chevrotain/gast is missing') &&
        !e.message.includes('fsevents'),
    );
  });
});
