/**
 * The rspamd step end to end (issue 15): real smtpd (E2E_SMTPD: 6.8 or 7.8),
 * the real filter as `opensmtpd`, and a real rspamd 3.4 (the integration
 * tests' minimal configuration) in the network namespace smtpd joins. GTUBE
 * is refused at the end of DATA with rspamd's message; a clean message is
 * delivered byte for byte but for the headers rspamd adds (and the upstream
 * one it removes), dot-stuffed lines included.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rspamd, withoutFields as without } from '../../integration/rspamd/rspamd.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from '../harness/env.js';
import { exchangeFor, mailSteps, marker, transcript } from '../harness/mail.js';
import { NetworkNamespace } from '../harness/netns.js';
import { Smtpd } from '../harness/smtpd.js';

const skip = e2eSkipReason();
const PORT = 11333;
const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
/** What rspamd adds (milter_headers) and what the delivery adds around the message. */
const ADDED = ['X-Spamd-Result', 'X-Rspamd-Server', 'X-Spam-Status', 'X-Rspamd-Action', 'Received', 'Return-Path', 'Delivered-To'];

describe('rspamd at commit, through smtpd', { skip: skip ?? false }, () => {
  let ns: NetworkNamespace;
  let rspamd: Rspamd;
  let smtpd: Smtpd;

  before(async () => {
    ns = await NetworkNamespace.create();
    rspamd = await Rspamd.start({
      port: PORT,
      spawn: (cmd, args) => ns.spawn(cmd, args),
      ping: async (port) => (await ns.exec('curl', ['-s', '--max-time', '1', `http://127.0.0.1:${port}/ping`])).stdout.includes('pong'),
    });
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      netns: ns,
      files: { 'rspamd.rules': `chain main =\n    rspamd "http://127.0.0.1:${PORT}" timeout 20s\n` },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'rspamd.rules')],
    });
  });
  after(async () => {
    await smtpd?.stop();
    await rspamd?.stop();
    await ns?.close();
  });

  test('GTUBE is refused at the end of DATA with rspamd’s message', () =>
    smtpd.withLog(async () => {
      const from = 'alice@sender.example';
      const subject = marker('gtube');
      const message = [`From: <${from}>`, 'To: <mailtest@localhost>', `Subject: ${subject}`, '', GTUBE, ''].join('\n');
      const r = await smtpd.dialog({ localAddress: '127.0.0.31', timeoutMs: 30_000, steps: mailSteps({ helo: 'mail.example.net', from, message }) });
      const reply = exchangeFor(r, '<message>')?.reply;
      assert.equal(reply?.code, 550, transcript(r));
      assert.match(reply?.lines.join('\n') ?? '', /^550 5\.7\.1 Gtube pattern$/m, transcript(r));
      smtpd.assertHealthy();
    }));

  test('a clean message is delivered byte for byte but for rspamd’s headers; the upstream X-Spam-Status is removed', () =>
    smtpd.withLog(async () => {
      const from = 'alice@sender.example';
      const subject = marker('clean');
      const sent = [
        `From: <${from}>`,
        'To: <mailtest@localhost>',
        `Subject: ${subject}`,
        'X-Spam-Status: Yes, upstream',
        `Message-Id: <${subject}@e2e.test>`,
        'Date: Fri, 4 Dec 2026 19:00:00 +0000',
        '',
        'Just a normal message.',
        '.a line that starts with a dot',
        'with|pipes|inside',
        '',
        'bye',
      ];
      const r = await smtpd.dialog({
        localAddress: '127.0.0.32',
        timeoutMs: 30_000,
        steps: mailSteps({ helo: 'mail.example.net', from, message: `${sent.join('\n')}\n` }),
      });
      assert.equal(exchangeFor(r, '<message>')?.reply?.code, 250, transcript(r));
      const m = await smtpd.waitForMessage((x) => x.text.includes(subject));
      const lines = readFileSync(m.file, 'utf8').replace(/\n$/, '').split('\n');
      assert.ok(lines.includes('X-Rspamd-Action: no action'), m.text);
      assert.ok(!lines.includes('X-Spam-Status: Yes, upstream'), m.text);
      assert.deepEqual(without(lines, ADDED), without(sent, ['X-Spam-Status']), m.text);
      smtpd.assertHealthy();
    }));
});
