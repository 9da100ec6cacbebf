/**
 * Sender normalisation against postgrey's own code: postgrey 1.37's
 * `do_sender_substitutions`, cut out of /usr/sbin/postgrey and run by perl
 * with postgrey's `lc` after it (postgrey lower-cases the whole key), over
 * the stream's sender families and a seeded corpus of odd addresses (BATV
 * look-alikes in every case, `=` and `+` in odd places, numbers, non-ASCII,
 * several `@`). Every address must come out exactly as postgrey makes it,
 * except SRS addresses: folding their hash and timestamp is our addition.
 *
 * Needs perl and the postgrey package (not root); skipped otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { normalizeSender, unwrapSrs } from '../../../src/greylist/sender.js';
import { mulberry32 } from '../../unit/support/prng.js';
import { POSTGREY } from '../policy/postgrey.js';
import { sampleSenders } from './decision-stream.js';

function perlAvailable(): boolean {
  try {
    execFileSync('perl', ['-e', '1'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

const skip = !existsSync(POSTGREY) ? `${POSTGREY} not installed` : !perlAvailable() ? 'no perl' : null;

/** postgrey's function, verbatim from the installed script. */
function postgreySubstitutions(): string {
  const source = readFileSync(POSTGREY, 'utf8');
  const sub = /^sub do_sender_substitutions\(\$\$\)\n\{\n[\s\S]*?\n\}\n/m.exec(source)?.[0];
  if (sub === undefined) throw new Error(`no "sub do_sender_substitutions" in ${POSTGREY}`);
  return sub;
}

/** Runs postgrey's normalisation + lc over the addresses, as bytes (as postgrey reads them). */
function postgreyNormalize(addresses: readonly string[]): string[] {
  const script = [
    'use strict; use warnings; no warnings "uninitialized";',
    postgreySubstitutions(),
    'binmode STDIN; binmode STDOUT;',
    'while (my $a = <STDIN>) { chomp $a; print lc(do_sender_substitutions(undef, $a)), "\\n"; }',
  ].join('\n');
  const out = execFileSync('perl', ['-e', script], { input: Buffer.from(addresses.map((a) => `${a}\n`).join(''), 'utf8'), maxBuffer: 64 << 20 });
  const lines = out.toString('utf8').split('\n');
  lines.pop();
  if (lines.length !== addresses.length) throw new Error(`perl gave ${lines.length} lines for ${addresses.length} addresses`);
  return lines;
}

/** Addresses built from pieces that sit on the rules' edges. */
function oddAddresses(seed: number, n: number): string[] {
  const r = mulberry32(seed);
  const pick = (xs: readonly string[]): string => xs[Math.floor(r() * xs.length)] as string;
  const token = (): string => {
    const len = Math.floor(r() * 15);
    const alphabet = pick(['0123456789abcdef', 'abcdefghijklmnopqrstuvwxyz0123456789', 'ABCDEF0123456789', 'aBc1', 'xé9Ö']);
    let s = '';
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(r() * alphabet.length)];
    return s;
  };
  const piece = (): string => pick(['prvs=', 'PRVS=', 'Prvs=', 'prvs', '=', '==', '+', '-', '.', '_', '12', '0', '2024', 'Ä', 'ö', '\u212A', 'x', token(), token()]);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let local = '';
    const shape = Math.floor(r() * 4);
    if (shape === 0) local = `${pick(['prvs', 'PRVS', 'pRvs'])}=${token()}=${token()}`;
    else if (shape === 1) local = `prvs=${token()}=${token()}${pick(['', '=', '=x', '+ext', '+1'])}`;
    else {
      const parts = 1 + Math.floor(r() * 6);
      for (let j = 0; j < parts; j++) local += piece();
    }
    const domain = pick(['example.org', 'Example.ORG', 'mx1.123.example', 'exämple.de', 'EXÄMPLE.DE', 'a@b.example', '']);
    out.push(pick(['', '', '', '', 'MAILER-DAEMON']) === '' ? `${local}@${domain}` : local);
  }
  return out;
}

test('sender normalisation equals postgrey 1.37 do_sender_substitutions + lc, SRS aside', { skip: skip ?? false }, () => {
  const corpus = [...new Set([...sampleSenders(7, 3000), ...oddAddresses(11, 6000)])];
  const theirs = postgreyNormalize(corpus);
  const srs: string[] = [];
  const diffs: string[] = [];
  corpus.forEach((address, i) => {
    const at = address.indexOf('@');
    if (at >= 0 && unwrapSrs(address.slice(0, at)) !== address.slice(0, at)) {
      srs.push(address);
      return;
    }
    const ours = normalizeSender(address);
    if (ours !== theirs[i]) diffs.push(`  ${JSON.stringify(address)}: ours ${JSON.stringify(ours)}, postgrey ${JSON.stringify(theirs[i])}`);
  });
  assert.equal(diffs.length, 0, `${diffs.length} of ${corpus.length} addresses normalised differently:\n${diffs.slice(0, 20).join('\n')}`);
  // The corpus must reach every rule: both BATV orders, the coin, PRVS= left alone, numbers, non-ASCII kept.
  const reached = (p: (a: string, n: string) => boolean): number => corpus.filter((a) => p(a, normalizeSender(a))).length;
  const coverage = {
    batvTagFirst: reached((a, n) => a.startsWith('prvs=') && !n.startsWith('prvs=') && a.includes(`=${n.split('@')[0]}@`)),
    batvSwapped: reached((a, n) => a.startsWith('prvs=') && !n.startsWith('prvs=') && a.startsWith(`prvs=${n.split('@')[0]}=`)),
    prvsUpperKept: reached((a, n) => a.startsWith('PRVS=') && n.startsWith('prvs=')),
    numbers: reached((_a, n) => n.includes('#')),
    nonAscii: reached((a, n) => /[ÄÖ]/.test(a) && /[ÄÖ]/.test(n)),
    srsSkipped: srs.length,
  };
  for (const [what, count] of Object.entries(coverage)) assert.ok(count > 0, `the corpus never reached "${what}": ${JSON.stringify(coverage)}`);
  console.log(`# ${corpus.length - srs.length} addresses agree with postgrey's code (${srs.length} SRS left out): ${JSON.stringify(coverage)}`);
});
