/**
 * The start of the conversation (protocol.md §2): smtpd sends `config|KEY|VALUE`
 * lines and `config|ready`; we answer with register lines and `register|ready`.
 * Pure: collect config values, then compute what to register.
 *
 * What we register and why:
 *  - filter phases connect, helo, ehlo, mail-from, rcpt-to, data, commit ALWAYS:
 *    smtpd builds its chains once, so a hot reload cannot add a phase later;
 *    a phase without steps just answers proceed at once.
 *  - data-line ONLY when the startup rules need it: every registered data-line
 *    costs a round trip per message line, and smtpd 6.8 truncates filtered
 *    lines to 1997 bytes (protocol.md §5.6).
 *  - the report events that feed session facts, accept scopes, early-talker
 *    detection and cleanup. Only for smtp-in: we do not filter relays.
 */
import type { FilterPhase, ReportEventName } from '../model/phases.js';
import type { ConfigLine, OutputLine } from './types.js';

export const ALWAYS_FILTERED: readonly FilterPhase[] = [
  'connect',
  'helo',
  'ehlo',
  'mail-from',
  'rcpt-to',
  'data',
  'commit',
];

/**
 * Only what session state needs: every registered event costs smtpd a
 * formatted line and a write per occurrence, and costs us a read and a parse.
 * Not registered, because nothing reads them: tx-envelope (one per recipient),
 * tx-data, tx-commit, tx-rollback (tx-reset follows it), timeout
 * (link-disconnect follows it), link-greeting, protocol-client,
 * filter-report, filter-response.
 */
export const REPORTED_EVENTS: readonly ReportEventName[] = [
  // client address, rdns, fcrdns; the end of a session
  'link-connect',
  'link-disconnect',
  // helo name, TLS, authenticated user: facts for later phases
  'link-identify',
  'link-tls',
  'link-auth',
  // the transaction: message id, sender, accepted recipients, its end
  'tx-begin',
  'tx-mail',
  'tx-rcpt',
  'tx-reset',
  // For early-talker detection: smtpd's "Pipelining not supported" reply.
  // Nothing else reports it; the host drops every other reply unparsed.
  'protocol-server',
];

export interface SmtpdConfig {
  /** `6.8.0p2`, …; null if smtpd did not say. */
  readonly smtpdVersion: string | null;
  /** Only 7.6+ sends `config|protocol|0.7`; otherwise learned from the first report/filter line. */
  readonly protocol: string | null;
  /** `smtp-in` and/or `smtp-out`: which directions use this filter. */
  readonly subsystems: readonly string[];
  readonly admd: string | null;
  readonly sessionTimeoutSeconds: number | null;
  /** Keys this version does not know, kept for the log. */
  readonly unknownKeys: readonly string[];
}

export class HandshakeCollector {
  private smtpdVersion: string | null = null;
  private protocol: string | null = null;
  private readonly subsystems: string[] = [];
  private admd: string | null = null;
  private sessionTimeoutSeconds: number | null = null;
  private readonly unknownKeys: string[] = [];

  add(line: ConfigLine): void {
    switch (line.key) {
      case 'smtpd-version':
        this.smtpdVersion = line.value;
        return;
      case 'protocol':
        this.protocol = line.value;
        return;
      case 'subsystem':
        if (!this.subsystems.includes(line.value)) this.subsystems.push(line.value);
        return;
      case 'admd':
        this.admd = line.value;
        return;
      case 'smtp-session-timeout': {
        const n = Number(line.value);
        this.sessionTimeoutSeconds = Number.isFinite(n) ? n : null;
        return;
      }
      default:
        // Open-ended by design (smtpd adds keys over time): remember, ignore.
        if (!this.unknownKeys.includes(line.key)) this.unknownKeys.push(line.key);
    }
  }

  result(): SmtpdConfig {
    return {
      smtpdVersion: this.smtpdVersion,
      protocol: this.protocol,
      subsystems: [...this.subsystems],
      admd: this.admd,
      sessionTimeoutSeconds: this.sessionTimeoutSeconds,
      unknownKeys: [...this.unknownKeys],
    };
  }
}

export interface Registration {
  readonly filters: readonly FilterPhase[];
  readonly reports: readonly ReportEventName[];
}

export function registrationFor(needsDataLine: boolean): Registration {
  return {
    filters: needsDataLine ? [...ALWAYS_FILTERED.slice(0, -1), 'data-line', 'commit'] : [...ALWAYS_FILTERED],
    reports: [...REPORTED_EVENTS],
  };
}

/** The register lines, ending with `register|ready`. */
export function registrationLines(registration: Registration): OutputLine[] {
  return [
    ...registration.reports.map((event): OutputLine => ({ kind: 'register-report', subsystem: 'smtp-in', event })),
    ...registration.filters.map((phase): OutputLine => ({ kind: 'register-filter', subsystem: 'smtp-in', phase })),
    { kind: 'register-ready' },
  ];
}
