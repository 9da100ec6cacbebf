/**
 * Issue 10, item 4, in real smtpd (E2E_SMTPD: 6.8 or 7.8) with the real filter: a session that
 * only sends NOOP, RSET and HELP (none of which smtpd reports to a filter)
 * is still judged with its own facts when it finally sends MAIL FROM.
 *
 * The filter used to forget a session after 30 minutes without a report, and
 * then judged it with an empty address (as local). Idle expiry is gone
 * altogether; the 30-minute (and 2-hour) case is covered by the unit tests with
 * a fake clock (test/unit/runtime/unknown-sessions.test.ts). Here: the facts of
 * a NOOP-only session reach the MAIL FROM rule, and no request of it is taken
 * for one of an unknown session.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { DialogStep } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from '../harness/env.js';
import { exchangeFor, RECIPIENT, transcript } from '../harness/mail.js';
import { Smtpd } from '../harness/smtpd.js';

const BLOCKED = '127.0.0.9';
const RULES = `# test/e2e/filter/quiet-sessions.test.ts
chain main =
    reject "550 5.7.1 not from ${BLOCKED}" at mail-from when src in { ${BLOCKED} }
`;

/** EHLO, then commands smtpd never reports to a filter, then a transaction. */
function quietThenMail(from: string): DialogStep[] {
  const quiet: DialogStep[] = [];
  for (let i = 0; i < 10; i++) quiet.push({ kind: 'command', line: i % 5 === 3 ? 'RSET' : i % 5 === 4 ? 'HELP' : 'NOOP' });
  return [
    { kind: 'command', line: 'EHLO quiet.example.net' },
    ...quiet,
    { kind: 'command', line: `MAIL FROM:<${from}>` },
    { kind: 'command', line: `RCPT TO:<${RECIPIENT}>` },
    { kind: 'command', line: 'QUIT' },
  ];
}

const skip = e2eSkipReason();

describe('filter-rules in real smtpd: quiet sessions keep their facts', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;

  before(async () => {
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      files: { 'quiet.rules': RULES },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'quiet.rules')],
    });
  });
  after(async () => {
    await smtpd?.stop();
  });
  afterEach(() => {
    if (smtpd?.stopped !== true) smtpd?.assertHealthy();
  });

  test(`a client on ${BLOCKED} that sends NOOP, RSET and HELP, then MAIL FROM, gets the rule's 550`, () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ localAddress: BLOCKED, steps: quietThenMail('alice@example.net') });
      const t = transcript(r);
      assert.equal(r.banner?.code, 220, t);
      const quiet = r.exchanges.filter((e) => /^(NOOP|RSET|HELP)$/.test(e.sent));
      assert.equal(quiet.length, 10, t);
      for (const e of quiet) assert.ok(e.reply !== null && e.reply.code < 300, t);
      assert.equal(exchangeFor(r, 'MAIL')?.reply?.code, 550, t);
      assert.match(exchangeFor(r, 'MAIL')?.reply?.lines.join('\n') ?? '', /not from 127\.0\.0\.9/, t);
    }));

  test('another client doing the same is let through', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ localAddress: '127.0.0.10', steps: quietThenMail('bob@example.net') });
      const t = transcript(r);
      assert.equal(exchangeFor(r, 'MAIL')?.reply?.code, 250, t);
      assert.equal(exchangeFor(r, 'RCPT')?.reply?.code, 250, t);
    }));

  test('no request was taken for one of an unknown session', () => {
    const unknown = smtpd.filterRecords().filter((l) => /unknown session|link-connect was not seen/.test(String(l.msg)));
    assert.deepEqual(unknown, []);
  });
});
