/**
 * Security checks of issue 6:
 *  - rules and list files others can write are warned about, at start (log)
 *    and by `check` (src/support/file-safety.ts, wired in src/cli/app.ts);
 *  - no code runs from rules: the sources contain no eval, no Function
 *    constructor, no child processes, no vm, no dynamic import or require, and
 *    SQL is only ever prepared from constants;
 *  - paths in rules are used as given: no shell, no `~` or `$VAR` expansion.
 * (What the filter creates, its SQLite files, is checked for 0600 in
 * test/integration/faults/sqlite-disk-full.test.ts, where it runs as
 * opensmtpd; running without root is shown there and in the soak test.)
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { compileRulesSource } from '../../../src/dsl/index.js';
import { checkFileSafety, type FileInfo, type FileSafetyDeps } from '../../../src/support/file-safety.js';
import { ROOT } from '../rules/corpus.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;

/** A file system of (path → stat) for the checker. */
function fakeFs(entries: Record<string, FileInfo>, primary: Record<number, number> = { 0: 0, 1000: 1000 }): FileSafetyDeps {
  return {
    stat: (p) => {
      const e = entries[p];
      if (e === undefined) throw Object.assign(new Error(`ENOENT ${p}`), { code: 'ENOENT' });
      return e;
    },
    primaryGid: (uid) => primary[uid] ?? null,
    userName: (uid) => ({ 0: 'root', 1000: 'alice' })[uid] ?? null,
    groupName: (gid) => ({ 0: 'root', 50: 'staff', 1000: 'alice' })[gid] ?? null,
  };
}

const DIR = 0o040000;
const FILE = 0o100000;
const base: Record<string, FileInfo> = {
  '/': { mode: DIR | 0o755, uid: 0, gid: 0 },
  '/etc': { mode: DIR | 0o755, uid: 0, gid: 0 },
  '/etc/mail': { mode: DIR | 0o755, uid: 0, gid: 0 },
};

describe('file safety: who else could change the rules', () => {
  test('root:root 0644, 0664 and 0640, and alice:alice 0664 (her own group) are fine', () => {
    for (const [mode, uid, gid] of [
      [0o644, 0, 0],
      [0o664, 0, 0],
      [0o640, 0, 0],
      [0o664, 1000, 1000],
      [0o600, 1000, 50],
    ] as const) {
      const fs = fakeFs({ ...base, '/etc/mail/a.rules': { mode: FILE | mode, uid, gid } });
      assert.deepEqual(checkFileSafety(['/etc/mail/a.rules'], fs), [], `${mode.toString(8)} ${uid}:${gid}`);
    }
  });

  test('writable by every user: warned, with the mode and the fix', () => {
    const fs = fakeFs({ ...base, '/etc/mail/a.rules': { mode: FILE | 0o666, uid: 0, gid: 0 } });
    const [w, ...rest] = checkFileSafety(['/etc/mail/a.rules'], fs);
    assert.deepEqual(rest, []);
    assert.equal(w?.problem, 'world-writable');
    assert.equal(w?.mode, '0666');
    assert.match(w?.message ?? '', /writable by every user.*mode 0666.*chmod o-w \/etc\/mail\/a\.rules/);
  });

  test('writable by a group that is neither root’s nor the owner’s: warned with the group name', () => {
    const fs = fakeFs({ ...base, '/etc/mail/a.rules': { mode: FILE | 0o664, uid: 0, gid: 50 }, '/etc/mail/b.list': { mode: FILE | 0o660, uid: 1000, gid: 50 } });
    const ws = checkFileSafety(['/etc/mail/a.rules', '/etc/mail/b.list'], fs);
    assert.deepEqual(ws.map((w) => [w.path, w.problem]), [['/etc/mail/a.rules', 'group-writable'], ['/etc/mail/b.list', 'group-writable']]);
    assert.match(ws[0]?.message ?? '', /group "staff" \(mode 0664\), which is neither root's group nor its owner root's/);
    assert.match(ws[1]?.message ?? '', /owner alice's/);
  });

  test('a directory on the way that everyone can write (no sticky bit) is warned once; /tmp-like sticky ones are not', () => {
    const fs = fakeFs({
      ...base,
      '/etc/mail': { mode: DIR | 0o777, uid: 0, gid: 0 },
      '/etc/mail/a.rules': { mode: FILE | 0o644, uid: 0, gid: 0 },
      '/etc/mail/b.list': { mode: FILE | 0o644, uid: 0, gid: 0 },
      '/tmp': { mode: DIR | 0o1777, uid: 0, gid: 0 },
      '/tmp/c.list': { mode: FILE | 0o644, uid: 0, gid: 0 },
    });
    const ws = checkFileSafety(['/etc/mail/a.rules', '/etc/mail/b.list', '/tmp/c.list'], fs);
    assert.deepEqual(ws.map((w) => [w.path, w.problem, w.file]), [['/etc/mail', 'directory-world-writable', '/etc/mail/a.rules']]);
  });

  test('missing or unreadable files are left to the compiler', () => {
    assert.deepEqual(checkFileSafety(['/nonexistent/a.rules'], fakeFs(base)), []);
  });

  describe('through the CLI (real files, real modes)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'filter-rules-perms-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const rules = join(dir, 'open.rules');
    const list = join(dir, 'senders.list');
    writeFileSync(list, 'spam.example\n');
    writeFileSync(rules, 'list s = file "senders.list"\nchain main = reject "550 5.7.1 no" when mail-from in s\n');
    chmodSync(rules, 0o666);
    chmodSync(list, 0o646);

    test('check prints a warning per file, and still says valid (exit 0)', () => {
      const r = spawnSync(process.execPath, [MAIN, 'check', rules], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^${rules}: warning: writable by every user on this host \\(mode 0666\\)`, 'm'));
      assert.match(r.stdout, new RegExp(`^${list}: warning: writable by every user on this host \\(mode 0646\\)`, 'm'));
      assert.match(r.stdout, /: valid/);
    });

    test('run mode logs the same at start, and runs', () => {
      const r = spawnSync(process.execPath, [MAIN, rules], { encoding: 'utf8', input: 'config|subsystem|smtp-in\nconfig|ready\n' });
      assert.equal(r.status, 0, r.stderr);
      const warnings = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number | string; msg: string; problem?: string })
        .filter((l) => l.problem === 'world-writable');
      assert.equal(warnings.length, 2);
      assert.ok(r.stdout.includes('register|ready'));
    });

    test('with safe modes nothing is said', () => {
      chmodSync(rules, 0o644);
      chmodSync(list, 0o644);
      const r = spawnSync(process.execPath, [MAIN, 'check', rules], { encoding: 'utf8' });
      assert.equal(r.status, 0);
      assert.doesNotMatch(r.stdout, /warning/);
    });
  });
});

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The code without comments and string contents (so a comment saying "eval" does not count). */
function codeOnly(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:\\])\/\/.*$/gm, '$1')
    .replace(/'(?:[^'\\\n]|\\.)*'/g, "''")
    .replace(/"(?:[^"\\\n]|\\.)*"/g, '""');
}

describe('no code execution from rules', () => {
  const SRC = join(ROOT, 'src');
  const files = sources(SRC);

  test('the sources were found', () => {
    assert.ok(files.length > 50, `${files.length} files under src/`);
  });

  const forbidden: [RegExp, string][] = [
    [/\beval\s*\(/, 'eval'],
    [/\bnew\s+Function\b|[^.\w]Function\s*\(/, 'the Function constructor'],
    [/from\s+'(node:)?child_process'/, 'child processes'],
    [/from\s+'(node:)?vm'/, 'the vm module'],
    [/from\s+'(node:)?worker_threads'/, 'worker threads'],
    [/\bimport\s*\(/, 'dynamic import'],
    [/\brequire\s*\(/, 'require'],
    [/process\.binding|process\.dlopen/, 'native bindings'],
  ];
  /** Uses that are not code execution, with why. */
  const allowed: { file: string; match: RegExp; why: string }[] = [
    // Runs a constant Lua script inside Redis (atomic greylist update); keys and values are passed as data.
    { file: 'src/store/redis.ts', match: /this\.redis\.eval\(GREYLIST_LUA,/, why: 'constant Lua script on the Redis server' },
    // The same for the counters (rate, admit, release): SCRIPTS is a frozen table of constant scripts, picked by a name typed to its keys.
    { file: 'src/store/counter-redis.ts', match: /this\.redis\.eval\(SCRIPTS\[name\],/, why: 'constant Lua scripts on the Redis server' },
    // chevrotain's own single-file bundle, at a constant path inside the chevrotain package (its exports map hides it).
    { file: 'src/dsl/chevrotain.ts', match: /^const chevrotain = \(await import\(new URL\('', entry\)\.href\)\) as typeof Chevrotain;$/, why: "chevrotain's bundled build" },
    // The entry catches signals before the program loads, so it can import the program only dynamically (path checked below).
    { file: 'src/cli/main.ts', match: /^ {2}const app = await import\(''\);$/, why: 'the entry loading the program after its signal handlers' },
  ];

  test('no eval, Function, child_process, vm, workers, dynamic import or require anywhere in src/', () => {
    const found: string[] = [];
    for (const f of files) {
      const rel = relative(ROOT, f);
      const lines = codeOnly(readFileSync(f, 'utf8')).split('\n');
      lines.forEach((line, i) => {
        for (const [re, what] of forbidden) {
          if (!re.test(line)) continue;
          if (allowed.some((a) => a.file === rel && a.match.test(line))) continue;
          found.push(`${rel}:${i + 1}: ${what}: ${line.trim()}`);
        }
      });
    }
    assert.deepEqual(found, []);
  });

  test("the entry's one dynamic import is of a constant path: our own app.js", () => {
    const text = readFileSync(join(SRC, 'cli', 'main.ts'), 'utf8');
    assert.equal(codeOnly(text).match(/\bimport\s*\(/g)?.length, 1);
    assert.match(text, /^ {2}const app = await import\('\.\/app\.js'\);$/m);
  });

  test('SQL is prepared from constants only (values are bound, never spliced in)', () => {
    const found: string[] = [];
    let statements = 0;
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      statements += [...text.matchAll(/(\.prepare|\bdb\.exec)(<[^>]*>)?\(/g)].length;
      // better-sqlite3's prepare() and db.exec() (RegExp#exec is something else).
      for (const m of text.matchAll(/(\.prepare|\bdb\.exec)(<[^>]*>)?\(\s*([`'"])([\s\S]*?)\3/g)) {
        if (m[3] === '`' && (m[4] ?? '').includes('${')) found.push(`${relative(ROOT, f)}: ${m[0].slice(0, 80)}`);
      }
      for (const m of text.matchAll(/(\.prepare|\bdb\.exec)(<[^>]*>)?\(\s*([A-Za-z_][\w.]*)\s*\)/g)) {
        if (!/^[A-Z_]+$/.test(m[3] ?? '')) found.push(`${relative(ROOT, f)}: ${m[0]} (not a constant)`);
      }
    }
    assert.ok(statements >= 10, `only ${statements} SQL statements found: the scan is broken`);
    assert.deepEqual(found, []);
  });
});

describe('paths in rules are used as given', () => {
  const dir = mkdtempSync(join(tmpdir(), 'filter-rules-paths-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const marker = join(dir, 'pwned');

  test('list file names with shell syntax, ~ and $VAR are file names, not commands or expansions', () => {
    mkdirSync(join(dir, '~'));
    writeFileSync(join(dir, '~', 'x.list'), 'a.example\n');
    const names = [`$(touch ${marker})`, `\`touch ${marker}\``, '$HOME/x.list', '~/x.list', `x.list; touch ${marker}`];
    const seen: string[] = [];
    const src = names.map((n, i) => `list l${i} = file ${JSON.stringify(n)}`).join('\n') + `\nchain main = ${names.map((_, i) => `reject "550 5.7.1 x" when helo in l${i}`).join(' then ')}\n`;
    const r = compileRulesSource(src, join(dir, 'a.rules'), {
      readFile: (p) => {
        seen.push(p);
        return readFileSync(p, 'utf8');
      },
    });
    assert.deepEqual(seen, names.map((n) => join(dir, n)), 'each path is read literally, relative to the rules file');
    assert.equal(existsSync(marker), false, 'nothing was run');
    // Only `~/x.list` exists (a directory really named "~"); the others are missing files, said so at their place.
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.diagnostics.filter((d) => d.code === 'E013').length, names.length - 1);
  });

  test('a policy socket or store path with shell syntax is a path too', () => {
    const r = compileRulesSource(
      `chain main = policy unix:${dir}/$HOME;touch;\`id\`&x|y.sock then greylist store "sqlite:${dir}/$(touch ${marker}).db"\n`,
      join(dir, 'b.rules'),
    );
    assert.ok(r.ok, r.ok ? '' : r.diagnostics.map((d) => d.message).join('; '));
    const steps = r.rules.chains.get('main')?.steps ?? [];
    const policy = steps[0]?.action;
    const greylist = steps[1]?.action;
    assert.ok(policy?.kind === 'policy' && policy.options.address.kind === 'unix');
    assert.equal(policy.options.address.kind === 'unix' ? policy.options.address.path : '', `${dir}/$HOME;touch;\`id\`&x|y.sock`);
    assert.ok(greylist?.kind === 'greylist');
    assert.equal(greylist.kind === 'greylist' ? greylist.options.store : '', `sqlite:${dir}/$(touch ${marker}).db`);
    assert.equal(existsSync(marker), false);
  });
});
