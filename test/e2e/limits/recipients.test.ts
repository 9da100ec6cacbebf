/**
 * The limit step in real smtpd (E2E_SMTPD: 6.8 or 7.8) with the real filter:
 * `limit "3/1h" per "src(24,64)" count recipients` in the memory store. Three
 * recipients from one /24 pass; the fourth, from another host of the same
 * /24, is refused with a 4xx that says when to come back; a client of another
 * network is not affected. Sessions are opened one after another (smtpd's
 * listen backlog is 5).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { DialogResult } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from '../harness/env.js';
import { rcptReply } from '../harness/greylist.js';
import { mailSteps, transcript } from '../harness/mail.js';
import { Smtpd } from '../harness/smtpd.js';

const skip = e2eSkipReason();
const NET = '198.51.100';
const OTHER = '203.0.113';

const RULES = `list trusted = { 127.0.0.0/8, ::1 }

chain inbound =
    accept when src in trusted
    then limit "3/1h" per "src(24,64)" count recipients
`;

describe('limit: the (N+1)th recipient in real smtpd', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;

  before(async () => {
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      files: { 'limits.rules': RULES },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'limits.rules')],
      loopbackNets: [`${NET}.1/24`, `${OTHER}.1/24`],
    });
  });
  after(async () => {
    await smtpd?.stop();
  });
  afterEach(() => {
    if (!smtpd.stopped) smtpd.assertHealthy();
  });

  const rcpt = (localAddress: string): Promise<DialogResult> =>
    smtpd.dialog({ localAddress, timeoutMs: 10_000, steps: mailSteps({ helo: 'mail.example.org', from: 'alice@example.org' }) });

  test('3 recipients of a /24 pass, the 4th gets 451 4.7.1 with the retry-after; another /24 still passes', () =>
    smtpd.withLog(async () => {
      for (let i = 0; i < 3; i++) {
        const r = await rcpt(`${NET}.${10 + i}`);
        assert.equal(rcptReply(r)?.code, 250, transcript(r));
      }
      const over = await rcpt(`${NET}.99`);
      const reply = rcptReply(over);
      assert.equal(reply?.code, 451, transcript(over));
      assert.match(reply?.text ?? '', /^451 4\.7\.1 Rate limit exceeded, try again in 1[12]\d\d seconds$/, transcript(over));
      const other = await rcpt(`${OTHER}.7`);
      assert.equal(rcptReply(other)?.code, 250, transcript(other));
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('"limit":"over"') && l.includes(`${NET}.0/24`));
    }));
});
