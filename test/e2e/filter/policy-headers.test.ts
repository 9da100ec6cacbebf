/**
 * A policy server's PREPEND with control characters or bytes that are not
 * UTF-8 (issue 10, item 11), end to end: real smtpd (E2E_SMTPD: 6.8 or 7.8), the real filter as
 * `opensmtpd`, a policy server process (the scripted one of
 * test/integration/faults) on a unix socket mounted at /run/policy inside
 * smtpd's namespace, and the message as delivered to the maildir, read as
 * bytes.
 *
 * The delivered header must be a clean RFC 5322 field: VT, FF, ESC, DEL and
 * C1 controls become spaces (HTAB and UTF-8 text stay); a PREPEND whose
 * bytes are not UTF-8 is not added at all (never U+FFFD in a header), and
 * the message is still delivered.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyServerProcess } from '../../integration/faults/live.js';
import type { DialogResult } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime, makeOpenTempDir } from '../harness/env.js';
import { delivered } from '../harness/greylist.js';
import { buildMessage, mailSteps, marker, transcript } from '../harness/mail.js';
import { Smtpd, type DeliveredMessage } from '../harness/smtpd.js';

const skip = e2eSkipReason();
const SOCKET_DIR = '/run/policy';

/** `PREPEND ` and then these bytes, as the server's action. */
function prepend(bytes: Buffer): string {
  return `hex:${Buffer.concat([Buffer.from('PREPEND '), bytes]).toString('hex')}`;
}

/** The header block of a delivered file, as bytes (up to the first empty line). */
function headerBytes(m: DeliveredMessage): Buffer {
  const raw = readFileSync(m.file);
  const end = raw.indexOf('\n\n');
  return end < 0 ? raw : raw.subarray(0, end + 1);
}

describe('PREPEND from a policy server reaches the delivered message as a clean header', { skip: skip ?? false }, () => {
  let dir: string;
  let server: PolicyServerProcess;
  let smtpd: Smtpd;

  before(async () => {
    dir = makeOpenTempDir('filter-rules-e2e-policy-');
    server = await PolicyServerProcess.start(join(dir, 'policy.sock'), 'DUNNO');
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      files: { 'policy.rules': `chain main = policy unix:${SOCKET_DIR}/policy.sock timeout 5s\n` },
      filter: (work) => [rt.node, rt.resolve(FILTER_MAIN), join(work, 'policy.rules')],
      binds: { [SOCKET_DIR]: dir },
    });
  });
  after(async () => {
    await smtpd?.stop();
    await server?.kill();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  async function send(subject: string): Promise<DeliveredMessage> {
    const from = 'alice@sender.example';
    const r: DialogResult = await smtpd.dialog({
      localAddress: '127.0.0.30',
      timeoutMs: 15_000,
      steps: mailSteps({ helo: 'mail.example.net', from, message: buildMessage({ from, subject, body: 'policy header test' }) }),
    });
    assert.ok(delivered(r), transcript(r));
    return smtpd.waitForMessage((x) => x.text.includes(subject));
  }

  test('VT, FF, ESC, DEL and C1 controls become spaces; HTAB and UTF-8 stay; one header, on top', () =>
    smtpd.withLog(async () => {
      const raw = Buffer.concat([
        Buffer.from('X-Policy: a\x0bb\x0cc\x1b[31md\x7fe'),
        Buffer.from('\u0085f\u009bg\th Grüße', 'utf8'),
      ]);
      await server.setMode(prepend(raw));
      const m = await send(marker('controls'));
      const headers = headerBytes(m);
      const line = m.headerLines.filter((h) => h.startsWith('X-Policy:'));
      assert.deepEqual(line, ['X-Policy: a b c [31md e f g\th Grüße'], m.text);
      // No control byte but HTAB and LF anywhere in the header block; valid UTF-8 throughout.
      assert.ok(![...headers].some((b) => (b < 0x20 && b !== 0x09 && b !== 0x0a) || b === 0x7f), headers.toString('latin1'));
      assert.ok(!headers.includes(Buffer.from([0xc2, 0x85])) && !headers.includes(Buffer.from([0xc2, 0x9b])), 'no C1 control');
      assert.equal(Buffer.from(headers.toString('utf8'), 'utf8').equals(headers), true, 'the header block is valid UTF-8');
      assert.equal(m.headerLines.indexOf(line[0] ?? '') + 1, m.headerLines.findIndex((h) => h.startsWith('Received:')), m.text);
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('policy answer PREPEND sanitised'));
      smtpd.assertHealthy();
    }));

  test('a PREPEND that is not UTF-8 is not added (no U+FFFD in the message); the message is delivered; a warning says why', () =>
    smtpd.withLog(async () => {
      await server.setMode(prepend(Buffer.concat([Buffer.from('X-Latin1: M'), Buffer.from([0xfc]), Buffer.from('ller')])));
      const m = await send(marker('latin1'));
      assert.ok(!m.headerLines.some((h) => h.startsWith('X-Latin1:')), m.text);
      const raw = readFileSync(m.file);
      assert.ok(!raw.includes(Buffer.from([0xef, 0xbf, 0xbd])), 'no U+FFFD anywhere in the message');
      assert.ok(!raw.includes(Buffer.from([0xfc])), 'nor the raw byte');
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('header is not valid UTF-8, ignored'));
      smtpd.assertHealthy();
    }));

  test('a clean PREPEND is added exactly as sent', () =>
    smtpd.withLog(async () => {
      await server.setMode('PREPEND X-Policy-Clean: score=1.5; tests=none');
      const m = await send(marker('clean'));
      assert.deepEqual(
        m.headerLines.filter((h) => h.startsWith('X-Policy-Clean:')),
        ['X-Policy-Clean: score=1.5; tests=none'],
        m.text,
      );
      smtpd.assertHealthy();
    }));
});
