/**
 * Test doubles for the reload tests: compiled-rules builders, a fake watcher,
 * an in-memory file system with gated reads, and a tiny stand-in compiler
 * (the real DSL is not needed to test reload mechanics).
 *
 * Stand-in rules format, one directive per line:
 *   chain NAME: STEP; STEP          STEP = pause MS | accept | junk | reject TEXT, optional "when TEXT"
 *   list PATH                       reads PATH (relative to the rules file), adds it to files
 *   error MESSAGE / warn MESSAGE    a diagnostic at that line
 *   dataline                        the rules need data-line
 */
import { dirname, resolve } from 'node:path';
import type { CompiledChain, CompiledRules, CompiledStep, OnError, StepAction } from '../../../src/model/plan.js';
import type { CompileResult, Diagnostic } from '../../../src/dsl/index.js';
import type { RulePhase } from '../../../src/model/phases.js';
import type { Watcher, WatcherFactory, WatcherHandlers, WatchEventKind } from '../../../src/reload/watcher.js';
import type { ReloadCompile } from '../../../src/reload/reloader.js';
import { nameAndText } from '../steps/compiled.js';

export interface StepSpec {
  readonly action: StepAction;
  readonly phase?: RulePhase;
  readonly whenText?: string | null;
  readonly onError?: OnError;
  readonly line?: number;
}

export function step(spec: StepSpec, index: number, file = '/rules'): CompiledStep {
  const line = spec.line ?? index + 1;
  const whenText = spec.whenText ?? null;
  return {
    index,
    action: spec.action,
    ...nameAndText(spec.action),
    phase: spec.phase ?? 'connect',
    // A fresh closure every time: the diff must not compare predicates by identity.
    when: whenText === null ? null : () => true,
    whenText,
    span: { file, line, column: 5, endLine: line, endColumn: 30 },
    onError: spec.onError ?? 'tempfail',
  };
}

export function chain(name: string, specs: readonly StepSpec[], file = '/rules', line = 1): CompiledChain {
  const steps = specs.map((s, i) => step(s, i, file));
  const byPhase = new Map<RulePhase, CompiledStep[]>();
  for (const s of steps) byPhase.set(s.phase, [...(byPhase.get(s.phase) ?? []), s]);
  return { name, span: { file, line, column: 1, endLine: line, endColumn: 10 }, steps, stepsByPhase: byPhase };
}

export function rules(
  chains: Record<string, readonly StepSpec[]>,
  options: { files?: readonly string[]; needsDataLine?: boolean; file?: string } = {},
): CompiledRules {
  const file = options.file ?? '/rules';
  return {
    chains: new Map(Object.entries(chains).map(([name, specs], i) => [name, chain(name, specs, file, i * 10 + 1)])),
    files: options.files ?? [file],
    needsDataLine: options.needsDataLine ?? false,
  };
}

export const pause = (durationMs: number): StepAction => ({ kind: 'pause', durationMs });
export const reject = (reply: string): StepAction => ({ kind: 'reject', reply });
export const accept: StepAction = { kind: 'accept' };
export const junk: StepAction = { kind: 'junk' };

/** A watcher the test fires by hand; records every setPaths. */
export class FakeWatcher implements Watcher {
  readonly pathHistory: string[][] = [];
  closed = false;
  /** Like chokidar's initial scan: changes before it resolves make no event. Absent: ready at once. */
  declare readonly ready?: Promise<void>;
  constructor(
    public paths: readonly string[],
    private readonly handlers: WatcherHandlers,
    ready?: Promise<void>,
  ) {
    if (ready !== undefined) this.ready = ready;
  }
  setPaths(paths: readonly string[]): void {
    this.paths = [...paths];
    this.pathHistory.push([...paths]);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  emit(path: string, kind: WatchEventKind = 'change'): void {
    if (this.closed) throw new Error('event on a closed watcher');
    this.handlers.onEvent({ path, kind });
  }
  error(message: string): void {
    this.handlers.onError(new Error(message));
  }
}

export function fakeWatcherFactory(ready?: Promise<void>): { factory: WatcherFactory; get: () => FakeWatcher } {
  let watcher: FakeWatcher | null = null;
  return {
    factory: (paths, handlers) => {
      watcher = new FakeWatcher(paths, handlers, ready);
      return watcher;
    },
    get: () => {
      if (watcher === null) throw new Error('no watcher created');
      return watcher;
    },
  };
}

/** An in-memory file system. `hold()` makes reads wait until `release()`. */
export class MemoryFs {
  readonly files = new Map<string, string>();
  reads = 0;
  private gate: { promise: Promise<void>; open: () => void } | null = null;

  write(path: string, text: string): void {
    this.files.set(resolve(path), text);
  }
  remove(path: string): void {
    this.files.delete(resolve(path));
  }
  hold(): void {
    let open = (): void => {};
    const promise = new Promise<void>((r) => {
      open = r;
    });
    this.gate = { promise, open };
  }
  release(): void {
    this.gate?.open();
    this.gate = null;
  }
  readFile = async (path: string): Promise<string> => {
    this.reads++;
    // The content as of the call, delivered when the gate opens (a slow disk).
    const text = this.files.get(resolve(path));
    if (this.gate !== null) await this.gate.promise;
    if (text === undefined) {
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT', path });
    }
    return text;
  };
  readFileSync = (path: string): string => {
    const text = this.files.get(resolve(path));
    if (text === undefined) {
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT', path });
    }
    return text;
  };
}

/** Counts calls and can be told to throw. */
export interface StubCompiler {
  readonly compile: ReloadCompile;
  calls: number;
  /** Files asked for in the last call, in order. */
  lastReads: string[];
  throwNext: Error | null;
  lastDataLineRegistered: boolean | null;
  /** Runs inside compile (to fire events "during" a compile). */
  during: (() => void) | null;
}

export function stubCompiler(): StubCompiler {
  const stub: StubCompiler = {
    calls: 0,
    lastReads: [],
    throwNext: null,
    lastDataLineRegistered: null,
    during: null,
    compile: (path, options) => {
      stub.calls++;
      stub.lastReads = [];
      stub.lastDataLineRegistered = options.dataLineRegistered;
      stub.during?.();
      if (stub.throwNext !== null) {
        const e = stub.throwNext;
        stub.throwNext = null;
        throw e;
      }
      const read = (p: string): string => {
        stub.lastReads.push(p);
        return options.readFile(p);
      };
      return compileStandIn(path, read, options.dataLineRegistered);
    },
  };
  return stub;
}

export function compileStandIn(path: string, readFile: (path: string) => string, dataLineRegistered: boolean): CompileResult {
  const diagnostics: Diagnostic[] = [];
  const at = (line: number, severity: 'error' | 'warning', code: string, message: string): Diagnostic => ({
    severity,
    code,
    message,
    span: { file: path, line, column: 1, endLine: line, endColumn: 2 },
  });
  const files = [path];
  const sources = new Map<string, string>();
  const listFiles = new Set<string>();
  let text: string;
  try {
    text = readFile(path);
    sources.set(path, text);
  } catch (e) {
    return { ok: false, diagnostics: [at(1, 'error', 'E001', `cannot read ${path}: ${(e as Error).message}`)], files, sources, listFiles };
  }
  const chains = new Map<string, CompiledChain>();
  let needsDataLine = false;
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) return;
    const [head = '', ...rest] = l.split(' ');
    const arg = rest.join(' ');
    switch (head) {
      case 'error':
        diagnostics.push(at(line, 'error', 'E100', arg));
        return;
      case 'warn':
        diagnostics.push(at(line, 'warning', 'W100', arg));
        return;
      case 'dataline':
        needsDataLine = true;
        if (!dataLineRegistered) diagnostics.push(at(line, 'warning', 'W900', 'this rule needs an smtpd restart'));
        return;
      case 'list': {
        const listPath = resolve(dirname(path), arg);
        files.push(listPath);
        listFiles.add(listPath);
        try {
          sources.set(listPath, readFile(listPath));
        } catch (e) {
          diagnostics.push(at(line, 'error', 'E300', `cannot read list file ${listPath}: ${(e as Error).message}`));
        }
        return;
      }
      case 'chain': {
        const colon = arg.indexOf(':');
        if (colon === -1) {
          diagnostics.push(at(line, 'error', 'E003', 'expected "chain NAME: STEPS"'));
          return;
        }
        const name = arg.slice(0, colon).trim();
        const specs = arg
          .slice(colon + 1)
          .split(';')
          .map((s) => s.trim())
          .filter((s) => s !== '')
          .map((s): StepSpec => {
            const [body = '', when] = s.split(' when ');
            const [kind = '', ...params] = body.split(' ');
            let action: StepAction;
            if (kind === 'pause' && /^\d+$/.test(params[0] ?? '')) action = pause(Number(params[0]));
            else if (kind === 'reject') action = reject(params.join(' '));
            else if (kind === 'junk') action = junk;
            else if (kind === 'accept') action = accept;
            else {
              // Strict on purpose: a half-written file must not compile.
              diagnostics.push(at(line, 'error', 'E002', `bad step "${body}"`));
              action = accept;
            }
            return { action, whenText: when ?? null, line };
          });
        chains.set(name, chain(name, specs, path, line));
        return;
      }
      default:
        diagnostics.push(at(line, 'error', 'E001', `unknown directive "${head}"`));
    }
  });
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) return { ok: false, diagnostics, files, sources, listFiles };
  return { ok: true, rules: { chains, files, needsDataLine }, warnings: diagnostics, files, sources, listFiles };
}

/** Drain pending promise callbacks (reads resolve on microtasks / immediates). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
