/**
 * Implicit TLS (smtpd.conf `listen on … smtps`, port 465 by default) and the
 * pregreet check: on such a listener the client speaks first BY DESIGN (its
 * TLS ClientHello, RFC 8314 §3.3), so bytes queued before the banner say
 * nothing about an early talker, and pregreet must not be applied there.
 *
 * What smtpd does on an smtps listener (read in OpenSMTPD 7.8.0p1,
 * usr.sbin/smtpd/smtp_session.c; 6.8.0p2 is the same apart from names):
 *
 *  1. smtp_session() puts the new socket in write-only mode (io_set_write):
 *     nothing is read from the client, not even the ClientHello.
 *  2. After the rDNS lookups, smtp_connected() sends the `link-connect`
 *     report and runs the `connect` filter phase
 *     (smtp_filter_phase(FILTER_CONNECT, …)). Nothing about TLS has happened.
 *  3. Only when the filters proceed, smtp_proceed_connected() starts TLS on
 *     F_SMTPS listeners: smtp_tls_init() → io_set_read + io_accept_tls (6.8:
 *     smtp_cert_init() → smtp_cert_init_cb() → io_start_tls). Otherwise it
 *     sends the banner.
 *  4. When the handshake is done, smtp_io(IO_TLSREADY) sends the `link-tls`
 *     report, then smtp_tls_started() (6.8: smtp_cert_verify() →
 *     smtp_tls_verified()) sends the banner, through TLS, on F_SMTPS.
 *
 * So the filter sees `link-connect`, the connect request (our pause runs
 * here), then after our answer `link-tls`, then the banner's reports. No
 * `link-tls` ever comes before the connect request: "TLS already on" cannot
 * tell the two listeners apart, and the filter protocol says nothing else
 * about the listener (no flags in `link-connect`, only its address and
 * port). During the pause the kernel holds the client's ClientHello (a few
 * hundred bytes, in the clear but not SMTP) in the socket's receive queue;
 * /proc/net/tcp shows it as rx_queue > 0, exactly like an early talker's
 * `EHLO`. Hence a refusal to every client, and in plain text (smtpd writes a
 * connect-phase reply before any TLS).
 *
 * The rule therefore goes by the listener's port, the one thing known at
 * connect: sessions whose destination port is an smtps port (465 unless the
 * filter is told otherwise, --smtps-ports) get no early-talk check. The rest
 * of the watch still holds there: a client that hangs up (CLOSE_WAIT, or the
 * row gone) has still hung up, whatever it sent before. The guess is checked
 * afterwards against what smtpd reports (src/runtime/smtps-check.ts).
 */
import type { SessionFacts } from '../../model/plan.js';
import { err, ok, type Result } from '../../support/result.js';

/** smtpd's default port for `smtps` listeners (parse.y, create_if_listener) and RFC 8314's. */
export const SMTPS_DEFAULT_PORT = 465;

export const DEFAULT_SMTPS_PORTS: ReadonlySet<number> = new Set([SMTPS_DEFAULT_PORT]);

/** Does this session's client speak first by design (implicit TLS), as far as the listener's port tells? */
export function isImplicitTls(facts: Pick<SessionFacts, 'local' | 'destPort'>, smtpsPorts: ReadonlySet<number>): boolean {
  return !facts.local && facts.destPort !== null && smtpsPorts.has(facts.destPort);
}

/**
 * `--smtps-ports`: `465`, `465,10465`, or `none` (no smtps listener: pregreet
 * applies everywhere). Sorted and without repeats.
 */
export function parseSmtpsPorts(text: string): Result<readonly number[], string> {
  const trimmed = text.trim();
  if (trimmed === 'none') return ok([]);
  if (trimmed === '') return err('--smtps-ports needs ports (465,10465) or none');
  const ports = new Set<number>();
  for (const part of trimmed.split(',')) {
    const p = part.trim();
    const n = /^[0-9]{1,5}$/.test(p) ? Number(p) : NaN;
    if (!(n >= 1 && n <= 65535)) return err(`--smtps-ports: "${p}" is not a port (1-65535); write e.g. 465,10465 or none`);
    ports.add(n);
  }
  return ok([...ports].sort((a, b) => a - b));
}
