#!/usr/bin/env node
/**
 * The filter-rules executable (package.json "bin", and the path admins put in
 * smtpd.conf). Its one job is to catch signals before anything else loads,
 * then load the program (app.ts) and exit with its status.
 *
 * Why first: smtpd exits when its filter exits, and every signal below ends a
 * Node.js process that has no handler for it (SIGUSR1 instead opens the
 * inspector, which lets any local user run code as the filter's user). An ES
 * module runs only after all of its static imports have loaded, and the
 * program's take about 250 ms (the rules compiler, pino, ...): a handler
 * installed there leaves a quarter of a second in which a SIGHUP from a log
 * rotation script stops smtpd. So this module imports nothing of ours
 * statically (test/unit/cli/signals.test.ts checks it), installs its handlers as
 * its first statements, and keeps what arrives until the program attaches.
 *
 * What remains is Node.js's own start (tens of milliseconds from exec to this
 * module's first line), when no JavaScript runs and no signal can be caught:
 * filter-rules(8) says so.
 */
import { constants } from 'node:os';

/**
 * Caught from the first line on; what each does is in signals.ts (the man
 * page's SIGNALS section lists the same). Not here: SIGKILL and SIGSTOP cannot
 * be caught; SIGPIPE and SIGXFSZ Node.js already ignores; SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL, SIGABRT, SIGTRAP and SIGSYS report a fault of the process
 * itself; SIGPROF belongs to the profiler (`node --cpu-prof`); SIGXCPU
 * enforces a CPU limit the admin set; SIGTSTP/SIGTTIN/SIGTTOU stop, they do not end.
 */
const CAUGHT = ['SIGHUP', 'SIGUSR1', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGUSR2', 'SIGALRM', 'SIGPWR', 'SIGVTALRM', 'SIGIO', 'SIGSTKFLT'] as const;

export type HandledSignal = (typeof CAUGHT)[number];

/** A signal this entry could not catch: not on this platform (SIGPWR on OpenBSD), or refused. */
export interface UncaughtSignal {
  readonly signal: HandledSignal;
  readonly reason: 'absent' | 'refused';
  readonly detail: string;
}

/** What the program gets from the entry. */
export interface SignalRelay {
  readonly caught: readonly HandledSignal[];
  readonly uncaught: readonly UncaughtSignal[];
  /**
   * From now on `listener` gets every caught signal. Those that came before are
   * passed first, each once with how many times it came, in order of arrival.
   */
  attach(listener: (signal: HandledSignal, count: number) => void): void;
  /**
   * For the commands (check, test, ...), which a person runs and stops with
   * Control-C: every caught signal but SIGUSR1 gets its default effect back,
   * and one that came before (during loading) is raised again so it has it.
   * SIGUSR1 stays caught and ignored: its default would open the inspector.
   */
  release(): void;
}

function catchSignals(): SignalRelay {
  // Counts of what came before attach(); a Map keeps the order of first arrival.
  const early = new Map<HandledSignal, number>();
  let listener: ((signal: HandledSignal, count: number) => void) | null = null;
  const caught: HandledSignal[] = [];
  const uncaught: UncaughtSignal[] = [];
  const onSignal = (signal: NodeJS.Signals): void => {
    const name = signal as HandledSignal;
    if (listener !== null) listener(name, 1);
    else early.set(name, (early.get(name) ?? 0) + 1);
  };
  for (const signal of CAUGHT) {
    // A name this platform lacks would be a plain event that never fires: say so instead.
    if (!Object.hasOwn(constants.signals, signal)) {
      uncaught.push({ signal, reason: 'absent', detail: 'not a signal on this platform' });
      continue;
    }
    try {
      process.on(signal, onSignal);
      caught.push(signal);
    } catch (error) {
      uncaught.push({ signal, reason: 'refused', detail: error instanceof Error ? error.message : String(error) });
    }
  }
  return {
    caught,
    uncaught,
    attach(next) {
      listener = next;
      const pending = [...early];
      early.clear();
      for (const [signal, count] of pending) next(signal, count);
    },
    release() {
      listener = null;
      for (const signal of caught) {
        if (signal === 'SIGUSR1') continue;
        // The last listener removed, Node.js restores the default disposition.
        process.removeListener(signal, onSignal);
        if (early.delete(signal)) process.kill(process.pid, signal);
      }
    },
  };
}

const signals = catchSignals();
let status: number;
try {
  // The one dynamic import of our own code (test/fuzz/security allows exactly this line).
  const app = await import('./app.js');
  // A signal that came while the program loaded is in libuv's queue until the event
  // loop turns, and Node.js 24 (unlike 20) loads the whole module graph without a turn.
  // Without this one, attach() would take such a SIGHUP for one sent after the start,
  // and release() (the commands) would drop a SIGTERM sent while loading, losing it.
  await new Promise((resolve) => setImmediate(resolve));
  status = await app.runCli(signals);
} catch (error) {
  process.stderr.write(`filter-rules: fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  status = 1;
}
// Exit now, even if a library left a handle open: after stdin EOF smtpd is gone.
process.exit(status);
