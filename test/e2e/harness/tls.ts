/**
 * smtpd.conf pieces for TLS and AUTH listeners (only smtpd 7.x can do TLS here:
 * env.ts tlsSmtpd()), checked on this machine (testing-notes.md):
 *
 *   pki NAME cert "…" / pki NAME key "…"      a self-signed certificate (openssl)
 *   table creds file:…                        lines `user:HASH`, HASH from PREFIX/libexec/opensmtpd/encrypt
 *   listen on … tls pki NAME auth-optional <creds> filter "rules"
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { SmtpdBinary } from './env.js';

/** The certificate's name and CN; clients see it in the handshake. */
export const PKI_NAME = 'mail.test';

/**
 * A self-signed certificate and its key in `dir` (smtpd wants the key at most 0600),
 * and the two `pki` lines that name them.
 */
export function makePki(dir: string, name = PKI_NAME): string[] {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], { stdio: 'pipe' });
  chmodSync(key, 0o600);
  return [`pki ${name} cert "${cert}"`, `pki ${name} key "${key}"`];
}

/**
 * A credentials table for `auth` / `auth-optional`: `dir/creds` with one `user:HASH`
 * line per user, hashed by that smtpd's own `encrypt` helper (PREFIX/libexec/opensmtpd,
 * next to PREFIX/sbin/smtpd), and the `table` line that declares it.
 */
export function makeCreds(smtpd: SmtpdBinary, dir: string, users: Readonly<Record<string, string>>, table = 'creds'): string[] {
  const encrypt = join(dirname(dirname(smtpd.binary)), 'libexec', 'opensmtpd', 'encrypt');
  const lines = Object.entries(users).map(([user, password]) => `${user}:${execFileSync(encrypt, [password], { encoding: 'utf8' }).trim()}`);
  const file = join(dir, table);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return [`table ${table} file:${file}`];
}
