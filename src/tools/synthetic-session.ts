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
}

export const DEFAULT_SESSION: SyntheticSession = {
  src: '203.0.113.7',
  rdns: 'mx.example.net',
  fcrdns: 'pass',
  helo: 'mx.example.net',
  mailFrom: 'a@example.net',
  rcptTo: ['b@example.com'],
};
