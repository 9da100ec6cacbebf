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

const TOOLS = ['smtpd', 'unshare', 'nsenter', 'setpriv', 'runuser', 'ip', 'ss', 'mount', 'swaks'] as const;

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
  if (problems.length === 0) return null;
  const reason = problems.join('; ');
  if (process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false') {
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

/**
 * OpenSMTPD 7.8 built by ../shared/opensmtpd/build.sh (TLS works there; Debian's 6.8
 * fails every handshake with OpenSSL 3). `SMTPD_78` names another binary; the queue
 * is the build's PREFIX/queue. When it is not there, the reason to skip: tests that need
 * it skip, under CI too (nothing installs it yet; adding 7.8 to the suite is another item).
 */
export function smtpd78(): { readonly binary: string; readonly queueDir: string } | { readonly skip: string } {
  const binary = process.env['SMTPD_78'] ?? '/opt/opensmtpd-7.8/sbin/smtpd';
  const queueDir = join(dirname(dirname(binary)), 'queue');
  if (!existsSync(binary) || !existsSync(queueDir)) {
    return { skip: `no OpenSMTPD 7.8 at ${binary} (build it with ../shared/opensmtpd/build.sh, or set SMTPD_78)` };
  }
  return { binary, queueDir };
}
