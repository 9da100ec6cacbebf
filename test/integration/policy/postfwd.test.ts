/**
 * A differential check against a real, independent Postfix policy server:
 * postfwd (Debian's postfwd 1.35, a rules-based policy daemon written for
 * Postfix's check_policy_service), asked by the real filter process about
 * recipients its ruleset answers OK, DEFER_IF_PERMIT, DEFER_IF_REJECT,
 * PREPEND or DUNNO for, followed in the chain by a rules reject and by
 * built-in greylisting. Every expected reply is what Postfix's smtpd_check.c
 * does with the same answer followed by the same restrictions in one
 * restriction list (check_table_result, defer_if_permit / defer_if_reject):
 *
 *   | answer          | then a 5xx reject        | then greylisting     | nothing after |
 *   |-----------------|--------------------------|----------------------|---------------|
 *   | OK              | permit (the list ended)  | permit               | permit        |
 *   | DEFER_IF_PERMIT | the 5xx                  | its 4xx              | 450 (deferred)|
 *   | DEFER_IF_REJECT | 450 (the armed deferral) | its 4xx              | permit        |
 *   | DUNNO           | the 5xx                  | its 4xx              | permit        |
 *
 * postfwd runs in its --nodaemon mode (requests on stdin, answers on stdout:
 * its own ruleset engine, without its daemons, their pid files and their
 * fixed TCP cache port), one instance per connection behind socat on a unix
 * socket; a pty makes Perl flush each answer. Skipped without postfwd/socat.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliFilter, waitFor } from '../faults/live.js';

const POSTFWD = '/usr/sbin/postfwd';
const SOCAT = '/usr/bin/socat';
const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const skip = !existsSync(POSTFWD)
  ? `${POSTFWD} not installed (apt-get install --no-install-recommends postfwd)`
  : !existsSync(SOCAT)
    ? `${SOCAT} not installed`
    : false;

const GREYLISTED = /^reject\|451 4\.7\.1 Greylisted, please try again in \d+ seconds$/;
const RULES_REJECT = 'reject|550 5.7.1 refused by the rules';

/** postfwd's ruleset (its own syntax): the answer depends on the recipient's first word. */
const POSTFWD_RULES = [
  'id=OK; recipient=~^ok-; action=OK',
  'id=DIP; recipient=~^dip-; action=DEFER_IF_PERMIT greylisted by postfwd',
  'id=DIR; recipient=~^dir-; action=DEFER_IF_REJECT 4.7.1 postfwd lookup failed',
  'id=PRE; recipient=~^pre-; action=PREPEND X-Postfwd: checked',
  '',
].join('\n');

describe('postfwd (a real Postfix policy server) through the filter: Postfix outcomes', { skip }, () => {
  let dir: string;
  let socket: string;
  let socat: ChildProcess;
  let filter: CliFilter;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-postfwd-'));
    socket = join(dir, 'postfwd.sock');
    writeFileSync(join(dir, 'postfwd.cf'), POSTFWD_RULES);
    socat = spawn(
      SOCAT,
      [`UNIX-LISTEN:${socket},fork,mode=600`, `EXEC:${POSTFWD} --nodaemon --nodns --perfmon --file=${join(dir, 'postfwd.cf')},pty,raw,echo=0`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    socat.stderr?.resume();
    await waitFor(() => existsSync(socket), 10_000, 'socat to listen');
    const rules = join(dir, 'postfwd.rules');
    writeFileSync(
      rules,
      [
        'chain main =',
        `    policy unix:${socket} timeout 5s`,
        '    then reject "550 5.7.1 refused by the rules" when rcpt-to ~ /deny@/',
        `    then greylist store "sqlite:${join(dir, 'greylist.db')}" delay 1h when rcpt-to ~ /grey@/`,
        '',
      ].join('\n'),
    );
    filter = await CliFilter.start([process.execPath, MAIN, rules]);
  });
  after(async () => {
    // The filter first: its connections close, and with them each postfwd behind socat.
    if (filter !== undefined) await filter.end().catch(() => filter.kill());
    socat?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  const cases: ReadonlyArray<readonly [answer: string, prefix: string, deny: string | RegExp, grey: string | RegExp, alone: string]> = [
    ['OK', 'ok', 'proceed', 'proceed', 'proceed'],
    ['DEFER_IF_PERMIT', 'dip', RULES_REJECT, GREYLISTED, 'reject|450 4.7.1 greylisted by postfwd'],
    ['DEFER_IF_REJECT', 'dir', 'reject|450 4.7.1 postfwd lookup failed', GREYLISTED, 'proceed'],
    ['DUNNO', 'none', RULES_REJECT, GREYLISTED, 'proceed'],
  ];
  for (const [answer, prefix, deny, grey, alone] of cases) {
    test(`${answer}: then a 5xx reject → ${String(deny)}; then greylisting → ${String(grey)}; alone → ${alone}`, async () => {
      const check = (got: string, want: string | RegExp, what: string): void => {
        if (typeof want === 'string') assert.equal(got, want, what);
        else assert.match(got, want, what);
      };
      check((await filter.rcpt(`${prefix}-deny@example.org`)).decision, deny, 'then a reject');
      check((await filter.rcpt(`${prefix}-grey@example.org`, { from: `${prefix}@sender.example` })).decision, grey, 'then greylisting');
      check((await filter.rcpt(`${prefix}-alone@example.org`)).decision, alone, 'nothing after');
    });
  }

  test('PREPEND: the step goes on (the header is kept for the message); the answer is logged', async () => {
    assert.equal((await filter.rcpt('pre-alone@example.org')).decision, 'proceed');
    await waitFor(() => filter.logs().some((l) => l.msg === 'policy answer' && l['answer'] === 'PREPEND X-Postfwd: checked'), 5000, 'the PREPEND answer in the log');
    assert.deepEqual(filter.invalidLines(), []);
  });
});
