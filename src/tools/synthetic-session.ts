/**
 * The client `filter-rules test` plays: what smtpd would report about it.
 * Defaults describe a well-behaved client, so each option changes one thing.
 */
export interface SyntheticSession {
  /** Client IP address (IPv4 or IPv6, no port). */
  readonly src: string;
  /** PTR name; null: smtpd found none (`<unknown>`). */
  readonly rdns: string | null;
  readonly fcrdns: 'pass' | 'fail' | 'error';
  readonly helo: string;
  /** "" is the null sender (`MAIL FROM:<>`). */
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  /**
   * STARTTLS after the first EHLO: smtpd's `VERSION:CIPHER:BITS` for the
   * handshake (link-tls), then a second EHLO; null: the session stays plain.
   */
  readonly tls: string | null;
  /** AUTH after TLS that smtpd says `pass` for (link-auth), as this user; null: no AUTH. */
  readonly authUser: string | null;
}

/** What `--tls` alone plays: TLS 1.3 as smtpd 7.8 reports it with OpenSSL 3. */
export const DEFAULT_TLS = 'TLSv1.3:TLS_AES_256_GCM_SHA384:256';

export const DEFAULT_SESSION: SyntheticSession = {
  src: '203.0.113.7',
  rdns: 'mx.example.net',
  fcrdns: 'pass',
  helo: 'mx.example.net',
  mailFrom: 'a@example.net',
  rcptTo: ['b@example.com'],
  tls: null,
  authUser: null,
};
