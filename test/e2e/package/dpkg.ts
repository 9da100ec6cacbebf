/**
 * The Debian package test's dealings with this machine: building the package
 * (scripts/build-deb.sh), dpkg, and what must hold before it may install anything.
 *
 * The test installs the package for real and purges it afterwards, so it must never
 * replace or delete what it did not make: an installed filter-rules, a
 * /usr/bin/filter-rules from `npm install -g`, an admin's /var/lib/filter-rules. It
 * therefore refuses (skips; fails under CI) when any of the package's paths exist,
 * except when a marker file says that this test itself left them, in a run that was
 * killed before its cleanup: then it purges first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../harness/env.js';

export const PACKAGE = 'filter-rules';

/** What the package installs (or its postinst makes), and nothing else a test may leave behind. */
export const PACKAGE_PATHS = {
  app: '/usr/lib/filter-rules',
  bin: '/usr/bin/filter-rules',
  libexecLink: '/usr/libexec/opensmtpd/filter-rules',
  man8: '/usr/share/man/man8/filter-rules.8.gz',
  man5: '/usr/share/man/man5/filter-rules.rules.5.gz',
  doc: '/usr/share/doc/filter-rules',
  state: '/var/lib/filter-rules',
} as const;

/** Written before `dpkg -i`, removed after the purge: what a killed run left, for the next run to undo. */
const MARKER = join(tmpdir(), 'filter-rules-deb-e2e.json');

export interface Leftovers {
  /** The admin rules file the test wrote (removed with the package). */
  readonly rulesFile: string;
  /** The directory of rulesFile, when the test had to create it (removed if empty). */
  readonly createdDir: string | null;
}

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(cmd: string, args: readonly string[], timeoutMs = 120_000, env?: NodeJS.ProcessEnv): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, cwd: '/', ...(env === undefined ? {} : { env }) });
  if (r.error !== undefined) return { status: null, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error.message}` };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function show(what: string, r: RunResult): string {
  return `${what}: exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** dpkg's status of a package (`install ok installed`, `deinstall ok config-files`), or null when dpkg does not know it. */
export function packageStatus(name: string): string | null {
  const r = run('dpkg-query', ['-W', '-f', '${Status}', name], 30_000);
  return r.status === 0 ? r.stdout.trim() : null;
}

/** A field of the installed package (`Depends`, `Version`, …). */
export function packageField(name: string, field: string): string {
  return run('dpkg-query', ['-W', '-f', `\${${field}}`, name], 30_000).stdout.trim();
}

/**
 * One package test at a time on this machine: two runs (a CI run beside a developer's,
 * or two work trees) would take the other's install for a killed run's leftovers and
 * purge it under it, and dpkg's own lock would fail the second one's commands. The lock
 * is flock(1) on a file in /run/lock, held by a child process until `release()` or
 * until this process dies (the child's stdin closes, so the lock never outlives the test).
 * Resolves once the lock is held: a second run waits for the first to finish.
 */
export function holdPackageTestLock(): Promise<{ release: () => void }> {
  const child = spawn('flock', ['--exclusive', LOCK_FILE, 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`flock ${LOCK_FILE} exited (${code}) before it held the lock`)));
    child.stdout.once('data', () => {
      child.removeAllListeners('exit');
      resolve({ release: () => child.stdin.end() });
    });
  });
}
const LOCK_FILE = existsSync('/run/lock') ? '/run/lock/filter-rules-package-test.lock' : join(tmpdir(), 'filter-rules-package-test.lock');

/** Purges the package (when dpkg knows it); throws with dpkg's output when that fails. */
export function purge(): void {
  if (packageStatus(PACKAGE) === null) return;
  const r = run('dpkg', ['--purge', PACKAGE]);
  if (r.status !== 0) throw new Error(show('dpkg --purge', r));
}

export function writeMarker(leftovers: Leftovers): void {
  writeFileSync(MARKER, `${JSON.stringify(leftovers)}\n`);
}

/** Removes the test's own files (not the package: purge() does that) and the marker. */
export function removeLeftovers(leftovers: Leftovers | null): void {
  if (leftovers !== null) {
    rmSync(leftovers.rulesFile, { force: true });
    if (leftovers.createdDir !== null) {
      try {
        rmdirSync(leftovers.createdDir);
      } catch {
        // not empty (someone put a file there meanwhile), or gone: leave it
      }
    }
  }
  rmSync(MARKER, { force: true });
}

/** What a killed earlier run of this test left (package, files), undone; its paths no longer in the way. */
function undoKilledRun(): void {
  if (!existsSync(MARKER)) return;
  const leftovers = JSON.parse(readFileSync(MARKER, 'utf8')) as Leftovers;
  purge();
  removeLeftovers(leftovers);
}

/**
 * Why the package test cannot run here, or null. Called after the e2e suite's own
 * prerequisites (root, smtpd, the opensmtpd user) were found.
 */
export function packageSkipReason(): string | null {
  const missing = ['dpkg', 'dpkg-deb', 'dpkg-query', 'dpkg-shlibdeps', 'dpkg-trigger'].filter((t) => !hasCommand(t));
  if (missing.length > 0) return `missing commands: ${missing.join(', ')} (dpkg-shlibdeps is in dpkg-dev: run scripts/install-deps.sh)`;
  // dpkg -i checks Depends: a node that is not the nodejs package (nvm, a tarball) does not satisfy it.
  if (packageStatus('nodejs') !== 'install ok installed') return 'nodejs is not installed as a Debian package, so dpkg -i would refuse the package (Depends: nodejs)';
  undoKilledRun();
  if (packageStatus(PACKAGE) !== null) return `${PACKAGE} is installed on this machine (${packageStatus(PACKAGE)}): the test would replace and purge it`;
  const present = Object.values(PACKAGE_PATHS).filter((p) => existsSync(p));
  if (present.length > 0) return `${present.join(', ')} exist(s) already: installing and purging the package would replace or delete them`;
  return null;
}

/** Builds the package into `outDir` with scripts/build-deb.sh; returns the .deb's path. */
export function buildPackage(outDir: string): string {
  const r = run('bash', [join(PROJECT_ROOT, 'scripts', 'build-deb.sh'), '-o', outDir], 300_000);
  const deb = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !deb.endsWith('.deb') || !existsSync(deb)) throw new Error(show('scripts/build-deb.sh', r));
  return deb;
}
