/**
 * Checks the smtps-port guess (src/steps/pause/implicit-tls.ts) against what
 * smtpd reports once a session is past connect, and says so when they
 * disagree, once per port.
 *
 * The reports settle it: smtpd reads STARTTLS only after a HELO/EHLO
 * (smtp_check_starttls answers 503 without one), so on a plain listener
 * `link-identify` always comes before any `link-tls`; on an smtps listener
 * the handshake comes before the banner, so `link-tls` comes before any
 * `link-identify`. Reports reach the filter in smtpd's order.
 *
 * Only for rules with pregreet: elsewhere the guess decides nothing.
 */
import type { Logger } from '../support/log.js';
import type { Session } from './session.js';

export class SmtpsPortCheck {
  /** `port:tls` / `port:plain` already reported. At most two per port. */
  private readonly told = new Set<string>();

  constructor(
    private readonly smtpsPorts: ReadonlySet<number>,
    private readonly log: Logger,
  ) {}

  /** Call once per session, when `session.implicitTls` has just become known. */
  observe(session: Session): void {
    const port = session.destPort;
    const implicitTls = session.implicitTls;
    if (session.local || port === null || implicitTls === null) return;
    if (this.smtpsPorts.has(port) === implicitTls) return;
    const key = `${port}:${implicitTls ? 'tls' : 'plain'}`;
    if (this.told.has(key) || !hasPregreet(session)) return;
    this.told.add(key);
    const listed = [...this.smtpsPorts].sort((a, b) => a - b).join(',') || 'none';
    if (implicitTls) {
      this.log.warn(
        { port, session: session.id, smtpsPorts: listed },
        'sessions on this port are implicit TLS (TLS before any HELO: an smtps listener), but --smtps-ports does not name it: pregreet takes their TLS hello for early talk; add the port to --smtps-ports',
      );
    } else {
      this.log.warn(
        { port, session: session.id, smtpsPorts: listed },
        'sessions on this port speak plain SMTP first (HELO before any TLS), but --smtps-ports names it: pregreet is not applied to them; leave the port out of --smtps-ports',
      );
    }
  }
}

function hasPregreet(session: Session): boolean {
  return session.plan.watchesEarlyTalk;
}
