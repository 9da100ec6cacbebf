/**
 * dkim-sign end to end: real smtpd (E2E_SMTPD: 6.8 or 7.8), the real filter,
 * rules signing with a fresh RSA and a fresh Ed25519 key, and the message as
 * delivered to the maildir: it carries two DKIM-Signatures, and mailauth's
 * verifier, given the public keys as DNS would serve them, finds both good
 * (the body as delivered, a dot-stuffed line included, is what was signed).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import type { DialogResult } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from '../harness/env.js';
import { delivered } from '../harness/greylist.js';
import { buildMessage, mailSteps, marker, transcript } from '../harness/mail.js';
import { Smtpd } from '../harness/smtpd.js';
import { ed25519Key, rsaKey } from '../../unit/steps/dkim-sign/keys.js';

const skip = e2eSkipReason();
const RSA = rsaKey();
const ED = ed25519Key();
const TXT = new Map([
  ['rsa._domainkey.sender.example', RSA.txt],
  ['ed._domainkey.sender.example', ED.txt],
]);

describe('dkim-sign: a signed submission is delivered with signatures that verify', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;

  before(async () => {
    const rt = filterRuntime();
    const rules = [
      'chain main =',
      '    dkim-sign domain "sender.example" selector "rsa" key "rsa.key"',
      '    then dkim-sign domain "sender.example" selector "ed" key "ed.key" algorithm ed25519-sha256',
      '',
    ].join('\n');
    smtpd = await Smtpd.start({
      files: { 'dkim.rules': rules, 'rsa.key': RSA.pem, 'ed.key': ED.pem },
      filter: (work) => [rt.node, rt.resolve(FILTER_MAIN), join(work, 'dkim.rules')],
    });
  });
  after(async () => {
    await smtpd?.stop();
  });

  test('two DKIM-Signatures on top of the message, both pass with mailauth', () =>
    smtpd.withLog(async () => {
      const from = 'alice@sender.example';
      const subject = marker('dkim');
      const r: DialogResult = await smtpd.dialog({
        localAddress: '127.0.0.31',
        timeoutMs: 15_000,
        steps: mailSteps({ helo: 'mail.sender.example', from, message: buildMessage({ from, subject, body: 'signed end to end\n.leading dot\n' }) }),
      });
      assert.ok(delivered(r), transcript(r));
      const m = await smtpd.waitForMessage((x) => x.text.includes(subject));
      const raw = readFileSync(m.file, 'utf8');
      assert.equal(raw.match(/^DKIM-Signature:/gm)?.length, 2, raw);
      // Dot-stuffing kept: the line the client stuffed is delivered with its one dot, and signed so.
      assert.ok(raw.includes('\n.leading dot\n'), raw);
      const resolver = async (name: string, type: string): Promise<string[][]> => {
        const txt = TXT.get(name);
        if (type !== 'TXT' || txt === undefined) throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
        return [[txt]];
      };
      const result = await dkimVerify(raw.replace(/\r?\n/g, '\r\n'), { resolver } as never);
      assert.deepEqual(result.results.map((x) => x.status.result), ['pass', 'pass'], JSON.stringify(result.results.map((x) => x.status)));
    }));
});
