/**
 * Envelope sender → the form stored in a greylist triplet.
 *
 * Mailing lists and bounce-address schemes put a fresh tag into every
 * sender, which would make every message a "new" triplet and greylist it
 * forever. Postgrey 1.37 (do_sender_substitutions) folds those tags away; we
 * do exactly the same, in the same order, plus SRS, which postgrey leaves
 * alone:
 *
 *   1. SRS (our addition): `SRS0=HHH=TT=orig.example=user@fwd` → `srs0=orig.example=user@fwd`
 *      and `SRS1=HHH=fwd1==HHH=TT=orig=user@fwd2` → `srs1=fwd1==orig=user@fwd2`: hash and
 *      timestamp change daily, the forwarder and the original sender do not.
 *      Recognised in any case (forwarders write `SRS0`). Postgrey keys the whole
 *      address, so it greylists an SRS sender again when the forwarder's day changes.
 *   2. BATV `prvs=TAG=user` (or the swapped `prvs=user=TAG`) → `user`, where TAG
 *      starts with 10 characters `[0-9a-z]`. As in postgrey, both are matched on
 *      the address as sent, before lower-casing: `PRVS=…` is not BATV, and an
 *      upper-case tag is not a tag (the other part then decides, see unwrapBatv).
 *   3. Drop a `+extension` (VERP on lists).
 *   4. Every stand-alone number (`\b\d+\b`, ASCII digits) → `#`.
 *   5. ASCII lower case, as postgrey's `lc` on the key (it sees bytes, so it
 *      lower-cases A–Z only; `Ö` stays `Ö`, as it does in postgrey).
 *
 * The null sender and addresses without `@` keep only step 5.
 * test/integration/greylist/postgrey-differential.test.ts runs postgrey's own
 * Perl function over a generated corpus and compares it with this one.
 */
import { lowerAscii } from './lower.js';

/** BATV tag-val as postgrey recognises it: 10 characters `[0-9a-z]` (K DDD SSSSSS), case-sensitive. */
const BATV_TAG = /^[0-9a-z]{10}/;

/** Perl's `split(/=/, $s)`: trailing empty fields are dropped. */
function perlSplitEquals(s: string): string[] {
  const parts = s.split('=');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** The SRS rewrite with its volatile fields dropped; the prefix comes out as `srs0=`/`srs1=` after lower-casing. */
export function unwrapSrs(user: string): string {
  const srs0 = /^srs0[=+-][^=]*=[^=]*=(.+)$/i.exec(user);
  if (srs0) return `srs0=${srs0[1] ?? ''}`;
  const srs1 = /^srs1[=+-][^=]*=([^=]+)=[=+-][^=]*=[^=]*=(.+)$/i.exec(user);
  if (srs1) return `srs1=${srs1[1] ?? ''}==${srs1[2] ?? ''}`;
  return user;
}

function unwrapBatv(user: string): string {
  // postgrey: `$user =~ /^prvs=/`, no /i, on the address as sent.
  if (!user.startsWith('prvs=')) return user;
  const parts = perlSplitEquals(user);
  if (parts.length !== 3) return user;
  const a = parts[1] ?? '';
  const b = parts[2] ?? '';
  if (BATV_TAG.test(a) && !BATV_TAG.test(b)) return b;
  // The swapped order. Also what an upper-case tag before a long lower-case
  // user gives: `prvs=0123ABCDEF=someuser1234` → `0123ABCDEF`, as in postgrey.
  if (BATV_TAG.test(b) && !BATV_TAG.test(a)) return a;
  // Neither or both look like a tag: postgrey "throws a coin, picks the
  // standard" order prvs=tag=user.
  return b;
}

export function normalizeSender(address: string): string {
  // postgrey: split(/@/, $addr, 2), so the first @ splits.
  const at = address.indexOf('@');
  if (at < 0) return lowerAscii(address);
  const domain = address.slice(at + 1);
  let user = address.slice(0, at);
  user = unwrapSrs(user);
  user = unwrapBatv(user);
  user = user.replace(/\+.*/s, '');
  user = user.replace(/\b\d+\b/g, '#');
  return lowerAscii(`${user}@${domain}`);
}
