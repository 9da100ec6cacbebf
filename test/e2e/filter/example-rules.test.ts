/**
 * The example rules file, verbatim (rules/example-antispam.rules), in real
 * smtpd (E2E_SMTPD: 6.8 or 7.8) with the real filter and its real 3 s pause.
 *
 * Everything on 127/8 and ::1 is trusted by that file, so untrusted clients come
 * from 198.51.100.0/24 (TEST-NET-2), made local on the namespace's loopback; the
 * namespace's /etc/hosts gives 198.51.100.9 the reverse name host-9.dsl.example.net,
 * which the file's `rdns ~ /(dsl|dynamic|pool)[.-]/` junks.
 *
 * The tests run concurrently so the 3 s pauses overlap.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { replyText } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime, PROJECT_ROOT } from '../harness/env.js';
import { buildMessage, exchangeFor, mailSteps, marker, RECIPIENT, transcript } from '../harness/mail.js';
import { Smtpd } from '../harness/smtpd.js';

const EXAMPLE = join(PROJECT_ROOT, 'rules', 'example-antispam.rules');
const PAUSE_MS = 3000;
const HANG_MS = PAUSE_MS + 8000;
const DSL_CLIENT = '198.51.100.9';

function ipv6Usable(): boolean {
  try {
    return existsSync('/proc/net/if_inet6') && readFileSync('/proc/sys/net/ipv6/conf/default/disable_ipv6', 'utf8').trim() === '0';
  } catch {
    return false;
  }
}

const skip = e2eSkipReason();
const ipv6 = ipv6Usable();

describe('filter-rules in real smtpd: rules/example-antispam.rules verbatim', { skip: skip ?? false, concurrency: true }, () => {
  let smtpd: Smtpd;

  before(async () => {
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      // Copied into the work dir: the clone itself may not be readable by opensmtpd.
      files: { 'example-antispam.rules': readFileSync(EXAMPLE, 'utf8') },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'example-antispam.rules')],
      loopbackNets: ['198.51.100.1/24'],
      hosts: { [DSL_CLIENT]: 'host-9.dsl.example.net' },
      ipv6,
    });
  });
  after(async () => {
    await smtpd?.stop();
  });
  afterEach(() => {
    smtpd?.assertHealthy();
  });

  test('127.0.0.1 is trusted: no pause, and nothing later in the session is checked', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ steps: mailSteps({ helo: '[127.0.0.1]', from: 'bulk@example.net' }) });
      const t = transcript(r);
      assert.equal(r.banner?.code, 220, t);
      assert.ok(r.banner.at < PAUSE_MS / 2, `trusted banner after ${r.banner.at} ms\n${t}`);
      assert.equal(exchangeFor(r, 'EHLO')?.reply?.code, 250, t);
      assert.equal(exchangeFor(r, 'MAIL')?.reply?.code, 250, t);
      assert.equal(exchangeFor(r, 'RCPT')?.reply?.code, 250, t);
    }));

  test('::1 is trusted: no pause', { skip: ipv6 ? false : 'IPv6 disabled on this machine' }, () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ host: '::1', steps: [{ kind: 'command', line: 'QUIT' }] });
      const t = transcript(r);
      assert.equal(r.banner?.code, 220, t);
      assert.ok(r.banner.at < PAUSE_MS / 2, `trusted banner after ${r.banner.at} ms\n${t}`);
    }));

  test('an untrusted client waits 3 s for the banner; its bare-IP HELO is rejected', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ localAddress: '198.51.100.7', steps: mailSteps({ helo: '[198.51.100.7]', from: 'a@example.net' }) });
      const t = transcript(r);
      assert.equal(r.banner?.code, 220, t);
      assert.ok(r.banner.at >= PAUSE_MS - 5 && r.banner.at < HANG_MS, `banner after ${r.banner.at} ms\n${t}`);
      assert.equal(replyText(exchangeFor(r, 'EHLO')?.reply), '550 5.7.1 bare IP address in HELO', t);
      assert.equal(exchangeFor(r, 'QUIT')?.reply?.code, 221, t);
      // Logged with the rule's place: the reject is on line 7 of the file.
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('198.51.100.7') && l.includes('example-antispam.rules:7'));
    }));

  test('bulk@ senders are disconnected with 421 4.7.0 go away', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ localAddress: '198.51.100.8', steps: mailSteps({ helo: 'mail.example.net', from: 'bulk@example.net' }) });
      const t = transcript(r);
      assert.equal(replyText(exchangeFor(r, 'MAIL')?.reply), '421 4.7.0 go away', t);
      assert.ok(r.closedByServer && !r.timedOut, t);
    }));

  test('a client with dynamic-looking rDNS gets its message junked', () =>
    smtpd.withLog(async () => {
      const subject = marker('rdns-junk');
      const from = 'someone@example.net';
      const r = await smtpd.dialog({
        localAddress: DSL_CLIENT,
        steps: mailSteps({ helo: 'host-9.dsl.example.net', from, message: buildMessage({ from, subject, body: 'hello' }) }),
      });
      const t = transcript(r);
      assert.equal(exchangeFor(r, '<message>')?.reply?.code, 250, t);
      const m = await smtpd.waitForMessage((x) => x.text.includes(subject));
      assert.ok(m.headerLines.includes('X-Spam: Yes'), m.text);
      // smtpd did see the rDNS name the rule matched on, and the junk rule (line 9) decided.
      assert.match(smtpd.log(), /smtp connected address=198\.51\.100\.9 host=host-9\.dsl\.example\.net/);
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('198.51.100.9') && /junk/.test(l) && l.includes('example-antispam.rules:9'));
    }));

  test('swaks, a real client, gets a clean message through after the pause', () =>
    smtpd.withLog(async () => {
      const subject = marker('swaks');
      const started = Date.now();
      const r = await smtpd.swaks([
        '--local-interface', '198.51.100.10',
        '--ehlo', 'mail.example.net',
        '--from', 'alice@example.net',
        '--to', RECIPIENT,
        '--header', `Subject: ${subject}`,
        '--body', 'sent by swaks',
      ]);
      const elapsed = Date.now() - started;
      assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /<- {2}250 2\.0\.0 \w+ Message accepted for delivery/);
      assert.ok(elapsed >= PAUSE_MS - 5, `swaks finished after ${elapsed} ms`);
      const m = await smtpd.waitForMessage((x) => x.text.includes(subject));
      assert.ok(!m.headerLines.some((h) => /^X-Spam:/i.test(h)), m.text);
      assert.match(m.body, /sent by swaks/);
    }));
});
