/**
 * Test keys for dkim-sign, made fresh by node:crypto: an RSA and an Ed25519
 * private key as PEM, and the DNS TXT record (`v=DKIM1; k=…; p=…`) that
 * publishes each one's public key (RFC 6376 3.6.1; RFC 8463: an Ed25519 p=
 * is the raw 32-byte key).
 */
import { generateKeyPairSync, createPublicKey } from 'node:crypto';

export interface TestKey {
  readonly pem: string;
  readonly txt: string;
}

function txtOf(pem: string, type: 'rsa' | 'ed25519'): string {
  const spki = createPublicKey(pem).export({ type: 'spki', format: 'der' });
  const p = type === 'rsa' ? spki : spki.subarray(spki.length - 32);
  return `v=DKIM1; k=${type}; p=${p.toString('base64')}`;
}

export function rsaKey(bits = 2048): TestKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { pem, txt: txtOf(pem, 'rsa') };
}

export function ed25519Key(): TestKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { pem, txt: txtOf(pem, 'ed25519') };
}
