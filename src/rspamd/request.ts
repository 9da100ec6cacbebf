/**
 * The HTTP headers of a /checkv2 request: what rspamd knows of the SMTP
 * session besides the message (rspamd's protocol, "HTTP headers"). Pure.
 *
 * - `IP`: not for smtpd's local socket (no address: rspamd would take none
 *   as 127.0.0.1 and skip its IP rules, or worse, score the local client).
 * - `Hostname`: only when smtpd verified the client's name (FCrDNS pass):
 *   an unverified PTR is the client's own word.
 * - `Helo`, `From` (`<>` for the null sender), one `Rcpt` per recipient,
 *   `Deliver-To` when there is exactly one, `Queue-Id`, `User` when the
 *   client authenticated, `MTA-Name`, `TLS-Version` and `TLS-Cipher` from
 *   link-tls, `Settings-ID` when the step names one.
 *
 * Values come from the client (HELO, addresses) and go into HTTP header
 * lines: controls are dropped, so a value can never start a header of its own.
 */
import type { SessionFacts } from '../model/plan.js';

export interface RequestOptions {
  readonly mtaName: string;
  readonly settingsId?: string | undefined;
}

/** Header name → value, or values (one line each, `Rcpt`). */
export type RequestHeaders = Record<string, string | string[]>;

/** What an HTTP header value may hold: visible ASCII, SP, HTAB, and 8-bit (node:http refuses CR, LF and NUL). */
const UNSAFE = /[\x00-\x08\x0a-\x1f\x7f]/g;
/** node:http takes latin1 header values: anything wider is sent percent-escaped as rspamd's URL decoder reads it. */
const WIDE = /[^\x00-\xff]/g;

export function headerValue(text: string): string {
  return text.replace(UNSAFE, ' ').replace(WIDE, (c) => encodeURIComponent(c)).trim();
}

export function requestHeaders(facts: SessionFacts, options: RequestOptions): RequestHeaders {
  const h: RequestHeaders = {};
  if (!facts.local && facts.src !== '') h['IP'] = facts.src;
  if (facts.fcrdns === 'pass' && facts.rdns !== null && facts.rdns !== '') h['Hostname'] = headerValue(facts.rdns);
  if (facts.helo !== null && facts.helo !== '') h['Helo'] = headerValue(facts.helo);
  if (facts.mailFrom !== null) h['From'] = facts.mailFrom === '' ? '<>' : `<${headerValue(facts.mailFrom)}>`;
  if (facts.recipients.length > 0) {
    h['Rcpt'] = facts.recipients.map((r) => `<${headerValue(r)}>`);
    if (facts.recipients.length === 1) h['Deliver-To'] = headerValue(facts.recipients[0] as string);
  }
  if (facts.messageId !== null) h['Queue-Id'] = headerValue(facts.messageId);
  if (facts.authUser !== null) h['User'] = headerValue(facts.authUser);
  if (options.mtaName !== '') h['MTA-Name'] = headerValue(options.mtaName);
  const tls = tlsOf(facts.tls);
  if (tls !== null) {
    h['TLS-Version'] = tls.version;
    h['TLS-Cipher'] = tls.cipher;
  }
  if (options.settingsId !== undefined) h['Settings-ID'] = headerValue(options.settingsId);
  return h;
}

/** link-tls's `VERSION:CIPHER:BITS`. */
function tlsOf(tls: string | null): { version: string; cipher: string } | null {
  if (tls === null) return null;
  const [version, cipher] = tls.split(':');
  if (version === undefined || version === '' || cipher === undefined || cipher === '') return null;
  return { version: headerValue(version), cipher: headerValue(cipher) };
}
