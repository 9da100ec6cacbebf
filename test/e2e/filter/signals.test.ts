/**
 * Signals to the filter under a real smtpd (E2E_SMTPD: 6.8 or 7.8) (issue 10): smtpd exits ("lost
 * processor") when its filter exits, and SIGTERM, SIGINT, ... used to end the
 * filter. Now a signal sent to the filter (as an admin's `pkill -f
 * filter-rules` does) is logged and ignored: the same smtpd and the same
 * filter process go on accepting, deciding and delivering mail. The filter
 * stops when smtpd does (smtpd closes its stdin), by itself.
 *
 * The integration test (test/integration/signals) covers every signal against
 * the filter alone; here the ones an admin is likely to send.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkipReason } from '../harness/env.js';
import { buildMessage, exchangeFor, mailSteps, marker, transcript } from '../harness/mail.js';
import { Smtpd, type FilterLogRecord } from '../harness/smtpd.js';
import { waitFor } from '../harness/wait.js';

const REFUSED = '550 5.7.1 signals e2e: sender refused';
const RULES = `# test/e2e/filter/signals.test.ts
chain main =
    reject "${REFUSED}" when mail-from ~ /^blocked@/
`;

const skip = e2eSkipReason();

describe('signals to the filter under real smtpd', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;
  let processes: { readonly smtpd: number; readonly filter: number };
  let filterPid: number;

  before(async () => {
    ({ smtpd, processes } = await Smtpd.startWithRules('signals.rules', { files: { 'signals.rules': RULES } }));
    filterPid = processes.filter;
  });
  after(async () => {
    await smtpd?.stop();
  });
  // The same smtpd and the same filter process from the first test to the last.
  afterEach(() => {
    if (smtpd.stopped) return;
    smtpd.assertSameProcesses(processes);
  });

  /** Waits for the filter's record of `signal` number `n` (1-based). */
  function signalRecord(signal: string, n = 1): Promise<FilterLogRecord> {
    return smtpd.withLog(() =>
      waitFor(() => smtpd.filterRecords().filter((r) => r['event'] === 'signal' && r['signal'] === signal)[n - 1], {
        timeoutMs: 10_000,
        what: `the filter's log line for ${signal} #${n}`,
        explain: () => smtpd.logTail(),
      }),
    );
  }

  /** A message from alice is delivered; one from blocked@ is refused by the rule. */
  async function mailStillFlows(label: string): Promise<void> {
    const subject = marker(label);
    const ok = await smtpd.dialog({
      localAddress: '127.0.0.6',
      steps: mailSteps({ helo: 'mail.example.net', from: 'alice@example.net', message: buildMessage({ from: 'alice@example.net', subject, body: label }) }),
    });
    assert.equal(exchangeFor(ok, 'RCPT')?.reply?.code, 250, transcript(ok));
    assert.equal(exchangeFor(ok, '<message>')?.reply?.code, 250, transcript(ok));
    await smtpd.waitForMessage((m) => m.headerLines.includes(`Subject: ${subject}`));
    const no = await smtpd.dialog({ localAddress: '127.0.0.6', steps: mailSteps({ helo: 'mail.example.net', from: 'blocked@example.net' }) });
    assert.equal(exchangeFor(no, 'MAIL')?.reply?.code, 550, transcript(no));
    assert.match(exchangeFor(no, 'MAIL')?.reply?.lines.join('\n') ?? '', /signals e2e: sender refused/, transcript(no));
  }

  test('SIGTERM to the filter: logged, ignored; smtpd keeps accepting, deciding and delivering', () =>
    smtpd.withLog(async () => {
      await mailStillFlows('before-sigterm');
      process.kill(filterPid, 'SIGTERM');
      const r = await signalRecord('SIGTERM');
      assert.equal(r.level, 'warn');
      await mailStillFlows('after-sigterm');
    }));

  test('what admins send out of habit (SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGHUP, SIGTERM again) changes nothing either', () =>
    smtpd.withLog(async () => {
      for (const signal of ['SIGINT', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const) {
        process.kill(filterPid, signal);
        await signalRecord(signal);
      }
      process.kill(filterPid, 'SIGHUP');
      await waitFor(() => smtpd.filterRecords().find((r) => r['event'] === 'reload' && r['reason'] === 'SIGHUP'), {
        timeoutMs: 10_000,
        what: 'the SIGHUP reload',
      });
      process.kill(filterPid, 'SIGTERM');
      await signalRecord('SIGTERM', 2);
      await mailStillFlows('after-the-rest');
    }));

  test('stopping smtpd stops the filter: it exits by itself when its stdin closes', async () => {
    const stopped = await smtpd.stop();
    assert.deepEqual(stopped.killed, [], 'processes that had to be killed');
  });
});
