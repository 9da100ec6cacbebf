/**
 * What the end-to-end tests need from the machine, and how the filter is made
 * reachable for smtpd's unprivileged filter user.
 *
 * smtpd runs the filter as `opensmtpd` (protocol.md §1), so the node binary, the
 * built filter, node_modules and package.json ("type": "module") must be readable by
 * that user. A clone under a 0700 directory (/root/...) is not: then everything is
 * copied once per test process into a 0755 staging directory and run from there.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is dist/test/e2e/harness/env.js once built). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
/** The built tree (dist/). */
export const DIST = join(PROJECT_ROOT, 'dist');
/** The real filter's entry point. */
export const FILTER_MAIN = join(DIST, 'src', 'cli', 'main.js');
/** The client run inside smtpd's network namespace. */
export const SMTP_CLIENT = join(DIST, 'test', 'e2e', 'harness', 'smtp-client.js');
/** A minimal filter that proceeds on everything: validates the harness alone. */
export const STAND_IN_FILTER = join(DIST, 'test', 'e2e', 'harness', 'stand-in-filter.js');

export const FILTER_USER = 'opensmtpd';
/** Local deliveries go to this user (smtpd refuses to deliver to root). */
export const MAIL_USER = 'mailtest';

const TOOLS = ['unshare', 'nsenter', 'setpriv', 'runuser', 'ip', 'ss', 'mount', 'swaks'] as const;

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

function userExists(name: string): boolean {
  return spawnSync('id', ['-u', name], { stdio: 'ignore' }).status === 0;
}

/**
 * Why the e2e tests cannot run here, or null when they can. Under CI (CI=true) a
 * missing prerequisite is a failure, not a skip: `.ci/run` installs everything, so a
 * skip there would hide a broken setup.
 */
export function e2eSkipReason(): string | null {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push('needs Linux namespaces');
  if (process.getuid?.() !== 0) problems.push('must run as root (namespaces, smtpd)');
  const missing = TOOLS.filter((t) => !hasCommand(t));
  if (missing.length > 0) problems.push(`missing commands: ${missing.join(', ')} (run scripts/install-deps.sh)`);
  if (!userExists(FILTER_USER)) problems.push(`no user ${FILTER_USER} (install the opensmtpd package)`);
  const smtpd = e2eSmtpd();
  if ('skip' in smtpd) problems.push(smtpd.skip);
  if (problems.length === 0) return null;
  const reason = problems.join('; ');
  if (underCi()) {
    throw new Error(`end-to-end prerequisites missing under CI: ${reason}`);
  }
  return reason;
}

/** Create the delivery user once (no home, no shell), like testing-notes.md says. */
export function ensureMailUser(): { uid: number; gid: number } {
  if (!userExists(MAIL_USER)) {
    execFileSync('useradd', ['-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', MAIL_USER], { stdio: 'pipe' });
  }
  const uid = Number(execFileSync('id', ['-u', MAIL_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', MAIL_USER], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** Can `user` read every file and traverse to it? (`test -r` as that user.) */
export function readableBy(user: string, paths: readonly string[], mode: '-r' | '-x' = '-r'): boolean {
  const script = paths.map((_, i) => `test ${mode} "$${i + 1}"`).join(' && ');
  return spawnSync('runuser', ['-u', user, '--', 'sh', '-c', script, 'sh', ...paths], { stdio: 'ignore' }).status === 0;
}

/** A mkdtemp directory that the filter and delivery users can traverse (0700 kills the filter). */
export function makeOpenTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

export interface FilterRuntime {
  /** Absolute node binary the filter user can execute. */
  readonly node: string;
  /** Maps a path under PROJECT_ROOT to where the filter user can read it. */
  readonly resolve: (projectPath: string) => string;
  /** The staging directory, when one was needed. */
  readonly stagedAt: string | null;
}

let cached: FilterRuntime | null = null;

/**
 * Where smtpd should run the filter from: in place when `opensmtpd` can read the
 * tree, else from a staged copy (made once per process, removed at exit).
 */
export function filterRuntime(): FilterRuntime {
  if (cached !== null) return cached;
  const node = process.execPath;
  const needed = [FILTER_MAIN, STAND_IN_FILTER, join(PROJECT_ROOT, 'package.json'), join(PROJECT_ROOT, 'node_modules')];
  const treeOk = readableBy(FILTER_USER, needed.filter((p) => existsSync(p)));
  const nodeOk = readableBy(FILTER_USER, [node], '-x');
  if (treeOk && nodeOk) {
    cached = { node, resolve: (p) => p, stagedAt: null };
    return cached;
  }
  const stage = makeOpenTempDir('filter-rules-e2e-stage-');
  process.on('exit', () => rmSync(stage, { recursive: true, force: true }));
  const root = join(stage, 'app');
  if (!treeOk) {
    for (const part of ['package.json', 'node_modules', join('dist', 'src'), join('dist', 'test', 'e2e', 'harness')]) {
      const from = join(PROJECT_ROOT, part);
      if (existsSync(from)) cpSync(from, join(root, part), { recursive: true });
    }
    execFileSync('chmod', ['-R', 'a+rX', stage]);
  }
  let stagedNode = node;
  if (!nodeOk) {
    stagedNode = join(stage, 'node');
    copyFileSync(node, stagedNode);
    chmodSync(stagedNode, 0o755);
  }
  cached = {
    node: stagedNode,
    resolve: treeOk ? (p) => p : (p) => join(root, relative(PROJECT_ROOT, p)),
    stagedAt: stage,
  };
  return cached;
}

/** An smtpd binary the harness runs (`Smtpd.start({ smtpd })`), and what a test may expect of it. */
export interface SmtpdBinary {
  /** How it was chosen: `6.8`, `7.8`, or the path E2E_SMTPD gave. */
  readonly name: string;
  readonly binary: string;
  /**
   * Its compiled-in queue directory: a fresh tmpfs inside the mount namespace each start
   * (/var/spool/smtpd for Debian's, PREFIX/queue for ../shared/opensmtpd/build.sh's).
   */
  readonly queueDir: string;
  /** What `smtpd -h` says, e.g. `6.8.0p2`, `7.8.0-portable`. */
  readonly version: string;
  /** The filter protocol it speaks: 0.6 up to 7.3, 0.7 from 7.4 (protocol.md §1). */
  readonly protocol: '0.6' | '0.7';
  /**
   * STARTTLS/smtps handshakes work. Not in Debian 12's 6.8, which fails every one with
   * OpenSSL 3 (upstream #1171, #1239; testing-notes.md).
   */
  readonly tls: boolean;
}

/** Debian's smtpd and its queue (the opensmtpd package). */
const DEBIAN_SMTPD = { binary: '/usr/sbin/smtpd', queueDir: '/var/spool/smtpd' } as const;
const BUILD_SCRIPT = '../shared/opensmtpd/build.sh';

/** CI=true (any value but empty or `false`): missing prerequisites fail instead of skipping. */
export function underCi(): boolean {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== 'false';
}

/** `version: OpenSMTPD 7.8.0-portable` → 7.8.0-portable; null when it does not run or say so. */
function reportedVersion(binary: string): string | null {
  const r = spawnSync(binary, ['-h'], { encoding: 'utf8' });
  const m = /OpenSMTPD (\d+)\.(\d+)\S*/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  return m === null ? null : m[0].slice('OpenSMTPD '.length);
}

/**
 * The smtpd at `binary`, or why it cannot be used. `queueDir` defaults to build.sh's
 * layout (PREFIX/sbin/smtpd, PREFIX/queue).
 */
export function smtpdAt(name: string, binary: string, queueDir = join(dirname(dirname(binary)), 'queue')): SmtpdBinary | { readonly skip: string } {
  if (!existsSync(binary)) return { skip: `no smtpd at ${binary}` };
  // Under /var/spool the harness makes it (inside the namespace's tmpfs); elsewhere it
  // mounts a tmpfs on it, which needs the directory (build.sh makes PREFIX/queue).
  if (!queueDir.startsWith('/var/spool/') && !existsSync(queueDir)) return { skip: `no queue directory ${queueDir} for ${binary}` };
  const version = reportedVersion(binary);
  if (version === null) return { skip: `${binary} -h does not report an OpenSMTPD version` };
  const [major = 0, minor = 0] = version.split(/[.p-]/).map(Number);
  const protocol = major > 7 || (major === 7 && minor >= 4) ? '0.7' : '0.6';
  // Debian 12's 6.8 is linked with OpenSSL 3 and cannot finish a handshake; 7.x can.
  const tls = major >= 7;
  return { name, binary, queueDir, version, protocol, tls };
}

/**
 * OpenSMTPD 7.8 built by ../shared/opensmtpd/build.sh (scripts/install-deps.sh runs it):
 * `SMTPD_78` names another binary; the queue is the build's PREFIX/queue. When it is not
 * there, the reason to skip; under CI, install-deps.sh has built it, so missing is an error.
 */
export function smtpd78(): SmtpdBinary | { readonly skip: string } {
  const binary = process.env['SMTPD_78'] ?? '/opt/opensmtpd-7.8/sbin/smtpd';
  const found = smtpdAt('7.8', binary);
  if ('skip' in found) {
    const skip = `${found.skip} (build it with ${BUILD_SCRIPT}, or set SMTPD_78)`;
    if (underCi()) throw new Error(`OpenSMTPD 7.8 missing under CI: ${skip}`);
    return { skip };
  }
  return found;
}

/**
 * The smtpd that `E2E_SMTPD` names: `6.8` or empty (Debian's /usr/sbin/smtpd), `7.8`
 * (smtpd78()), or the absolute path of another smtpd binary (its queue directory
 * PREFIX/queue, or `E2E_SMTPD_QUEUE`). scripts/run-tests.mjs uses it to say what each run ran.
 */
export function smtpdFor(wanted: string): SmtpdBinary | { readonly skip: string } {
  if (wanted === '' || wanted === '6.8') {
    const found = smtpdAt('6.8', DEBIAN_SMTPD.binary, DEBIAN_SMTPD.queueDir);
    return 'skip' in found ? { skip: `${found.skip} (install the opensmtpd package)` } : found;
  }
  if (wanted === '7.8') return smtpd78();
  if (wanted.startsWith('/')) return smtpdAt(wanted, wanted, process.env['E2E_SMTPD_QUEUE']);
  throw new Error(`E2E_SMTPD=${JSON.stringify(wanted)}: expected 6.8, 7.8 or an absolute path to smtpd`);
}

let chosen: SmtpdBinary | { readonly skip: string } | null = null;

/**
 * The smtpd every end-to-end test runs unless it names one itself: smtpdFor(E2E_SMTPD),
 * Debian's 6.8 by default. The variable is read here and nowhere else, once per process;
 * scripts/run-tests.mjs sets it for each run.
 */
export function e2eSmtpd(): SmtpdBinary | { readonly skip: string } {
  chosen ??= smtpdFor(process.env['E2E_SMTPD'] ?? '');
  return chosen;
}

/** e2eSmtpd(), which e2eSkipReason() has checked: tests call it after deciding not to skip. */
export function chosenSmtpd(): SmtpdBinary {
  const s = e2eSmtpd();
  if ('skip' in s) throw new Error(`no smtpd for the end-to-end tests: ${s.skip}`);
  return s;
}

/**
 * An smtpd that can do TLS: the chosen one when it can (so the 7.8 run tests itself), else
 * 7.8 (Debian's 6.8 cannot).
 */
export function tlsSmtpd(): SmtpdBinary | { readonly skip: string } {
  const s = e2eSmtpd();
  return 'skip' in s || !s.tls ? smtpd78() : s;
}
