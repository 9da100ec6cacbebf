/**
 * A DKIM private key, checked when the rules are compiled: it must be a PEM
 * private key of the type the algorithm signs with (RSA for rsa-sha256, of
 * 1024 bits at least as RFC 8301 asks; Ed25519 for ed25519-sha256). node:crypto
 * parses it; nothing here does I/O.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

export const MIN_RSA_BITS = 1024;

export type KeyCheck = { readonly ok: true; readonly key: KeyObject } | { readonly ok: false; readonly message: string; readonly hint?: string };

/** The key in `pem`, or why it cannot sign with `algorithm`. The message never quotes the text: it is a secret. */
export function checkSigningKey(pem: string, algorithm: DkimAlgorithm): KeyCheck {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    return { ok: false, message: 'is not a PEM private key', hint: 'an unencrypted PEM key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY), e.g. from `openssl genpkey`' };
  }
  const type = key.asymmetricKeyType;
  switch (algorithm) {
    case 'rsa-sha256': {
      if (type !== 'rsa') return { ok: false, message: `is an ${type ?? 'unknown'} key, not an RSA key`, hint: 'rsa-sha256 signs with an RSA key; an Ed25519 key takes `algorithm ed25519-sha256`' };
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS) return { ok: false, message: `is an RSA key of ${bits} bits`, hint: `RFC 8301: verifiers ignore signatures by RSA keys under ${MIN_RSA_BITS} bits (2048 is usual)` };
      return { ok: true, key };
    }
    case 'ed25519-sha256':
      if (type !== 'ed25519') return { ok: false, message: `is an ${type ?? 'unknown'} key, not an Ed25519 key`, hint: 'ed25519-sha256 signs with an Ed25519 key; an RSA key takes `algorithm rsa-sha256` (the default)' };
      return { ok: true, key };
  }
}
