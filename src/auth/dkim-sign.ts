/**
 * One DKIM signature (RFC 6376, relaxed/relaxed) over a message, through
 * mailauth's signer: the DKIM-Signature field's value, folded as mailauth
 * folds it, or a thrown error (mailauth reports its own as a list; the
 * first is raised, so the step's on-error answers). The message is the
 * stream of its bytes, lines ended by CRLF, unstuffed.
 */
import type { Readable } from 'node:stream';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';

export interface SignRequest {
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: 'rsa-sha256' | 'ed25519-sha256';
  /** The private key as PEM (mailauth reads PEM text). */
  readonly privateKeyPem: string;
  /** t=, from the injected clock. */
  readonly signTime: Date;
}

export const SIGNATURE_FIELD = 'DKIM-Signature';

/** The value of the DKIM-Signature field (after `DKIM-Signature:`), lines joined by CRLF. */
export async function signMessage(message: Readable, request: SignRequest): Promise<string> {
  // One signature per call: mailauth signs the entries of signatureData (its top-level key options are only defaults).
  const signature = { signingDomain: request.domain, selector: request.selector, privateKey: request.privateKeyPem, algorithm: request.algorithm, canonicalization: 'relaxed/relaxed' };
  const result = await dkimSign(message, { ...signature, signTime: request.signTime, signatureData: [signature] });
  const first = result.errors?.[0] as { err?: unknown } | undefined;
  if (first !== undefined) throw first.err instanceof Error ? first.err : new Error(`DKIM signing failed: ${JSON.stringify(first)}`);
  const field = result.signatures.replace(/\r\n$/, '');
  const prefix = `${SIGNATURE_FIELD}:`;
  if (!field.toLowerCase().startsWith(prefix.toLowerCase()) || field.includes('\r\n\r\n')) throw new Error('DKIM signing gave no signature');
  return field.slice(prefix.length).replace(/^[ \t]+/, '');
}
