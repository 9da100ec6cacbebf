/**
 * One real OpenSMTPD (`smtpd -d`) per test file, isolated in its own mount and
 * network namespaces:
 *
 *   setpriv --pdeathsig KILL  unshare -m -n  sh -c '<setup>; exec smtpd -d -f smtpd.conf'
 *
 * - network namespace: a private loopback, so the port is always free, several test
 *   files (or machines' own mail servers) never collide, extra client addresses can
 *   be added to `lo` (e.g. 198.51.100.0/24, outside every "trusted" list), and nothing
 *   can reach the outside. Clients therefore run *inside* the namespace
 *   (`nsenter -t PID -n`): the scripted client smtp-client.js, or swaks.
 * - mount namespace: tmpfs over /run (private control socket), /var/spool and the
 *   smtpd's queue directory (a fresh queue each time), and our own /etc/resolv.conf (nameserver 127.0.0.1: fails at
 *   once, no 5 s DNS stalls) and /etc/hosts (which is how a test gives a client
 *   address a reverse DNS name: smtpd's resolver reads /etc/hosts first).
 * - which smtpd: the suite's (env.ts chosenSmtpd(), from E2E_SMTPD: Debian's 6.8 by
 *   default, or 7.8 from ../shared/opensmtpd/build.sh), so every test file runs unchanged
 *   against either; `smtpd` in the options for a test that needs a given one (TLS).
 * - no fork in unshare/setpriv/sh (all exec), so the spawned pid IS smtpd's pid, and
 *   PR_SET_PDEATHSIG kills smtpd if the test process dies without cleaning up.
 * - optionally, instead of a network namespace of its own, smtpd joins a shared one
 *   (`netns`, see netns.ts), where services such as redis-server listen on loopback
 *   and several smtpd instances (each with its own mount namespace, hence its own
 *   /run and queue) can run side by side on different ports, like MX hosts sharing
 *   one Redis. smtpd's processes are told apart by their mount namespace.
 * - `binds` mounts host directories at fixed paths inside the mount namespace (after
 *   the tmpfs over /run), so rules can name the paths an admin would write, e.g.
 *   `postgrey unix:/run/postgrey/postgrey.sock` backed by a temp dir.
 *
 * smtpd's stderr (its log, and the filter's stderr prefixed `rules: `) is captured
 * for assertions and shown when a test fails.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DialogResult, DialogScript, DialogStep } from './dialog.js';
import { chosenSmtpd, ensureMailUser, FILTER_MAIN, filterRuntime, makeOpenTempDir, SMTP_CLIENT, type SmtpdBinary } from './env.js';
import type { NetworkNamespace } from './netns.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** The filter's name in smtpd.conf, hence the prefix of its log lines. */
export const FILTER_NAME = 'rules';

export interface SmtpdOptions {
  /** The filter's argv (absolute paths, see filterRuntime()), given the work directory. */
  readonly filter: (workDir: string) => readonly string[];
  /** Files written into the work directory before start (rules files...), mode 0644. */
  readonly files?: Readonly<Record<string, string>>;
  /** /etc/hosts inside the namespace, address → name: gives those clients an rDNS name. */
  readonly hosts?: Readonly<Record<string, string>>;
  /**
   * Extra networks made local on `lo` (any address in them can be a client source).
   * With `netns`, give them to the namespace instead (adding them twice fails).
   */
  readonly loopbackNets?: readonly string[];
  /** Join this network namespace instead of making a new one (shared loopback, services). */
  readonly netns?: NetworkNamespace;
  /**
   * Host directories mounted inside smtpd's mount namespace: target path → source
   * directory. Mounted after the tmpfs over /run, so targets under /run work (and
   * leave no trace on the host); paths must not contain whitespace or `|`.
   */
  readonly binds?: Readonly<Record<string, string>>;
  /** Also listen on ::1. */
  readonly ipv6?: boolean;
  readonly port?: number;
  /**
   * A filter log line that means "registered"; start() waits up to 10 s for it (not
   * fatal: smtpd queues sessions until the filter is ready). Default: any `rules:` line.
   */
  readonly readyLog?: RegExp;
  /**
   * The smtpd to run, for a test that needs a particular one (e.g. tlsSmtpd()); its
   * compiled-in queue directory gets a tmpfs of its own inside the mount namespace.
   * Default: the suite's, chosenSmtpd() (E2E_SMTPD: Debian's 6.8 unless told otherwise).
   */
  readonly smtpd?: SmtpdBinary;
  /**
   * More smtpd.conf lines (pki, tables, further `listen on …` lines), given the work
   * directory; they go before the harness's own listen lines.
   */
  readonly extraConfig?: (workDir: string) => readonly string[];
}

export interface DeliveredMessage {
  readonly file: string;
  readonly text: string;
  /** Header lines (continuations kept as separate lines). */
  readonly headerLines: readonly string[];
  readonly body: string;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The address every test client connects to. */
export const SERVER_V4 = '127.0.0.1';

// Kept to a conservative character set: the command goes through smtpd.conf's
// quoted string and then /bin/sh (protocol.md §1).
const SAFE_ARG = /^[A-Za-z0-9_./:=+@,-]+$/;

function confCommand(argv: readonly string[]): string {
  for (const a of argv) {
    if (!SAFE_ARG.test(a)) throw new Error(`filter argument not usable in smtpd.conf unquoted: ${JSON.stringify(a)}`);
  }
  return argv.join(' ');
}

const SETUP = String.raw`
set -e
W="$1"
ip link set lo up
for net in $NETS; do ip addr add "$net" dev lo; done
if [ -e /etc/resolv.conf ]; then mount --bind "$W/resolv.conf" /etc/resolv.conf; fi
mount --bind "$W/hosts" /etc/hosts
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=0755 tmpfs /var/spool
mkdir -p "$QUEUE"
mount -t tmpfs -o mode=0711 tmpfs "$QUEUE"
printf '%s\n' "$BINDS" | while IFS='|' read -r src dst; do
  [ -n "$src" ] || continue
  mkdir -p "$dst"
  mount --bind "$src" "$dst"
done
exec "$SMTPD" -d -f "$W/smtpd.conf"
`;

function testEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // The node test runner marks its children; the filter must not believe it is a test.
  delete env['NODE_TEST_CONTEXT'];
  return env;
}

/** A filter log record (the filter logs JSON lines; smtpd prefixes them with `rules: `). */
export interface FilterLogRecord {
  readonly level: string;
  readonly time: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export class Smtpd {
  readonly dir: string;
  readonly maildir: string;
  readonly port: number;
  readonly pid: number;
  readonly filterArgv: readonly string[];
  /** The smtpd this is (version, filter protocol, TLS). */
  readonly smtpd: SmtpdBinary;
  #child: ChildProcess;
  #log = '';
  #exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  /** smtpd's mount namespace (its own; the network one may be shared), '' until unshare ran. */
  #mntns: string;
  #closed = false;
  #stopped: { readonly killed: readonly string[] } | null = null;

  private constructor(dir: string, port: number, child: ChildProcess, filterArgv: readonly string[], smtpd: SmtpdBinary) {
    this.dir = dir;
    this.smtpd = smtpd;
    this.maildir = join(dir, 'Maildir');
    this.port = port;
    this.filterArgv = filterArgv;
    this.#child = child;
    if (child.pid === undefined) throw new Error('smtpd did not start');
    this.pid = child.pid;
    this.#mntns = '';
    const collect = (chunk: Buffer): void => {
      this.#log += chunk.toString('utf8');
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('exit', (code, signal) => {
      this.#exit = { code, signal };
    });
    child.on('close', () => {
      this.#closed = true;
    });
  }

  /** Writes the work directory, starts smtpd, waits until it listens and the filter spoke. */
  static async start(opts: SmtpdOptions): Promise<Smtpd> {
    const smtpd = Smtpd.launch(opts);
    try {
      await waitFor(
        async () => {
          if (smtpd.#exit !== null) throw new Error(`smtpd exited during startup (${JSON.stringify(smtpd.#exit)})\n${smtpd.logTail()}`);
          return smtpd.#listening();
        },
        { timeoutMs: 15_000, what: `smtpd to listen on port ${smtpd.port}`, explain: () => smtpd.logTail() },
      );
      const ready = opts.readyLog ?? new RegExp(`^${FILTER_NAME}: `, 'm');
      await waitFor(() => smtpd.#exit !== null || ready.test(smtpd.#log), { timeoutMs: 10_000, what: 'the filter to log' }).catch(() => undefined);
      if (smtpd.#exit !== null) throw new Error(`smtpd exited during startup (${JSON.stringify(smtpd.#exit)})\n${smtpd.logTail()}`);
    } catch (e) {
      await smtpd.stop();
      throw e;
    }
    return smtpd;
  }

  /** Writes the work directory and spawns smtpd without waiting for anything. */
  static launch(opts: SmtpdOptions): Smtpd {
    const mailUser = ensureMailUser();
    const dir = makeOpenTempDir('filter-rules-e2e-');
    const port = opts.port ?? 2525;
    const maildir = join(dir, 'Maildir');
    mkdirSync(maildir, { mode: 0o700 });
    chownSync(maildir, mailUser.uid, mailUser.gid);
    for (const [name, text] of Object.entries(opts.files ?? {})) {
      writeFileSync(join(dir, name), text, { mode: 0o644 });
    }
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n', { mode: 0o644 });
    const hosts = ['127.0.0.1 localhost', '::1 localhost', ...Object.entries(opts.hosts ?? {}).map(([a, n]) => `${a} ${n}`)];
    writeFileSync(join(dir, 'hosts'), `${hosts.join('\n')}\n`, { mode: 0o644 });
    if (opts.netns !== undefined && (opts.loopbackNets ?? []).length > 0) {
      throw new Error('Smtpd: with a shared netns, loopbackNets belong to the namespace');
    }
    const binds: string[] = [];
    for (const [target, source] of Object.entries(opts.binds ?? {})) {
      if (/[\s|]/.test(target + source) || !target.startsWith('/') || !source.startsWith('/')) {
        throw new Error(`Smtpd: bind ${JSON.stringify(source)} → ${JSON.stringify(target)}: absolute paths without whitespace or |`);
      }
      binds.push(`${source}|${target}`);
    }
    const smtpd = opts.smtpd ?? chosenSmtpd();
    const filterArgv = opts.filter(dir);
    const listen = [`listen on ${SERVER_V4} port ${port} filter "${FILTER_NAME}"`];
    if (opts.ipv6 === true) listen.push(`listen on ::1 port ${port} filter "${FILTER_NAME}"`);
    const conf = [
      `filter "${FILTER_NAME}" proc-exec "${confCommand(filterArgv)}"`,
      ...(opts.extraConfig?.(dir) ?? []),
      ...listen,
      `action "local" maildir "${maildir}"`,
      'match from any for any action "local"',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'smtpd.conf'), conf, { mode: 0o644 });

    // nsenter and unshare exec without forking, so the pid stays smtpd's either way.
    const namespaces = opts.netns === undefined ? ['unshare', '-m', '-n'] : ['nsenter', '-t', String(opts.netns.pid), '-n', '--', 'unshare', '-m'];
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', ...namespaces, 'sh', '-c', SETUP, 'sh', dir], {
      cwd: dir,
      env: {
        ...testEnv(),
        NETS: (opts.loopbackNets ?? []).join(' '),
        BINDS: binds.join('\n'),
        SMTPD: smtpd.binary,
        QUEUE: smtpd.queueDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Smtpd(dir, port, child, filterArgv, smtpd);
  }

  async #listening(): Promise<boolean> {
    // Never probe by connecting: a probe is a real SMTP session through the filter.
    // Until unshare has run, nsenter would look at *our* network namespace (the
    // network namespace is entered before the mount namespace is made).
    if (this.#namespacePids().length === 0 || this.#mntns === '') return false;
    const r = await run('nsenter', ['-t', String(this.pid), '-n', 'ss', '-ltnH', `sport = :${this.port}`]).catch(() => null);
    return r !== null && r.stdout.includes('LISTEN');
  }

  /** Everything smtpd logged so far (including the filter's `rules:` lines). */
  log(): string {
    return this.#log;
  }

  /** The filter's own stderr lines, without the `rules: ` prefix. */
  filterLines(): string[] {
    const prefix = `${FILTER_NAME}: `;
    return this.#log
      .split('\n')
      .filter((l) => l.startsWith(prefix))
      .map((l) => l.slice(prefix.length));
  }

  /** The filter's log records (it logs JSON lines); a line still half in the pipe is skipped. */
  filterRecords(): FilterLogRecord[] {
    const out: FilterLogRecord[] = [];
    for (const line of this.filterLines()) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as FilterLogRecord);
      } catch {
        // a partial line still in the pipe
      }
    }
    return out;
  }

  logTail(lines = 60): string {
    const all = this.#log.trimEnd().split('\n');
    return `--- smtpd log (last ${Math.min(lines, all.length)} of ${all.length} lines, work dir ${this.dir}) ---\n${all.slice(-lines).join('\n')}\n--- end of smtpd log ---`;
  }

  /** Waits for a log line matching `re` or `pred` (searching the whole log); returns it. */
  waitForLog(match: RegExp | ((line: string) => boolean), timeoutMs = 5000): Promise<string> {
    const test = typeof match === 'function' ? match : (l: string) => match.test(l);
    return waitFor(() => this.#log.split('\n').find(test), {
      timeoutMs,
      what: `a log line matching ${String(match)}`,
      explain: () => this.logTail(),
    });
  }

  running(): boolean {
    return this.#exit === null;
  }

  /** stop() was called. */
  get stopped(): boolean {
    return this.#stopped !== null;
  }

  /** Waits for smtpd to exit by itself; returns its exit code and signal. */
  async waitForExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const exit = await waitFor(() => this.#exit, { timeoutMs, what: 'smtpd to exit', explain: () => this.logTail() });
    // Its last log lines may still be in the pipe.
    await waitFor(() => this.#closed, { timeoutMs: 2000, what: 'smtpd output to close' }).catch(() => undefined);
    return exit;
  }

  /**
   * Pids in smtpd's mount namespace: smtpd, its helpers and the filter. (Not the
   * network namespace: it may be shared with services and other smtpd instances,
   * and clients run in it too.)
   */
  #namespacePids(): number[] {
    if (this.#mntns === '') {
      try {
        // Differs from ours once unshare has run; read it as soon as it has.
        const ns = readlinkSync(`/proc/${this.pid}/ns/mnt`);
        if (ns !== readlinkSync('/proc/self/ns/mnt')) this.#mntns = ns;
      } catch {
        // smtpd already gone
      }
    }
    if (this.#mntns === '') return this.running() ? [this.pid] : [];
    const pids: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (readlinkSync(`/proc/${name}/ns/mnt`) === this.#mntns && !isZombie(Number(name))) pids.push(Number(name));
      } catch {
        // gone meanwhile, or a zombie: not alive
      }
    }
    return pids;
  }

  /**
   * smtpd with filter-rules itself on `rules` (a file of `files`), started once for a
   * whole test file, with the two pids the file's tests must keep (assertSameProcesses).
   */
  static async startWithRules(
    rules: string,
    opts: Omit<SmtpdOptions, 'filter' | 'readyLog'>,
  ): Promise<{ smtpd: Smtpd; processes: { readonly smtpd: number; readonly filter: number } }> {
    const rt = filterRuntime();
    const smtpd = await Smtpd.start({
      ...opts,
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, rules)],
      readyLog: /registered with smtpd/,
    });
    const filter = smtpd.filterPid();
    assert.ok(filter !== null, smtpd.logTail());
    return { smtpd, processes: { smtpd: smtpd.pid, filter } };
  }

  /** Healthy, and still the smtpd and the filter process `processes` were: nothing restarted. */
  assertSameProcesses(processes: { readonly smtpd: number; readonly filter: number }): void {
    this.assertHealthy();
    assert.equal(this.pid, processes.smtpd, 'smtpd changed');
    assert.equal(this.filterPid(), processes.filter, 'the filter process changed');
  }

  /** Pid of the filter process, or null when it is not running. */
  filterPid(): number | null {
    const entry = this.filterArgv[1] ?? this.filterArgv[0] ?? '';
    for (const pid of this.#namespacePids()) {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (argv.includes(entry)) return pid;
      } catch {
        // exited meanwhile
      }
    }
    return null;
  }

  /**
   * smtpd still runs, the filter process still runs (smtpd exits when it dies, but
   * look anyway), and nothing fatal was logged.
   */
  assertHealthy(): void {
    const problems: string[] = [];
    if (!this.running()) problems.push(`smtpd exited (${JSON.stringify(this.#exit)})`);
    else if (this.filterPid() === null) problems.push('the filter process is gone');
    const fatal = this.#log.split('\n').filter((l) => /lost processor|fatal|misbehaving filter|Invalid filter message|exiting/i.test(l));
    if (fatal.length > 0) problems.push(`fatal log lines: ${fatal.join(' | ')}`);
    if (problems.length > 0) throw new Error(`smtpd/filter not healthy: ${problems.join('; ')}\n${this.logTail()}`);
  }

  /** Runs `fn`; when it throws, the error message gets the smtpd log tail appended. */
  async withLog<T>(fn: () => Promise<T> | T): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof Error && !e.message.includes('--- smtpd log')) e.message = `${e.message}\n${this.logTail()}`;
      throw e;
    }
  }

  /** Runs a scripted SMTP dialog from inside the namespace. */
  async dialog(script: Partial<DialogScript> & { readonly steps: readonly DialogStep[] }): Promise<DialogResult> {
    const full: DialogScript = { host: SERVER_V4, port: this.port, timeoutMs: 30_000, ...script };
    const r = await this.exec(process.execPath, [SMTP_CLIENT, JSON.stringify(full)], full.timeoutMs + 10_000);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || line === '') throw new Error(`smtp client failed (exit ${r.code}): ${r.stderr}${r.stdout}`);
    return JSON.parse(line) as DialogResult;
  }

  /** Runs swaks inside the namespace against this smtpd (`--server` is added). */
  swaks(args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
    return this.exec('swaks', ['--server', `${SERVER_V4}:${this.port}`, ...args], timeoutMs);
  }

  /** Runs a command in smtpd's network namespace (as root), with a hard time limit. */
  exec(cmd: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn('nsenter', ['-t', String(this.pid), '-n', '--', cmd, ...args], { env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      const kill = setTimeout(() => {
        stderr += `\n[harness] killed after ${timeoutMs} ms`;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('close', (code) => {
        clearTimeout(kill);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Messages delivered so far (Maildir new/ and cur/), oldest first. */
  messages(): DeliveredMessage[] {
    const out: { m: DeliveredMessage; name: string }[] = [];
    for (const sub of ['new', 'cur']) {
      const d = join(this.maildir, sub);
      if (!existsSync(d)) continue;
      for (const name of readdirSync(d)) {
        const file = join(d, name);
        out.push({ m: parseMessage(file, readFileSync(file, 'utf8')), name });
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name)).map((x) => x.m);
  }

  /** Waits until a delivered message satisfies `match` (delivery is asynchronous). */
  waitForMessage(match: (m: DeliveredMessage) => boolean, timeoutMs = 10_000): Promise<DeliveredMessage> {
    return waitFor(() => this.messages().find(match), { timeoutMs, what: 'a delivered message', explain: () => this.logTail() });
  }

  /**
   * SIGTERM to smtpd, then wait for every process of the namespace (the filter
   * must exit by itself at EOF on stdin) and SIGKILL whatever is left after 5 s.
   * Removes the work dir unless KEEP_E2E_DIRS is set. Idempotent.
   * Returns the processes that had to be killed (command lines).
   */
  async stop(): Promise<{ readonly killed: readonly string[] }> {
    if (this.#stopped !== null) return this.#stopped;
    const pids = this.#namespacePids();
    const cmdlines = new Map(pids.map((p) => [p, cmdline(p)]));
    if (this.running()) this.#child.kill('SIGTERM');
    const killed: string[] = [];
    const gone = (): boolean => !this.running() && pids.every((p) => !processAlive(p));
    await waitFor(gone, { timeoutMs: 5000, what: 'smtpd and the filter to exit' }).catch(() => {
      for (const p of new Set([this.pid, ...pids])) {
        if (!processAlive(p)) continue;
        try {
          process.kill(p, 'SIGKILL');
          killed.push(cmdlines.get(p) ?? String(p));
        } catch {
          // already gone
        }
      }
    });
    await waitFor(() => !this.running(), { timeoutMs: 5000, what: 'smtpd to be reaped' }).catch(() => undefined);
    this.#stopped = { killed };
    if (process.env['KEEP_E2E_DIRS'] === undefined) rmSync(this.dir, { recursive: true, force: true });
    return this.#stopped;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return String(pid);
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** True while `pid` exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !isZombie(pid);
}

function parseMessage(file: string, text: string): DeliveredMessage {
  const normalized = text.replace(/\r\n/g, '\n');
  const split = normalized.indexOf('\n\n');
  const head = split < 0 ? normalized : normalized.slice(0, split);
  return { file, text: normalized, headerLines: head.split('\n'), body: split < 0 ? '' : normalized.slice(split + 2) };
}
