/**
 * Envelope sender → the form stored in a greylist triplet.
 *
 * Mailing lists and bounce-address schemes put a fresh tag into every
 * sender, which would make every message a "new" triplet and greylist it
 * forever. Postgrey (do_sender_substitutions) folds those tags away; we do the
 * same, in the same order, plus SRS, which postgrey leaves alone:
 *
 *   1. SRS (our addition): `SRS0=HHH=TT=orig.example=user@fwd` → `srs0=orig.example=user@fwd`
 *      and `SRS1=HHH=fwd1==HHH=TT=orig=user@fwd2` → `srs1=fwd1==orig=user@fwd2`: hash and
 *      timestamp change daily, the forwarder and the original sender do not.
 *   2. BATV `prvs=TAG=user` (or the swapped `prvs=user=TAG`) → `user`.
 *   3. Drop a `+extension` (VERP on lists).
 *   4. Every stand-alone number (`\b\d+\b`) → `#`.
 *
 * The result is lower case (postgrey lower-cases the whole key). We lower-case
 * first, so `PRVS=` and upper-case tags are recognised too. The null sender
 * and addresses without `@` are returned as they are (lower-cased).
 */

/** BATV tag-val as postgrey recognises it: 10 characters `[0-9a-z]` (K DDD SSSSSS). */
const BATV_TAG = /^[0-9a-z]{10}/;

/** Perl's `split(/=/, $s)`: trailing empty fields are dropped. */
function perlSplitEquals(s: string): string[] {
  const parts = s.split('=');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function unwrapSrs(user: string): string {
  const srs0 = /^srs0[=+-][^=]*=[^=]*=(.+)$/.exec(user);
  if (srs0) return `srs0=${srs0[1] ?? ''}`;
  const srs1 = /^srs1[=+-][^=]*=([^=]+)=[=+-][^=]*=[^=]*=(.+)$/.exec(user);
  if (srs1) return `srs1=${srs1[1] ?? ''}==${srs1[2] ?? ''}`;
  return user;
}

function unwrapBatv(user: string): string {
  if (!user.startsWith('prvs=')) return user;
  const parts = perlSplitEquals(user);
  if (parts.length !== 3) return user;
  const a = parts[1] ?? '';
  const b = parts[2] ?? '';
  if (BATV_TAG.test(a) && !BATV_TAG.test(b)) return b;
  if (BATV_TAG.test(b) && !BATV_TAG.test(a)) return a;
  // Ambiguous: postgrey "throws a coin, picks the standard" order prvs=tag=user.
  return b;
}

export function normalizeSender(address: string): string {
  const lower = address.toLowerCase();
  const at = lower.indexOf('@');
  if (at < 0) return lower;
  const domain = lower.slice(at + 1);
  let user = lower.slice(0, at);
  user = unwrapSrs(user);
  user = unwrapBatv(user);
  user = user.replace(/\+.*/s, '');
  user = user.replace(/\b\d+\b/g, '#');
  return `${user}@${domain}`;
}
