/**
 * smtpd's description of a session's TLS, as `link-tls` reports it:
 * `VERSION:CIPHER:BITS` (`TLSv1.3:TLS_AES_256_GCM_SHA384:256`; 6.8 builds it
 * with ssl_to_text, 7.x with tls_to_text, same shape). Read by the policy
 * request and the `tls-version`/`tls-cipher` condition fields. Pure.
 */

export interface TlsParams {
  readonly protocol: string;
  readonly cipher: string;
  readonly keysize: number;
}

/** Split link-tls's `VERSION:CIPHER:BITS`. Null when the string has another shape. */
export function parseTlsString(tls: string): TlsParams | null {
  const first = tls.indexOf(':');
  const last = tls.lastIndexOf(':');
  if (first <= 0 || last === first) return null;
  const bits = tls.slice(last + 1);
  if (!/^[0-9]{1,5}$/.test(bits)) return null;
  return { protocol: tls.slice(0, first), cipher: tls.slice(first + 1, last), keysize: Number(bits) };
}
