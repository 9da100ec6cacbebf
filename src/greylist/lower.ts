/**
 * Lower case for greylist keys, as postgrey's `lc` does it: A–Z only.
 *
 * postgrey reads the policy request as bytes, and Perl's `lc` on a byte
 * string leaves everything outside ASCII alone. JavaScript's toLowerCase is
 * Unicode's: it would fold `Ö` to `ö` and even the Kelvin sign `K` to an ASCII
 * `k`, giving two different addresses one key where postgrey keeps two.
 * (Local parts are case-sensitive by RFC 5321 anyway; only the ASCII folding
 * is common practice.)
 */
export function lowerAscii(text: string): string {
  return text.replace(/[A-Z]+/g, (run) => run.toLowerCase());
}
