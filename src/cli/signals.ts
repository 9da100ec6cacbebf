/**
 * What the filter does with each signal the entry (main.ts) catches. smtpd
 * exits when its filter exits, so no signal but SIGKILL ends the filter: it
 * stops when smtpd closes its standard input, which smtpd does as it stops.
 *
 *   SIGHUP      reload the rules now (one pass for any that came while starting)
 *   SIGUSR1     nothing (no log file to reopen: logs go to stderr); the
 *               Node.js inspector it would open stays off
 *   the rest    logged and ignored (SIGTERM, SIGINT, SIGQUIT, SIGUSR2, ...)
 *
 * Logged at most 20 times a minute per signal (LogThrottle), so a loop sending
 * signals cannot flood the mail log. filter-rules(8), SIGNALS, says the same.
 */
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { LogThrottle } from '../support/log-throttle.js';
import type { HandledSignal } from './main.js';

export type SignalEffect = 'reload' | 'nothing-to-reopen' | 'ignored';

/** Every signal the entry catches, and its effect (a new one there fails to compile until it is listed here). */
export const SIGNAL_EFFECTS: Readonly<Record<HandledSignal, SignalEffect>> = {
  SIGHUP: 'reload',
  SIGUSR1: 'nothing-to-reopen',
  SIGTERM: 'ignored',
  SIGINT: 'ignored',
  SIGQUIT: 'ignored',
  SIGUSR2: 'ignored',
  SIGALRM: 'ignored',
  SIGPWR: 'ignored',
  SIGVTALRM: 'ignored',
  SIGIO: 'ignored',
  SIGSTKFLT: 'ignored',
};

export interface SignalResponderOptions {
  readonly log: Logger;
  readonly clock: Clock;
}

export class SignalResponder {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly throttles = new Map<HandledSignal, LogThrottle>();
  private reload: ((reason: string) => void) | null = null;
  /** A SIGHUP came before the reloader existed: one pass once it does. */
  private reloadDue = false;

  constructor(options: SignalResponderOptions) {
    this.log = options.log;
    this.clock = options.clock;
  }

  /** `count` > 1: it came that many times before the logger existed. */
  received(signal: HandledSignal, count: number): void {
    const effect = SIGNAL_EFFECTS[signal];
    const fields = { event: 'signal', signal, ...(count > 1 ? { count } : {}) };
    switch (effect) {
      case 'reload':
        if (this.reload !== null) {
          // The reloader logs the pass ("rules reloaded (SIGHUP) ...").
          this.reload(signal);
        } else if (!this.reloadDue) {
          this.reloadDue = true;
          this.log.info(fields, `${signal} while starting: the rules are reloaded once the filter runs`);
        }
        return;
      case 'nothing-to-reopen':
        this.throttle(signal).warn(
          fields,
          `${signal} ignored: there is no log file to reopen (the filter logs to stderr, which smtpd writes to its log), and the Node.js inspector stays off`,
        );
        return;
      case 'ignored':
        this.throttle(signal).warn(
          fields,
          `${signal} ignored: the filter keeps answering smtpd and exits when smtpd closes its input (smtpd would stop if its filter exited)`,
        );
        return;
      default: {
        const never: never = effect;
        throw new Error(`unknown signal effect ${String(never)}`);
      }
    }
  }

  /** The reloader is up: SIGHUP reloads through `reload` (now, once, if one came while starting). */
  reloadWith(reload: (reason: string) => void): void {
    this.reload = reload;
    if (!this.reloadDue) return;
    this.reloadDue = false;
    reload('SIGHUP');
  }

  private throttle(signal: HandledSignal): LogThrottle {
    let t = this.throttles.get(signal);
    if (t === undefined) {
      t = new LogThrottle(this.clock, this.log);
      this.throttles.set(signal, t);
    }
    return t;
  }
}
