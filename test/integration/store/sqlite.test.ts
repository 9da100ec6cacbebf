/**
 * The SQLite store on real files: the shared store contract, persistence
 * across close/reopen, file modes, purge in batches, and clear errors for
 * paths that cannot be opened.
 */
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../../../src/store/open.js';
import { openSqliteStore, SqliteGreylistStore } from '../../../src/store/sqlite.js';
import { allTriplets, defineStoreContract, POLICY, T0, triplet } from '../../unit/store/store-contract.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const root = mkdtempSync(join(tmpdir(), 'fr-sqlite-'));
let files = 0;
const freshPath = (): string => join(root, `g${++files}`, 'greylist.db');

function open(path: string): SqliteGreylistStore {
  const r = openSqliteStore(path);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

after(() => rmSync(root, { recursive: true, force: true }));

describe('SqliteGreylistStore (real files)', () => {
  describe('store contract', () => {
    defineStoreContract({ open: async () => open(freshPath()) });
  });

  test('entries survive close and reopen (a filter restart)', async () => {
    const path = freshPath();
    const t = triplet('192.0.2.10', 'alice@example.org', 'bob@example.net');
    const first = open(path);
    await first.check(t, POLICY, T0);
    await first.close();
    const second = open(path);
    try {
      assert.deepEqual(await second.check(t, POLICY, T0 + 5 * MIN), {
        action: 'pass',
        reason: 'delayed',
        delayedMs: 5 * MIN,
        clientCount: 1,
      });
    } finally {
      await second.close();
    }
  });

  test('openStore("sqlite:…") creates the directory 0750 and the database 0600, in WAL mode', async () => {
    const dir = join(root, 'state', 'filter-rules');
    const path = join(dir, 'greylist.db');
    const r = openStore(`sqlite:${path}`);
    assert.ok(r.ok, r.ok ? '' : r.error);
    try {
      assert.equal(statSync(dir).mode & 0o777, 0o750);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      await r.value.check(triplet('192.0.2.1', 'a@b.example', 'c@d.example'), POLICY, T0);
      assert.ok(existsSync(`${path}-wal`), 'WAL file exists');
      assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600, 'WAL file has the database mode');
      const peek = new Database(path, { readonly: true });
      try {
        assert.equal(peek.pragma('journal_mode', { simple: true }), 'wal');
      } finally {
        peek.close();
      }
    } finally {
      await r.value.close();
    }
  });

  test('an existing file keeps the mode its admin gave it', async () => {
    const path = freshPath();
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, '');
    chmodSync(path, 0o640);
    const s = open(path);
    await s.close();
    assert.equal(statSync(path).mode & 0o777, 0o640);
  });

  test('unopenable paths are one clear error naming the path and the errno', () => {
    const plainFile = join(root, 'not-a-dir');
    writeFileSync(plainFile, 'x');
    const underFile = openStore(`sqlite:${plainFile}/sub/greylist.db`);
    assert.ok(!underFile.ok);
    assert.match(underFile.error, new RegExp(`^greylist store sqlite:${plainFile}/sub/greylist\\.db: cannot create directory ${plainFile}/sub: (ENOTDIR|EEXIST)`));

    const dirAsFile = join(root, 'a-directory');
    mkdirSync(dirAsFile);
    const isDir = openStore(`sqlite:${dirAsFile}`);
    assert.ok(!isDir.ok);
    assert.match(isDir.error, new RegExp(`cannot open ${dirAsFile}: EISDIR`));

    const garbage = join(root, 'garbage.db');
    writeFileSync(garbage, 'this is not an SQLite database, just text long enough to have a header'.repeat(20));
    const notDb = openStore(`sqlite:${garbage}`);
    assert.ok(!notDb.ok);
    assert.match(notDb.error, new RegExp(`cannot open database ${garbage}: SQLITE_NOTADB`));

    const relative = openStore('sqlite:greylist.db');
    assert.ok(!relative.ok);
    assert.match(relative.error, /must be absolute/);
  });

  test('permission denied is reported with EACCES (checked as an unprivileged user, like the filter)', (t) => {
    // The filter runs as `opensmtpd`; root would ignore the mode, so as root
    // the open is tried from a child process running as nobody.
    const locked = mkdtempSync(join(tmpdir(), 'fr-locked-'));
    try {
      chmodSync(locked, 0o755); // readable and searchable by everyone, writable by root only
      const url = `sqlite:${locked}/greylist.db`;
      let error: string;
      if (process.getuid?.() === 0) {
        const moduleUrl = new URL('../../../src/store/open.js', import.meta.url);
        const canRead = spawnSync(
          process.execPath,
          ['-e', `require('fs').accessSync(${JSON.stringify(moduleUrl.pathname)}, require('fs').constants.R_OK)`],
          { uid: 65534, gid: 65534 },
        );
        if (canRead.status !== 0) {
          t.skip('the build is not readable by nobody here');
          return;
        }
        const script = `import(${JSON.stringify(moduleUrl.href)}).then((m) => {
          const r = m.openStore(${JSON.stringify(url)});
          process.stdout.write(r.ok ? 'OPENED' : r.error);
        })`;
        const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
        assert.equal(child.status, 0, child.stderr);
        error = child.stdout;
      } else {
        chmodSync(locked, 0o555);
        const r = openStore(url);
        assert.ok(!r.ok);
        error = r.error;
      }
      assert.equal(
        error,
        `greylist store ${url}: cannot open ${locked}/greylist.db: EACCES: permission denied, open '${locked}/greylist.db'`,
      );
    } finally {
      rmSync(locked, { recursive: true, force: true });
    }
  });

  test('a database from a newer schema is refused instead of being misread', () => {
    const path = freshPath();
    mkdirSync(join(path, '..'), { recursive: true });
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    const r = openSqliteStore(path);
    assert.ok(!r.ok);
    assert.match(r.error, /schema version 99/);
  });

  test('purgeExpired deletes in bounded batches, oldest first, and leaves live entries', async () => {
    const s = open(freshPath());
    try {
      for (let i = 0; i < 120; i++) await s.check(triplet(`10.0.${i}.1`, 'a@example.org', `r${i}@example.net`), POLICY, T0);
      const live = triplet('10.9.9.9', 'a@example.org', 'live@example.net');
      await s.check(live, POLICY, T0 + 3 * DAY);
      const now = T0 + 3 * DAY;
      assert.equal(await s.purgeExpired(now, 50), 50);
      assert.equal(await s.purgeExpired(now, 50), 50);
      assert.equal(await s.purgeExpired(now, 50), 20);
      assert.equal(await s.purgeExpired(now, 50), 0);
      assert.deepEqual((await allTriplets(s)).map((e) => e.key), [live.key]);
    } finally {
      await s.close();
    }
  });

  test('a flood of new triplets stays fast (one small transaction each)', async () => {
    const s = open(freshPath());
    try {
      const started = performance.now();
      for (let i = 0; i < 5000; i++) {
        await s.check(triplet(`10.${i >> 8}.${i & 255}.1`, `s${i}@example.org`, 'r@example.net'), POLICY, T0 + i);
      }
      const perCheck = (performance.now() - started) / 5000;
      // Generous bound for slow CI machines; measured ~0.02 ms here.
      assert.ok(perCheck < 1, `${perCheck.toFixed(3)} ms per check`);
    } finally {
      await s.close();
    }
  });
});
