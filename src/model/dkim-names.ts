/**
 * The names a `dkim-sign` step is written with: the signing domain (`d=`)
 * and the selector (`s=`), held to what DNS and RFC 6376 allow, so a typo is
 * a located error in `check` rather than signatures nobody can verify. Pure.
 */
import { bad, good, type Parsed } from '../support/result.js';

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function labelsOk(name: string): boolean {
  return name.split('.').every((l) => LABEL.test(l));
}

/** A signing domain: a DNS name of two labels or more, without a trailing dot, at most 253 octets. */
export function parseSigningDomain(text: string): Parsed<string> {
  const name = text.toLowerCase();
  if (name.length > 253 || !name.includes('.') || !labelsOk(name)) {
    return bad(`"${text}" is not a signing domain`, 'the domain the signature is made for (d=), a DNS name such as "example.org", without a trailing dot');
  }
  return good(name);
}

/** A selector: one or more DNS labels (RFC 6376 3.1); `S._domainkey.D` must stay a DNS name. */
export function parseSelector(text: string): Parsed<string> {
  if (text.length === 0 || text.length > 63 || !labelsOk(text)) {
    return bad(`"${text}" is not a DKIM selector`, 'letters, digits and `-`, in labels separated by dots: "mail2026"');
  }
  return good(text);
}

/** A key file's path as written: not empty, no NUL. Read later, relative to the rules file. */
export function parseKeyPath(text: string): Parsed<string> {
  if (text === '' || text.includes('\0')) return bad('the key file name is empty or holds a NUL byte', 'the path of a PEM private key: "/etc/mail/dkim/mail2026.key"');
  return good(text);
}
