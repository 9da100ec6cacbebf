/**
 * Hot reload: watch the rules file and its list files, and on a change (or
 * SIGHUP) compile the new rules completely, then hand them to `apply` — or keep
 * the running rules and log why.
 *
 * Everything with side effects is injected: the watcher (chokidar in
 * production, a fake in tests), the clock, file reads, the compiler and the
 * apply callback. Files are read asynchronously (support/read-file.ts: regular
 * files only, size-limited) and hashed in slices; the compile gives the event
 * loop back every few ms while it works through list items (the production
 * compiler is compileRulesFileAsync), so requests are answered during a reload
 * of a million-line list. A pass has a time limit (scheduler.ts): a pass past it
 * is abandoned and logged, applies nothing, and the next change or SIGHUP runs.
 */
import { resolve } from 'node:path';
import type { CompiledChain, CompiledRules } from '../model/plan.js';
import { formatCompileResult, type CompileResult, type Diagnostic } from '../dsl/index.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { readRulesFile } from '../support/read-file.js';
import type { Result } from '../support/result.js';
import { diffRules } from './diff.js';
import { logOutcome, type ReloadOutcome, type ReloadOutcomeKind } from './outcome.js';
import { ReloadScheduler, type PassRequest, type SchedulerState } from './scheduler.js';
import { changedFiles, Snapshot, type AsyncReadFile, type Fingerprint } from './snapshot.js';
import type { Watcher, WatcherFactory } from './watcher.js';

/**
 * Which chain the filter runs, or why the rules cannot be run (the message is
 * logged as is). The runtime's `selectChain(rules, name)` fits, so startup and
 * reload refuse the same rules with the same words.
 */
export type ChainSelector = (rules: CompiledRules) => Result<CompiledChain, string>;

/**
 * The compiler as the reloader calls it: `compileRulesFileAsync` from src/dsl
 * (in slices, stops when `signal` fires), or `compileRulesFile` (in one go).
 */
export type ReloadCompile = (
  path: string,
  options: {
    readonly readFile: (path: string) => string;
    readonly dataLineRegistered: boolean;
    /** The clock's monotonic ms, for slicing. */
    readonly now: () => number;
    /** Fires when the pass is abandoned (time limit): stop at the next slice. */
    readonly signal: AbortSignal;
  },
) => CompileResult | Promise<CompileResult>;

export interface ReloaderOptions {
  readonly rulesFile: string;
  /** The rules the filter started with (what `apply` would otherwise have been given last). */
  readonly initialRules: CompiledRules;
  /**
   * The texts the initial rules were compiled from (CompileResult.sources). With
   * them, an edit made between that compile and the start of watching is
   * reloaded at once; without them the files are hashed as found when the
   * reloader starts, and such an edit waits for the next change or SIGHUP.
   */
  readonly initialSources?: ReadonlyMap<string, string>;
  readonly compile: ReloadCompile;
  /** Make `rules` the rules of new sessions, running `chain`. Sessions in progress keep theirs. */
  readonly apply: (rules: CompiledRules, chain: CompiledChain) => void;
  readonly selectChain: ChainSelector;
  readonly clock: Clock;
  readonly log: Logger;
  readonly watcherFactory: WatcherFactory;
  /** Default: readRulesFile (support/read-file.ts), with the rules file's or a list file's size limit. */
  readonly readFile?: AsyncReadFile;
  /** Whether data-line was registered at startup (registration cannot change later). */
  readonly dataLineRegistered: boolean;
  /** Quiet period after the last file event before reloading. Default 200 ms. */
  readonly quietMs?: number;
  /** Longest a burst of events can postpone a reload. Default 2000 ms. */
  readonly maxWaitMs?: number;
  /** Time limit of one pass (read, compile, apply). Default DEFAULT_PASS_LIMIT_MS (scheduler.ts). */
  readonly passLimitMs?: number;
}

export interface ReloadStats {
  readonly state: SchedulerState;
  /** Passes run, and how each ended. */
  readonly passes: number;
  readonly outcomes: Readonly<Record<ReloadOutcomeKind, number>>;
  readonly lastOutcome: ReloadOutcomeKind | null;
  /** Wall-clock ms of the last successful apply, or null. */
  readonly lastAppliedAt: number | null;
  /** Files watched now, sorted. */
  readonly watching: readonly string[];
}

export interface Reloader {
  /** Reload now, even if no file content changed (the CLI calls `trigger('SIGHUP')`). */
  trigger(reason: string): void;
  /** Stop watching; waits for a pass in progress (which then does not apply). */
  close(): Promise<void>;
  readonly stats: ReloadStats;
  /** Resolves when the initial hashing is done and no pass is running. For tests and orderly shutdown. */
  whenIdle(): Promise<void>;
}

export const DEFAULT_QUIET_MS = 200;
export const DEFAULT_MAX_WAIT_MS = 2000;
/** Compile rounds per pass: each round may discover list files that were not read yet. */
const MAX_COMPILE_ROUNDS = 4;

export function startReloader(options: ReloaderOptions): Reloader {
  return new HotReloader(options);
}

class HotReloader implements Reloader {
  private readonly rulesFile: string;
  private readonly readFile: AsyncReadFile;
  private readonly scheduler: ReloadScheduler;
  private readonly watcher: Watcher;
  /** The rules `apply` last received (or the initial ones). */
  private current: CompiledRules;
  /** Hashes of the files the current rules were compiled from. */
  private appliedFingerprint: Fingerprint = new Map();
  /** Hashes of the files of the last compile, applied or not: unchanged content is not compiled twice. */
  private attemptedFingerprint: Fingerprint = new Map();
  private watched: ReadonlySet<string>;
  private rulesMissing = false;
  private closed = false;
  /** The initial hashing; passes wait for it. */
  private readonly ready: Promise<void>;
  private passes = 0;
  private readonly outcomes: Record<ReloadOutcomeKind, number> = {
    applied: 0,
    unchanged: 0,
    missing: 0,
    rejected: 0,
    refused: 0,
    failed: 0,
    abandoned: 0,
  };
  private lastOutcome: ReloadOutcomeKind | null = null;
  private lastAppliedAt: number | null = null;

  /** The options, less initialSources: the startup texts (a list file can be 64 MiB) are let go once hashed. */
  private readonly options: Omit<ReloaderOptions, 'initialSources'>;

  constructor(allOptions: ReloaderOptions) {
    const { initialSources, ...options } = allOptions;
    this.options = options;
    if (options.rulesFile === '') throw new TypeError('startReloader: rulesFile must not be empty');
    this.rulesFile = resolve(options.rulesFile);
    const rulesFile = this.rulesFile;
    // Which limit applies is known by the path: the rules file's, or a list file's.
    this.readFile = options.readFile ?? ((path) => readRulesFile(path, resolve(path) === rulesFile ? 'rules' : 'list'));
    this.current = options.initialRules;
    this.watched = this.watchSetFor(options.initialRules);
    this.scheduler = new ReloadScheduler({
      clock: options.clock,
      quietMs: options.quietMs ?? DEFAULT_QUIET_MS,
      maxWaitMs: options.maxWaitMs ?? Math.max(DEFAULT_MAX_WAIT_MS, options.quietMs ?? 0),
      run: (request, signal) => this.pass(request, signal),
      onPassError: (error) => this.options.log.error({ event: 'reload', err: error }, 'reload pass crashed'),
      ...(options.passLimitMs !== undefined ? { passLimitMs: options.passLimitMs } : {}),
      onPassAbandoned: (request, limitMs) => this.record({ kind: 'abandoned', reason: reasonOf(request), limitMs }),
    });
    // The watcher starts before the initial hashing: an edit made meanwhile still
    // produces an event, and its pass waits for `ready`.
    this.watcher = options.watcherFactory([...this.watched].sort(), {
      onEvent: (event) => {
        options.log.debug({ event: 'reload-watch', path: event.path, kind: event.kind }, 'watched file event');
        this.scheduler.fileEvent(event.path);
      },
      onError: (error) =>
        options.log.warn({ event: 'reload-watch', err: error }, `file watcher error: ${error.message} (SIGHUP still reloads)`),
    });
    this.ready = this.hashInitialFiles(initialSources);
  }

  /**
   * The baseline for "did anything change": the texts the initial rules were
   * compiled from when known, else the files as they are now. A file that
   * already differs from those texts on disk was saved while the filter was
   * starting, before anything watched it: it gets its reload now.
   */
  private async hashInitialFiles(sources: ReadonlyMap<string, string> | undefined): Promise<void> {
    // The disk is compared only once the watcher reports changes: an edit saved
    // before that made no event, and is caught here instead.
    await this.watcher.ready;
    const baseline = await Snapshot.read(this.watched, this.readFile, sources);
    this.appliedFingerprint = baseline.fingerprint();
    this.attemptedFingerprint = this.appliedFingerprint;
    if (sources === undefined) return;
    const disk = await Snapshot.read(this.watched, this.readFile);
    for (const path of changedFiles(this.appliedFingerprint, disk.fingerprint())) this.scheduler.fileEvent(path);
  }

  trigger(reason: string): void {
    this.scheduler.signal(reason);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.scheduler.close();
    await this.watcher.close();
  }

  async whenIdle(): Promise<void> {
    await this.ready;
    await this.scheduler.whenIdle();
  }

  get stats(): ReloadStats {
    return {
      state: this.scheduler.state,
      passes: this.passes,
      outcomes: { ...this.outcomes },
      lastOutcome: this.lastOutcome,
      lastAppliedAt: this.lastAppliedAt,
      watching: [...this.watched].sort(),
    };
  }

  private async pass(request: PassRequest, signal: AbortSignal): Promise<void> {
    await this.ready;
    if (this.closed || signal.aborted) return;
    const reason = reasonOf(request);
    let outcome: ReloadOutcome;
    try {
      outcome = await this.reload(request, reason, signal);
    } catch (e) {
      // Abandoned (the compile stopped at the signal): the scheduler logged it.
      if (signal.aborted) return;
      // A bug in the compiler (it should return diagnostics, not throw) or in the
      // snapshot: the filter keeps running on the current rules.
      outcome = { kind: 'failed', reason, stage: 'compile', error: e instanceof Error ? e : new Error(String(e)) };
    }
    // Closed mid-pass: nothing was applied (see reload); say nothing.
    if (this.closed && outcome.kind !== 'applied') return;
    // Abandoned, and only now done: nothing was applied (see reload); it was logged then.
    if (signal.aborted && outcome.kind !== 'applied') return;
    this.record(outcome);
  }

  private record(outcome: ReloadOutcome): void {
    this.passes++;
    this.outcomes[outcome.kind]++;
    this.lastOutcome = outcome.kind;
    logOutcome(this.options.log, outcome);
  }

  /** After every await: a pass abandoned meanwhile must change nothing. */
  private stale(signal: AbortSignal): boolean {
    return this.closed || signal.aborted;
  }

  private async reload(request: PassRequest, reason: string, signal: AbortSignal): Promise<ReloadOutcome> {
    const snapshot = await Snapshot.read(this.watched, this.readFile);
    if (this.stale(signal)) return { kind: 'unchanged', reason, forced: request.forced, afterMissing: false };

    // A deleted rules file is almost always the first half of delete+create (or
    // a deploy in progress): wait for it rather than report a compile error.
    if (snapshot.errorCode(this.rulesFile) === 'ENOENT') {
      this.rulesMissing = true;
      return { kind: 'missing', reason, file: this.rulesFile };
    }
    const afterMissing = this.rulesMissing;
    this.rulesMissing = false;
    if (!request.forced && changedFiles(this.attemptedFingerprint, snapshot.fingerprint()).length === 0) {
      return { kind: 'unchanged', reason, forced: false, afterMissing };
    }

    const compiled = await this.compile(snapshot, signal);
    if (compiled === null || this.stale(signal)) return { kind: 'unchanged', reason, forced: request.forced, afterMissing };
    const { result, compileMs, read } = compiled;
    this.attemptedFingerprint = snapshot.fingerprint();
    const filesChanged = changedFiles(this.appliedFingerprint, snapshot.fingerprint());

    if (!result.ok) {
      // Also watch what the failed compile named: a list file named before it
      // was created is picked up as soon as it appears.
      this.setWatched(union(this.watched, [...read, ...result.files]));
      const errors = result.diagnostics.filter((d) => d.severity === 'error');
      const text = formatCompileResult(result);
      const first = errors[0] ?? result.diagnostics[0];
      return {
        kind: 'rejected',
        reason,
        compileMs,
        errors: errors.length,
        warnings: result.diagnostics.length - errors.length,
        text,
        firstError: first === undefined ? '(no diagnostic)' : headline(first),
      };
    }

    const rules = result.rules;
    const selected = this.options.selectChain(rules);
    if (!selected.ok) {
      this.setWatched(union(this.watched, [...read, ...result.files]));
      return { kind: 'refused', reason, compileMs, message: selected.error };
    }
    if (this.stale(signal)) return { kind: 'unchanged', reason, forced: request.forced, afterMissing };

    try {
      this.options.apply(rules, selected.value);
    } catch (e) {
      // Nothing was applied: the same content must be tried again on the next event.
      this.attemptedFingerprint = this.appliedFingerprint;
      return { kind: 'failed', reason, stage: 'apply', error: e instanceof Error ? e : new Error(String(e)) };
    }
    const diff = diffRules(this.current, rules);
    this.current = rules;
    this.appliedFingerprint = snapshot.fingerprint();
    this.lastAppliedAt = this.options.clock.now();
    const before = this.watched;
    this.setWatched(this.watchSetFor(rules));
    return {
      kind: 'applied',
      reason,
      chain: selected.value.name,
      compileMs,
      diff,
      filesChanged,
      watchAdded: [...this.watched].filter((f) => !before.has(f)).sort(),
      watchRemoved: [...before].filter((f) => !this.watched.has(f)).sort(),
      warnings: result.warnings.length,
      warningsText: formatCompileResult(result),
      needsRestart: rules.needsDataLine && !this.options.dataLineRegistered,
    };
  }

  /**
   * Compile from the snapshot. A list file the snapshot lacks (the new rules
   * name a file not watched so far) fails that round; it is read and the compile
   * runs again, so every byte compiled was read asynchronously and hashed.
   */
  private async compile(snapshot: Snapshot, signal: AbortSignal): Promise<{ result: CompileResult; compileMs: number; read: Set<string> } | null> {
    const { clock, log } = this.options;
    let compileMs = 0;
    for (let round = 1; ; round++) {
      const read = new Set<string>();
      const misses = new Set<string>();
      const readFile = snapshot.reader(
        (p) => read.add(p),
        (p) => misses.add(p),
      );
      log.debug({ event: 'reload-compile', round, bytes: snapshot.size() }, 'reload: files read, compiling');
      const start = clock.monotonic();
      // The path as given, so diagnostics name the file as `check` and startup do.
      const result = await this.options.compile(this.options.rulesFile, {
        readFile,
        dataLineRegistered: this.options.dataLineRegistered,
        now: () => clock.monotonic(),
        signal,
      });
      compileMs += clock.monotonic() - start;
      if (misses.size === 0 || round === MAX_COMPILE_ROUNDS) {
        return { result, compileMs: Math.round(compileMs * 10) / 10, read };
      }
      await snapshot.add(misses);
      if (this.stale(signal)) return null;
    }
  }

  private watchSetFor(rules: CompiledRules): ReadonlySet<string> {
    return new Set([this.rulesFile, ...rules.files.map((f) => resolve(f))]);
  }

  private setWatched(next: ReadonlySet<string>): void {
    const same = next.size === this.watched.size && [...next].every((f) => this.watched.has(f));
    if (same) return;
    this.watched = next;
    this.watcher.setPaths([...next].sort());
  }
}

function reasonOf(request: PassRequest): string {
  const parts = [...request.signals];
  if (request.files.length > 0) parts.push(`change: ${request.files.join(', ')}`);
  return parts.length > 0 ? parts.join('; ') : 'reload';
}

function union(a: Iterable<string>, b: Iterable<string>): ReadonlySet<string> {
  return new Set([...a, ...[...b].map((f) => resolve(f))]);
}

function headline(d: Diagnostic): string {
  return `${d.span.file}:${d.span.line}:${d.span.column}: ${d.severity}[${d.code}]: ${d.message}`;
}
