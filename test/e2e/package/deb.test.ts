/**
 * The Debian package, the way an admin uses it: scripts/build-deb.sh builds it from
 * this checkout, `dpkg -i` installs it on this machine, the admin copies the shipped
 * default rules to /etc/mail (turning on the built-in greylisting, whose state goes
 * to /var/lib/filter-rules), real smtpd runs it with the short line
 *
 *   filter "rules" proc-exec "filter-rules /etc/mail/….rules"
 *
 * (smtpd looks a command without a `/` up in its libexec directory, /usr/libexec/opensmtpd
 * for Debian's: the package's link), a rule refuses a client, greylisting defers and then
 * delivers; then `dpkg -r` keeps the state, and `dpkg --purge` removes the package and its
 * state but keeps the admin's rules file. With another smtpd (E2E_SMTPD=7.8, whose libexec
 * directory is its own) smtpd.conf names /usr/bin/filter-rules instead.
 *
 * The machine is left as it was found: dpkg.ts refuses to run over an existing install or
 * state, and the after hook purges even when a test failed. Only this test calls dpkg.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { DialogResult } from '../harness/dialog.js';
import { chosenSmtpd, e2eSkipReason, FILTER_USER, MAIL_USER, PROJECT_ROOT, underCi } from '../harness/env.js';
import { delivered, rcptReply, retryUntilDelivered } from '../harness/greylist.js';
import { buildMessage, exchangeFor, mailSteps, marker, transcript } from '../harness/mail.js';
import { Smtpd } from '../harness/smtpd.js';
import { buildPackage, holdPackageTestLock, PACKAGE, PACKAGE_PATHS, packageField, packageSkipReason, packageStatus, purge, removeLeftovers, run, show, writeMarker, type Leftovers } from './dpkg.js';

function skipReason(): string | null {
  const e2e = e2eSkipReason();
  if (e2e !== null) return e2e;
  const reason = packageSkipReason();
  if (reason !== null && underCi()) throw new Error(`Debian package test cannot run under CI: ${reason}`);
  return reason;
}
// Held from before the checks (which purge a killed run's leftovers) to the end of the clean-up.
const lock = e2eSkipReason() === null ? await holdPackageTestLock() : null;
const skip = skipReason();
if (skip !== null) lock?.release();

const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
const NET = '198.51.100';
/** Where an admin puts rules; a name of its own, so no admin's file is ever touched. */
const RULES_DIR = '/etc/mail';
const GREYLIST_DELAY_S = 1;
const SHIPPED_DEFAULT = join(PACKAGE_PATHS.doc, 'examples', 'default.rules');

/** The shipped default rules as an admin would edit them: each `from` must occur exactly once. */
function adminRules(text: string): string {
  const edits: ReadonlyArray<readonly [string, string]> = [
    ['then pause 3s', 'then pause 100ms'],
    ['# then greylist delay 5m store', `then greylist delay ${GREYLIST_DELAY_S}s store`],
  ];
  for (const [from, to] of edits) {
    assert.equal(text.split(from).length - 1, 1, `${SHIPPED_DEFAULT}: expected ${JSON.stringify(from)} exactly once`);
    text = text.replace(from, to);
  }
  return text;
}

function idOf(user: string, flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());
}

/** The package's Depends as package names. */
function dependencyNames(depends: string): string[] {
  return depends.split(',').map((d) => d.trim().split(/[\s(]/)[0] ?? '');
}

describe('the Debian package: build, dpkg -i, smtpd with the short proc-exec line, dpkg --purge', { skip: skip ?? false, timeout: 10 * 60_000 }, () => {
  let work = '';
  let deb = '';
  let leftovers: Leftovers | null = null;
  let smtpd: Smtpd | undefined;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'filter-rules-deb-'));
    deb = buildPackage(work);
    const rulesFile = join(RULES_DIR, `filter-rules-e2e-${marker('deb')}.rules`);
    leftovers = { rulesFile, createdDir: existsSync(RULES_DIR) ? null : RULES_DIR };
    writeMarker(leftovers);
    const installed = run('dpkg', ['-i', deb]);
    assert.equal(installed.status, 0, show('dpkg -i', installed));
    // The admin's part: rules from the shipped default, in /etc/mail.
    mkdirSync(RULES_DIR, { recursive: true, mode: 0o755 });
    writeFileSync(rulesFile, adminRules(readFileSync(SHIPPED_DEFAULT, 'utf8')), { mode: 0o644 });
  });
  after(async () => {
    await smtpd?.stop();
    try {
      purge();
    } finally {
      removeLeftovers(leftovers);
      if (work !== '') rmSync(work, { recursive: true, force: true });
      lock?.release();
    }
  });
  afterEach(() => {
    if (smtpd !== undefined && !smtpd.stopped) smtpd.assertHealthy();
  });

  test('the package is named after its version and this machine, and depends on nodejs and the native module\'s libraries only', () => {
    const arch = run('dpkg', ['--print-architecture']).stdout.trim();
    assert.equal(deb.split('/').pop(), `${PACKAGE}_${pkg.version}-1_${arch}.deb`);
    assert.equal(packageStatus(PACKAGE), 'install ok installed');
    const depends = packageField(PACKAGE, 'Depends');
    const major = Number(process.versions.node.split('.')[0]);
    const min = major === 20 ? '20.19' : String(major);
    assert.ok(depends.startsWith(`nodejs (>= ${min}), nodejs (<< ${major + 1}), `), depends);
    const names = dependencyNames(depends);
    assert.ok(names.includes('libc6'), depends);
    for (const name of names) assert.ok(['nodejs', 'libc6', 'libstdc++6', 'libgcc-s1'].includes(name), `unexpected dependency ${name}: ${depends}`);
    assert.equal(packageField(PACKAGE, 'Conffiles'), '', 'the package ships no conffile');
  });

  test('dpkg -i installed the program, the command, the libexec link, the man pages, the docs and examples', () => {
    assert.ok(existsSync(join(PACKAGE_PATHS.app, 'dist', 'src', 'cli', 'main.js')));
    assert.ok(existsSync(join(PACKAGE_PATHS.app, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')));
    assert.equal(statSync(PACKAGE_PATHS.bin).mode & 0o777, 0o755);
    assert.ok(lstatSync(PACKAGE_PATHS.libexecLink).isSymbolicLink(), `${PACKAGE_PATHS.libexecLink} is a link`);
    assert.equal(realpathSync(PACKAGE_PATHS.libexecLink), PACKAGE_PATHS.bin);
    assert.equal(gunzipSync(readFileSync(PACKAGE_PATHS.man8)).toString('utf8'), readFileSync(join(PROJECT_ROOT, 'man', 'filter-rules.8'), 'utf8'));
    assert.equal(gunzipSync(readFileSync(PACKAGE_PATHS.man5)).toString('utf8'), readFileSync(join(PROJECT_ROOT, 'man', 'filter-rules.rules.5'), 'utf8'));
    assert.match(readFileSync(join(PACKAGE_PATHS.doc, 'copyright'), 'utf8'), /^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/\n/);
    assert.match(gunzipSync(readFileSync(join(PACKAGE_PATHS.doc, 'changelog.Debian.gz'))).toString('utf8'), new RegExp(`^filter-rules \\(${pkg.version.replace(/\./g, '\\.')}-1\\) `));
    assert.equal(readFileSync(SHIPPED_DEFAULT, 'utf8'), readFileSync(join(PROJECT_ROOT, 'rules', 'default.rules'), 'utf8'));
    assert.ok(existsSync(join(PACKAGE_PATHS.doc, 'examples', 'builtin-greylist-sqlite', 'greylist.rules')));

    const files = run('dpkg', ['-L', PACKAGE]).stdout.trim().split('\n');
    for (const f of files) {
      assert.doesNotMatch(f, /^\/(etc|var)\//, `${f}: the package ships nothing under /etc or /var`);
      assert.doesNotMatch(f, /\/dist\/test\/|\.ts$|\.map$|better-sqlite3\/(deps|src)\b|\/\.bin\//, `${f} should not be in the package`);
    }
  });

  test('postinst made /var/lib/filter-rules: opensmtpd:opensmtpd, mode 0750', () => {
    const st = statSync(PACKAGE_PATHS.state);
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o7777, 0o750);
    assert.deepEqual([st.uid, st.gid], [idOf(FILTER_USER, '-u'), idOf(FILTER_USER, '-g')]);
  });

  test('filter-rules runs from any directory with the system node, whatever PATH says', () => {
    for (const env of [{ PATH: '/usr/bin:/bin' }, { PATH: '/nonexistent' }]) {
      const r = run(PACKAGE_PATHS.bin, ['--version'], 30_000, env);
      assert.equal(r.status, 0, show(`filter-rules --version with PATH=${env.PATH}`, r));
      assert.equal(r.stdout, `filter-rules ${pkg.version}\n`);
    }
  });

  test(`smtpd runs it from smtpd.conf (${libexecIsDebians() ? 'the short line: filter-rules RULES' : '/usr/bin/filter-rules RULES'}); a rule rejects, greylisting defers, then delivers`, () =>
    runSmtpdScenario());

  test('without the opensmtpd user the directory would stay root\'s: installing opensmtpd (its trigger) hands it over; an owner the admin chose is kept', () => {
    // dpkg-trigger stands in for the opensmtpd package being unpacked, which activates the
    // file trigger on /usr/sbin/smtpd (packaging/deb/triggers).
    const triggerOpensmtpd = (): void => {
      const a = run('dpkg-trigger', ['--no-await', '/usr/sbin/smtpd']);
      assert.equal(a.status, 0, show('dpkg-trigger', a));
      const t = run('dpkg', ['--triggers-only', PACKAGE]);
      assert.equal(t.status, 0, show('dpkg --triggers-only', t));
    };
    const owner = (): [number, number] => {
      const st = statSync(PACKAGE_PATHS.state);
      return [st.uid, st.gid];
    };
    execFileSync('chown', ['root:root', PACKAGE_PATHS.state]);
    triggerOpensmtpd();
    assert.deepEqual(owner(), [idOf(FILTER_USER, '-u'), idOf(FILTER_USER, '-g')]);
    assert.equal(statSync(PACKAGE_PATHS.state).mode & 0o7777, 0o750);

    execFileSync('chown', [`${MAIL_USER}:${MAIL_USER}`, PACKAGE_PATHS.state]);
    triggerOpensmtpd();
    assert.deepEqual(owner(), [idOf(MAIL_USER, '-u'), idOf(MAIL_USER, '-g')]);
    execFileSync('chown', [`${FILTER_USER}:${FILTER_USER}`, PACKAGE_PATHS.state]);
  });

  test('dpkg -r removes the program and keeps the state; dpkg --purge removes the state and keeps what the admin made', async () => {
    await smtpd?.stop();
    const db = join(PACKAGE_PATHS.state, 'greylist.db');
    assert.ok(existsSync(db), `${db}: made by the smtpd test`);
    const rulesFile = leftovers?.rulesFile ?? '';

    const removed = run('dpkg', ['-r', PACKAGE]);
    assert.equal(removed.status, 0, show('dpkg -r', removed));
    assert.equal(packageStatus(PACKAGE), 'deinstall ok config-files');
    for (const p of [PACKAGE_PATHS.app, PACKAGE_PATHS.bin, PACKAGE_PATHS.libexecLink, PACKAGE_PATHS.man8, PACKAGE_PATHS.man5, PACKAGE_PATHS.doc]) {
      assert.ok(!pathExists(p), `${p} is still there after dpkg -r`);
    }
    assert.ok(existsSync(db), 'dpkg -r keeps the greylist');

    const purged = run('dpkg', ['--purge', PACKAGE]);
    assert.equal(purged.status, 0, show('dpkg --purge', purged));
    assert.equal(packageStatus(PACKAGE), null, 'dpkg has forgotten the package');
    assert.ok(!existsSync(PACKAGE_PATHS.state), `${PACKAGE_PATHS.state} is still there after the purge`);
    // What the admin wrote, and what belongs to other packages, stays.
    assert.ok(existsSync(rulesFile), `${rulesFile} was deleted by the purge`);
    assert.ok(existsSync('/usr/libexec/opensmtpd/encrypt'), 'opensmtpd\'s libexec directory stays');
    assert.equal(run('id', ['-u', FILTER_USER]).status, 0, `the ${FILTER_USER} user stays`);
  });

  /** Debian's smtpd looks commands up in /usr/libexec/opensmtpd; ../shared/opensmtpd/build.sh's in PREFIX/libexec/opensmtpd. */
  function libexecIsDebians(): boolean {
    if (skip !== null) return true;
    return join(dirname(dirname(chosenSmtpd().binary)), 'libexec', 'opensmtpd') === dirname(PACKAGE_PATHS.libexecLink);
  }

  async function runSmtpdScenario(): Promise<void> {
    const rulesFile = leftovers?.rulesFile ?? '';
    const checked = run('runuser', ['-u', FILTER_USER, '--', PACKAGE_PATHS.bin, 'check', rulesFile], 30_000);
    assert.equal(checked.status, 0, show('filter-rules check, as opensmtpd', checked));

    const command = libexecIsDebians() ? PACKAGE : PACKAGE_PATHS.bin;
    // Clients from TEST-NET-2: the default rules trust 127/8.
    smtpd = await Smtpd.start({ filter: () => [command, rulesFile], loopbackNets: [`${NET}.1/24`] });
    const s = smtpd;
    await s.withLog(async () => {
      assert.match(readFileSync(join(s.dir, 'smtpd.conf'), 'utf8'), new RegExp(`^filter "rules" proc-exec "${command} ${rulesFile}"$`, 'm'));
      // The filter opened its greylist store at startup, as opensmtpd, in the package's state directory.
      const db = join(PACKAGE_PATHS.state, 'greylist.db');
      assert.ok(existsSync(db), `${db} missing`);
      assert.equal(statSync(db).uid, idOf(FILTER_USER, '-u'));

      const bareIp = await s.dialog({ localAddress: `${NET}.7`, timeoutMs: 10_000, steps: mailSteps({ helo: `${NET}.7`, from: 'bot@spam.example' }) });
      const helo = exchangeFor(bareIp, 'EHLO')?.reply;
      assert.equal(helo?.code, 550, transcript(bareIp));
      assert.match(helo?.lines.join('\n') ?? '', /bare IP address in HELO/, transcript(bareIp));

      const subject = marker('deb');
      const from = 'news@lists.example';
      const send = (): Promise<DialogResult> =>
        s.dialog({
          localAddress: `${NET}.8`,
          timeoutMs: 10_000,
          steps: mailSteps({ helo: 'mail.lists.example', from, message: buildMessage({ from, subject, body: 'through the Debian package' }) }),
        });
      const { attempts } = await retryUntilDelivered(send, { boundMs: GREYLIST_DELAY_S * 1000 + 10_000 });
      const first = attempts[0] as DialogResult;
      assert.match(rcptReply(first)?.text ?? '', /^451 4\.7\.1 Greylisted/, transcript(first));
      assert.ok(delivered(attempts[attempts.length - 1] as DialogResult));
      // No reverse DNS for TEST-NET-2 here: `junk when not rdns` marked it.
      const m = await s.waitForMessage((x) => x.text.includes(subject));
      assert.ok(m.headerLines.includes('X-Spam: Yes'), m.text);
      s.assertHealthy();
    });
    // smtpd runs the filter from /usr/lib/filter-rules: stopped before the package goes, as an admin would.
    await s.stop();
  }
});

/** Exists, or is a (possibly dangling) symbolic link. */
function pathExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
