/**
 * The embedded greylisting store when its disk fills up, through the real
 * filter process (issue 6): the filter runs as `opensmtpd`, as smtpd runs it,
 * in its own mount namespace where the state directory is a 256 KiB tmpfs:
 *
 *   unshare -m sh -c 'mount -t tmpfs -o size=256k tmpfs STATE; chown opensmtpd STATE;
 *                     exec setpriv --reuid opensmtpd … node main.js RULES'
 *
 * The test reaches that tmpfs through /proc/PID/root and fills it. Every new
 * triplet then needs a write SQLite cannot do (SQLITE_FULL): the greylist step
 * must answer its on-error (451 4.3.0) at once, other rules keep working, the
 * filter stays up; when space comes back, greylisting works again without a
 * restart. Also checked: what the filter created is private (0750 directory,
 * 0600 database, -wal and -shm), although it was started with umask 000.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FILTER_MAIN, filterRuntime, FILTER_USER } from '../../e2e/harness/env.js';
import { CliFilter, TEMPFAIL, waitFor } from './live.js';

const GREYLISTED = /^reject\|451 4\.7\.1 Greylisted, please try again in \d+ seconds?$/;

function unavailable(): string | null {
  if (process.platform !== 'linux') return 'needs Linux mount namespaces';
  if (process.getuid?.() !== 0) return 'must run as root (mount namespace, tmpfs)';
  for (const cmd of ['unshare', 'mount', 'setpriv']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) return `missing ${cmd}`;
  }
  if (spawnSync('id', ['-u', FILTER_USER], { stdio: 'ignore' }).status !== 0) return `no user ${FILTER_USER}`;
  return null;
}

const skip = unavailable();

/** Fill the file system under `dir` completely; returns the filler's path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const big = Buffer.alloc(16 * 1024);
  const small = Buffer.alloc(512);
  try {
    for (const chunk of [big, small, Buffer.alloc(1)]) {
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

describe('SQLite greylist store: disk full, through the filter', { skip: skip ?? false }, () => {
  let dir: string;
  let filter: CliFilter;
  let state: string;
  let db: string;
  let n = 0;
  /** A triplet never seen: the store must write to answer. */
  const fresh = (): { rcpt: string; from: string } => {
    n++;
    return { rcpt: `user${n}@example.org`, from: `sender${n}@example.net` };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-diskfull-'));
    chmodSync(dir, 0o755);
    const mountPoint = join(dir, 'state');
    spawnSync('mkdir', ['-m', '0755', mountPoint]);
    const rules = join(dir, 'greylist.rules');
    writeFileSync(
      rules,
      `chain main =
    reject "550 5.7.1 refused by the rules" when rcpt-to ~ /^deny@/
    then greylist delay 1s store "sqlite:${mountPoint}/db/greylist.db"
`,
      { mode: 0o644 },
    );
    const rt = filterRuntime();
    const script = 'mount -t tmpfs -o size=256k,mode=0755 tmpfs "$1" && chown "$2" "$1" && shift 2 && umask 000 && exec setpriv --reuid "$U" --regid "$U" --clear-groups "$@"';
    filter = await CliFilter.start(
      ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh', mountPoint, FILTER_USER, rt.node, rt.resolve(FILTER_MAIN), rules],
      { ...process.env, U: FILTER_USER, NODE_TEST_CONTEXT: '' },
    );
    // The namespace's view of the state directory (the tmpfs), from outside.
    state = `/proc/${filter.pid}/root${mountPoint}`;
    db = join(state, 'db');
    await waitFor(() => {
      try {
        return statSync(join(db, 'greylist.db')).isFile();
      } catch {
        return false;
      }
    }, 10_000, 'the filter to create its database');
  });
  after(async () => {
    filter?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the filter runs as opensmtpd; what it created is private (directory 0750, database 0600) even with umask 000', () => {
    const uid = Number(spawnSync('id', ['-u', FILTER_USER], { encoding: 'utf8' }).stdout.trim());
    const status = spawnSync('cat', [`/proc/${filter.pid}/status`], { encoding: 'utf8' }).stdout;
    assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'), 'the filter runs as opensmtpd, not root');
    const d = statSync(db);
    assert.equal(d.mode & 0o777, 0o750, `state directory mode ${(d.mode & 0o777).toString(8)}`);
    assert.equal(d.uid, uid);
    for (const name of ['greylist.db', 'greylist.db-wal', 'greylist.db-shm']) {
      // -wal and -shm exist while the database is open in WAL mode (it is).
      const st = statSync(join(db, name));
      assert.equal(st.mode & 0o777, 0o600, `${name} has mode ${(st.mode & 0o777).toString(8)}`);
      assert.equal(st.uid, uid, `${name} owner`);
    }
  });

  test('with space: a new triplet is greylisted (the store writes)', async () => {
    const t = fresh();
    assert.match((await filter.rcpt(t.rcpt, { from: t.from })).decision, GREYLISTED);
  });

  test('disk full: new triplets get 451 4.3.0 (on-error tempfail) at once; other rules and sessions go on; the filter stays up', async () => {
    const filler = fill(state);
    try {
      for (let i = 0; i < 5; i++) {
        const t = fresh();
        const a = await filter.rcpt(t.rcpt, { from: t.from });
        assert.equal(a.decision, TEMPFAIL, `triplet ${i}`);
        assert.ok(a.ms < 1000, `answered after ${a.ms.toFixed(0)} ms`);
        assert.equal((await filter.rcpt('deny@example.org')).decision, 'reject|550 5.7.1 refused by the rules');
      }
      assert.ok(filter.running);
      const failures = filter.logs().filter((l) => l.msg === 'step failed');
      assert.ok(failures.length >= 5, 'each failure is logged');
      assert.ok(failures.some((l) => /full|SQLITE_FULL|disk/i.test(JSON.stringify(l))), JSON.stringify(failures[0]));
    } finally {
      unlinkSync(filler);
    }
  });

  test('space back: greylisting works again, without a restart', async () => {
    const t = fresh();
    await waitFor(async () => GREYLISTED.test((await filter.rcpt(t.rcpt, { from: t.from })).decision), 10_000, 'the store to write again');
    const u = fresh();
    assert.match((await filter.rcpt(u.rcpt, { from: u.from })).decision, GREYLISTED);
  });

  test('no invalid line, no 5xx of its own; exits 0 at EOF', async () => {
    assert.deepEqual(filter.invalidLines(), []);
    assert.deepEqual(filter.written.filter((l) => /\|reject\|5/.test(l) && !/refused by the rules/.test(l)), []);
    assert.deepEqual(filter.logs().filter((l) => /internal error|uncaught|unhandled/.test(String(l.msg))), []);
    const exit = await filter.end();
    assert.deepEqual(exit, { code: 0, signal: null }, filter.stderrText().slice(-2000));
  });
});
