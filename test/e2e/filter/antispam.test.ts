/**
 * The scenario against real smtpd (E2E_SMTPD: 6.8 or 7.8) with the real filter
 * (`node dist/src/cli/main.js RULES`): what a client sees for each action.
 *
 * The rules are the example with two changes, so it can be driven from
 * loopback: only 127.0.0.5 is trusted (all of 127/8 is loopback; the verbatim
 * example trusts it all, see example-rules.test.ts), the pause is 1 s to keep the
 * suite fast, and junk is also triggered by `mail-from ~ /^junk@/`, since loopback
 * clients have no dynamic-looking rDNS.
 *
 * Expected replies are smtpd's own (protocol.md §5.3, §7.2 and the transcripts in
 * test/fixtures/transcripts/smtpd-6.8): a filter `reject` is sent verbatim and the
 * session goes on, a `disconnect` is sent and the connection closed, `junk` makes
 * smtpd prepend `X-Spam: Yes`, and more than one line sent before the banner gets
 * `500 5.5.1 Invalid command: Pipelining not supported` and a close.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { replyText } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from '../harness/env.js';
import { buildMessage, exchangeFor, mailSteps, marker, transcript } from '../harness/mail.js';
import { Smtpd, processAlive } from '../harness/smtpd.js';

const PAUSE_MS = 1000;
/** Only catches hangs; timings are never asserted tightly. */
const HANG_MS = PAUSE_MS + 8000;
const TRUSTED = '127.0.0.5';

const RULES = `# test/e2e/filter/antispam.test.ts: the issue's example, driven from loopback
list trusted = { ${TRUSTED} }
chain antispam =
    accept when src in trusted
    then pause ${PAUSE_MS / 1000}s
    then reject "550 5.7.1 bare IP address in HELO" when helo ~ /^\\[?[0-9.]+\\]?$/
    then disconnect "421 4.7.0 go away" when mail-from ~ /^bulk@/
    then junk when mail-from ~ /^junk@/
    then junk when rdns ~ /(dsl|dynamic|pool)[.-]/
`;

const skip = e2eSkipReason();

describe('filter-rules in real smtpd: the antispam chain', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;

  before(async () => {
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      files: { 'antispam.rules': RULES },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'antispam.rules')],
    });
  });
  after(async () => {
    await smtpd?.stop();
  });
  // The filter never takes smtpd down: after every test both still run.
  afterEach(() => {
    if (smtpd?.stopped !== true) smtpd?.assertHealthy();
  });

  test('the banner waits for the pause', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ localAddress: '127.0.0.6', steps: mailSteps({ helo: 'mail.example.net', from: 'alice@example.net' }) });
      const t = transcript(r);
      assert.equal(r.banner?.code, 220, t);
      // The pause starts when smtpd asks the filter, after the client started to
      // connect, so the client can never see the banner earlier than the pause.
      assert.ok(r.banner.at >= PAUSE_MS - 5, `banner after ${r.banner.at} ms, before the ${PAUSE_MS} ms pause\n${t}`);
      assert.ok(r.banner.at < HANG_MS, t);
      assert.equal(exchangeFor(r, 'RCPT')?.reply?.code, 250, t);
      assert.equal(exchangeFor(r, 'QUIT')?.reply?.code, 221, t);
    }));

  test('a trusted client skips the pause and every later check of the session', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({
        localAddress: TRUSTED,
        steps: mailSteps({ helo: `[${TRUSTED}]`, from: 'bulk@example.net' }),
      });
      const t = transcript(r);
      assert.equal(r.banner?.code, 220, t);
      assert.ok(r.banner.at < PAUSE_MS / 2, `trusted banner after ${r.banner.at} ms\n${t}`);
      // `accept` at connect covers the whole session: the bare-IP HELO and the
      // bulk@ sender that untrusted clients are refused for go through.
      assert.equal(exchangeFor(r, 'EHLO')?.reply?.code, 250, t);
      assert.equal(exchangeFor(r, 'MAIL')?.reply?.code, 250, t);
      assert.equal(exchangeFor(r, 'RCPT')?.reply?.code, 250, t);
    }));

  test('paused sessions do not hold each other up', () =>
    smtpd.withLog(async () => {
      const clients = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.15', '127.0.0.16', '127.0.0.17', '127.0.0.18'];
      const results = await Promise.all(
        clients.map((a) => smtpd.dialog({ localAddress: a, steps: mailSteps({ helo: 'mail.example.net', from: `x@${a}.example` }) })),
      );
      const connects = results.map((r) => r.startedAtEpochMs);
      const banners = results.map((r) => r.startedAtEpochMs + (r.banner?.at ?? Infinity));
      const all = results.map(transcript).join('\n\n');
      for (const r of results) {
        const t = transcript(r);
        assert.equal(r.banner?.code, 220, t);
        assert.ok(r.banner.at >= PAUSE_MS - 5, t);
        assert.equal(exchangeFor(r, 'QUIT')?.reply?.code, 221, t);
      }
      // When every client connected before the first banner, all of them were paused
      // at the same time; one pause after the other, the last banner would come at
      // least 8 pauses after the first connect.
      if (Math.max(...connects) < Math.min(...banners)) {
        const span = Math.max(...banners) - Math.min(...connects);
        assert.ok(span < PAUSE_MS * 3, `8 concurrent 1 s pauses took ${span} ms from first connect to last banner\n${all}`);
      }
      for (const r of results) assert.ok((r.banner?.at ?? Infinity) < PAUSE_MS * 3, `a banner came after ${r.banner?.at} ms\n${all}`);
    }));

  test('a multi-line early talker is dropped by smtpd, and the filter logs it', () =>
    smtpd.withLog(async () => {
      const talker = '127.0.0.7';
      const before = smtpd.messages().length;
      const r = await smtpd.dialog({ localAddress: talker, early: 'EHLO x\r\nMAIL FROM:<a@b>\r\n', steps: [] });
      const t = transcript(r);
      // smtpd reads nothing before the banner, so the banner still comes after the pause.
      assert.equal(r.banner?.code, 220, t);
      assert.ok(r.banner.at >= PAUSE_MS - 5, t);
      assert.deepEqual(
        r.unsolicited.map((u) => replyText(u)),
        ['500 5.5.1 Invalid command: Pipelining not supported'],
        t,
      );
      assert.ok(r.closedByServer, `connection still open\n${t}`);
      assert.equal(r.timedOut, false, t);
      // One filter log line (smtpd prefixes the filter's stderr with `rules: `) naming
      // the early talker and its address; the field layout is the logger's business.
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && /early talker/i.test(l) && l.includes(talker));
      assert.equal(smtpd.messages().length, before, 'something was delivered');
      assert.ok(!/smtp message .*from=<a@b>/.test(smtpd.log()), 'smtpd accepted a message from the early talker');
    }));

  test('reject: a bare IP address in HELO gets the rule’s 550, and the session goes on', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ localAddress: '127.0.0.6', steps: mailSteps({ helo: '[192.0.2.1]', from: 'alice@example.net' }) });
      const t = transcript(r);
      assert.equal(replyText(exchangeFor(r, 'EHLO')?.reply), '550 5.7.1 bare IP address in HELO', t);
      // A reject is not a disconnect: smtpd still answers our QUIT.
      assert.equal(exchangeFor(r, 'QUIT')?.reply?.code, 221, t);
      // The decision is logged with the client's address and the rule's file:line
      // (the reject step is on line 6 of RULES).
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && /reject/i.test(l) && l.includes('127.0.0.6') && l.includes('antispam.rules:6'));
    }));

  test('disconnect: a bulk@ sender gets the rule’s 421 and the connection is closed', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ localAddress: '127.0.0.6', steps: mailSteps({ helo: 'mail.example.net', from: 'bulk@example.net' }) });
      const t = transcript(r);
      assert.equal(exchangeFor(r, 'EHLO')?.reply?.code, 250, t);
      assert.equal(replyText(exchangeFor(r, 'MAIL')?.reply), '421 4.7.0 go away', t);
      assert.equal(exchangeFor(r, 'RCPT'), undefined, t);
      assert.ok(r.closedByServer, `connection still open\n${t}`);
      assert.equal(r.timedOut, false, t);
    }));

  test('junk: the message is delivered with X-Spam: Yes', () =>
    smtpd.withLog(async () => {
      const subject = marker('junk');
      const from = 'junk@example.net';
      const r = await smtpd.dialog({
        localAddress: '127.0.0.6',
        steps: mailSteps({ helo: 'mail.example.net', from, message: buildMessage({ from, subject, body: 'buy now' }) }),
      });
      const t = transcript(r);
      // junk does not refuse anything: the client cannot tell.
      assert.equal(exchangeFor(r, 'MAIL')?.reply?.code, 250, t);
      assert.equal(exchangeFor(r, '<message>')?.reply?.code, 250, t);
      const m = await smtpd.waitForMessage((x) => x.text.includes(subject));
      assert.ok(m.headerLines.includes('X-Spam: Yes'), m.text);
    }));

  test('a normal message is delivered unchanged, without X-Spam', () =>
    smtpd.withLog(async () => {
      const subject = marker('clean');
      const from = 'alice@example.net';
      const message = buildMessage({ from, subject, body: 'Hello,\n.a line with a leading dot\nwith|pipes|inside\n\n-- \nalice' });
      const r = await smtpd.dialog({ localAddress: '127.0.0.6', steps: mailSteps({ helo: 'mail.example.net', from, message }) });
      const t = transcript(r);
      assert.equal(exchangeFor(r, '<message>')?.reply?.code, 250, t);
      const m = await smtpd.waitForMessage((x) => x.text.includes(subject));
      assert.ok(!m.headerLines.some((h) => /^X-Spam:/i.test(h)), m.text);
      // Everything after smtpd's own trace headers is byte for byte what was sent.
      assert.ok(m.text.endsWith(message), `delivered:\n${m.text}\nsent:\n${message}`);
    }));

  // Last: stops this file's smtpd. smtpd does not kill its filter; it closes the
  // filter's stdin, and the filter must exit by itself (protocol.md §1).
  test('when smtpd stops, the filter exits by itself', async () => {
    const filterPid = smtpd.filterPid();
    assert.ok(filterPid !== null, smtpd.logTail());
    const { killed } = await smtpd.stop();
    assert.deepEqual(killed, [], `had to be killed: ${killed.join(', ')}\n${smtpd.logTail()}`);
    assert.equal(processAlive(filterPid), false);
  });
});
