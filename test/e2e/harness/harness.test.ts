/**
 * The harness checked on its own, with the stand-in filter (proceeds on everything,
 * pauses the banner): if these fail, the other e2e failures are about the machine
 * or the harness, not about filter-rules.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplyAssembler, encodeMessage } from './dialog.js';
import { chosenSmtpd, e2eSkipReason, filterRuntime, STAND_IN_FILTER } from './env.js';
import { buildMessage, exchangeFor, mailSteps, marker, transcript } from './mail.js';
import { Smtpd, processAlive } from './smtpd.js';

describe('dialog helpers (pure)', () => {
  test('multi-line replies are assembled; garbage still ends a reply', () => {
    const a = new ReplyAssembler();
    assert.equal(a.push('250-vm Hello'), null);
    assert.equal(a.push('250-8BITMIME'), null);
    assert.deepEqual(a.push('250 HELP'), { code: 250, lines: ['250-vm Hello', '250-8BITMIME', '250 HELP'] });
    assert.deepEqual(a.push('hello'), { code: 0, lines: ['hello'] });
    assert.deepEqual(a.push('421'), { code: 421, lines: ['421'] });
  });

  test('messages are dot-stuffed and terminated', () => {
    assert.equal(encodeMessage('a\n.b\n..c\n'), 'a\r\n..b\r\n...c\r\n.\r\n');
    assert.equal(encodeMessage('x'), 'x\r\n.\r\n');
  });
});

const skip = e2eSkipReason();
const PAUSE_MS = 500;

describe('harness with the stand-in filter', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;
  before(async () => {
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      filter: () => [rt.node, rt.resolve(STAND_IN_FILTER), '--pause-ms', String(PAUSE_MS)],
      loopbackNets: ['198.51.100.1/24'],
      hosts: { '198.51.100.9': 'host-9.dsl.example.net' },
      readyLog: /stand-in filter ready/,
    });
  });
  after(async () => {
    await smtpd?.stop();
  });

  test('banner waits for the filter; a message is delivered into the maildir', () =>
    smtpd.withLog(async () => {
      const subject = marker('harness');
      const r = await smtpd.dialog({
        localAddress: '127.0.0.5',
        steps: mailSteps({ helo: 'client.example', from: 'a@example.net', message: buildMessage({ from: 'a@example.net', subject, body: 'hi\n.dot line' }) }),
      });
      const t = transcript(r);
      assert.equal(r.banner?.code, 220, t);
      assert.ok(r.banner.at >= PAUSE_MS - 5, `banner after ${r.banner.at} ms, pause ${PAUSE_MS}\n${t}`);
      assert.equal(exchangeFor(r, '<message>')?.reply?.code, 250, t);
      assert.equal(exchangeFor(r, 'QUIT')?.reply?.code, 221, t);
      const m = await smtpd.waitForMessage((x) => x.text.includes(subject));
      assert.match(m.body, /^hi\n\.dot line\n/);
      await smtpd.waitForLog(/smtp connected address=127\.0\.0\.5 /);
      smtpd.assertHealthy();
    }));

  test('the smtpd that runs is the one chosen (E2E_SMTPD), and the filter hears its protocol version', (t) =>
    smtpd.withLog(async () => {
      const chosen = chosenSmtpd();
      t.diagnostic(`smtpd ${chosen.version} (${chosen.binary}), filter protocol ${chosen.protocol}`);
      assert.equal(smtpd.smtpd, chosen);
      // smtpd -d names itself when it starts: `info: OpenSMTPD 7.8.0-portable starting`.
      await smtpd.waitForLog(new RegExp(`OpenSMTPD ${chosen.version.replace(/[.]/g, '\\.')} starting`));
      const r = await smtpd.dialog({ localAddress: '127.0.0.5', steps: [{ kind: 'command', line: 'QUIT' }] });
      assert.equal(r.banner?.code, 220, transcript(r));
      const heard = await smtpd.waitForLog(/^rules: stand-in filter protocol /);
      assert.equal(heard, `rules: stand-in filter protocol ${chosen.protocol}`);
    }));

  test('extra loopback addresses work as sources and get their rDNS from /etc/hosts', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ localAddress: '198.51.100.9', steps: [{ kind: 'command', line: 'QUIT' }] });
      assert.equal(r.banner?.code, 220, transcript(r));
      await smtpd.waitForLog(/smtp connected address=198\.51\.100\.9 host=host-9\.dsl\.example\.net/);
      smtpd.assertHealthy();
    }));

  test('a multi-line early talker gets smtpd’s 500 after the banner and is closed', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ localAddress: '127.0.0.6', early: 'EHLO x\r\nMAIL FROM:<a@b>\r\n', steps: [] });
      const t = transcript(r);
      assert.equal(r.banner?.code, 220, t);
      assert.deepEqual(r.unsolicited.map((u) => u.lines.join('\n')), ['500 5.5.1 Invalid command: Pipelining not supported'], t);
      assert.ok(r.closedByServer, t);
      smtpd.assertHealthy();
    }));

  test('stop() ends smtpd and the filter', async () => {
    const rt = filterRuntime();
    const other = await Smtpd.start({ filter: () => [rt.node, rt.resolve(STAND_IN_FILTER)], readyLog: /stand-in filter ready/ });
    const filterPid = other.filterPid();
    assert.ok(filterPid !== null, other.logTail());
    const { killed } = await other.stop();
    assert.deepEqual(killed, [], 'processes had to be killed');
    assert.equal(other.running(), false);
    assert.equal(processAlive(filterPid), false, 'the filter outlived smtpd');
  });
});
