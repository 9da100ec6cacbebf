/**
 * Postfix's access(5) semantics of a policy server's answers (issue 10,
 * items 13–16), through the real filter process (`node dist/src/cli/main.js
 * RULES`, spoken to over stdin/stdout) and a real policy server process on
 * a real socket (the scripted server of test/integration/faults), with real
 * built-in greylisting (SQLite) behind it:
 *
 *   - OK / RELAY / digits end the phase with an accept: a later greylist or
 *     reject step does not run, and at rcpt-to only that recipient is accepted;
 *   - DEFER_IF_PERMIT answers 450 only if the rest would permit: a later
 *     reject still rejects (5xx);
 *   - DEFER_IF_REJECT turns a later 5xx into 450 4.7.1 (never the 5xx);
 *   - a dry-run policy step arms nothing;
 *   - `policy inet:HOST:PORT` (Postfix's spelling) talks TCP like `tcp:`,
 *     and the filter names the server `tcp:HOST:PORT`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliFilter, newSessionId, PolicyServerProcess, waitFor } from '../faults/live.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const GREYLISTED = /^reject\|451 4\.7\.1 Greylisted, please try again in \d+ seconds$/;
const RULES_REJECT = 'reject|550 5.7.1 refused by the rules';

type LogLine = ReturnType<CliFilter['logs']>[number];

describe('policy answers with Postfix semantics, through the filter process', () => {
  let dir: string;
  let socket: string;
  let server: PolicyServerProcess;
  let filter: CliFilter;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-access-'));
    socket = join(dir, 'policy.sock');
    server = await PolicyServerProcess.start(socket, 'DUNNO');
    const rules = join(dir, 'access.rules');
    writeFileSync(
      rules,
      [
        'chain main =',
        `    dry-run policy unix:${socket} when rcpt-to ~ /^dry/`,
        `    then policy unix:${socket} when not rcpt-to ~ /^dry/`,
        '    then reject "550 5.7.1 refused by the rules" when rcpt-to ~ /deny/',
        `    then greylist store "sqlite:${join(dir, 'greylist.db')}" delay 1h when rcpt-to ~ /grey/`,
        '',
      ].join('\n'),
    );
    filter = await CliFilter.start([process.execPath, MAIN, rules]);
  });
  after(async () => {
    filter?.kill();
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The filter's `decision` log lines from `from` on. */
  const decisions = (from: number): LogLine[] => filter.logs().slice(from).filter((l) => l.msg === 'decision');

  /** The first decision line from `from` on that `match`es (logs go to stderr, and may trail the answer). */
  async function decisionWhere(from: number, match: (l: LogLine) => boolean): Promise<LogLine> {
    await waitFor(() => decisions(from).some(match), 5000, 'the decision log line');
    return decisions(from).find(match) as LogLine;
  }

  test('without the server saying anything: greylisting and the reject apply (the baseline)', async () => {
    await server.setMode('DUNNO');
    assert.match((await filter.rcpt('grey-base@example.org')).decision, GREYLISTED);
    assert.equal((await filter.rcpt('deny-base@example.org')).decision, RULES_REJECT);
    assert.equal((await filter.rcpt('bob@example.org')).decision, 'proceed');
  });

  test('13: OK, RELAY or digits then greylist: accepted, not greylisted; a later reject does not run either', async () => {
    for (const mode of ['OK', 'RELAY whitelisted', '1732550400', 'ok']) {
      await server.setMode(mode);
      const before = filter.logs().length;
      assert.equal((await filter.rcpt('grey-ok@example.org')).decision, 'proceed', mode);
      assert.equal((await filter.rcpt('deny-ok@example.org')).decision, 'proceed', `${mode}: the permit ends the phase (Postfix: the restriction list)`);
      await waitFor(() => decisions(before).length >= 2, 5000, 'two decision log lines');
      const logged = decisions(before);
      assert.ok(logged.every((l) => l['decision'] === 'accept' && l['step'] === 'policy'), JSON.stringify(logged));
    }
  });

  test('13: OK at rcpt-to accepts that recipient only: the next recipient of the same transaction is greylisted', async () => {
    const sid = newSessionId();
    await filter.open(sid, { from: 'scope@example.net' });
    await server.setMode('OK');
    assert.equal((await filter.ask(sid, 'rcpt-to', 'grey-first@example.org')).decision, 'proceed');
    await server.setMode('DUNNO');
    // smtpd sends each RCPT with the same token: the first answer is in, so ask again.
    assert.match((await filter.ask(sid, 'rcpt-to', 'grey-second@example.org')).decision, GREYLISTED);
    filter.close(sid);
  });

  test('14: DEFER_IF_PERMIT then a later reject: the 5xx reject stands; with nothing later: 450', async () => {
    await server.setMode('DEFER_IF_PERMIT Greylisted by the fake server');
    const before = filter.logs().length;
    assert.equal((await filter.rcpt('deny-dip@example.org')).decision, RULES_REJECT);
    assert.equal((await filter.rcpt('bob-dip@example.org')).decision, 'reject|450 4.7.1 Greylisted by the fake server');
    // A later greylisting refusal is a refusal too: its 451 stands.
    assert.match((await filter.rcpt('grey-dip@example.org')).decision, GREYLISTED);
    const deferred = await decisionWhere(before, (l) => l['deferred'] === 'DEFER_IF_PERMIT');
    assert.equal(deferred['instead'], 'proceed');
    assert.equal(deferred['reply'], '450 4.7.1 Greylisted by the fake server');
  });

  test('15: DEFER_IF_REJECT then a later 5xx reject: 450 4.7.1 with the server text, never the 5xx', async () => {
    await server.setMode('DEFER_IF_REJECT 4.7.1 DNS lookup failed');
    const before = filter.logs().length;
    assert.equal((await filter.rcpt('deny-dir@example.org')).decision, 'reject|450 4.7.1 DNS lookup failed');
    // Nothing refuses: proceed; a later 4xx (greylisting) stands.
    assert.equal((await filter.rcpt('bob-dir@example.org')).decision, 'proceed');
    assert.match((await filter.rcpt('grey-dir@example.org')).decision, GREYLISTED);
    const deferred = await decisionWhere(before, (l) => l['deferred'] === 'DEFER_IF_REJECT');
    assert.equal(deferred['instead'], 'reject 550 5.7.1 refused by the rules');
    assert.match(String(deferred['insteadRule']), /access\.rules:4$/);
  });

  test('a dry-run policy step arms nothing: its DEFER_IF_PERMIT / DEFER_IF_REJECT and OK are only logged', async () => {
    for (const mode of ['DEFER_IF_PERMIT not for real', 'DEFER_IF_REJECT not for real', 'OK']) {
      await server.setMode(mode);
      const before = filter.logs().length;
      assert.equal((await filter.rcpt('dry-bob@example.org')).decision, 'proceed', mode);
      assert.equal((await filter.rcpt('dry-deny@example.org')).decision, RULES_REJECT, mode);
      await waitFor(() => filter.logs().slice(before).some((l) => l.msg === 'dry-run' && l['step'] === 'policy'), 5000, `${mode}: the dry-run log line`);
    }
  });

  test('no line smtpd would refuse; no 5xx but the rules’ own', () => {
    assert.deepEqual(filter.invalidLines(), []);
    assert.deepEqual(
      filter.written.filter((l) => /\|reject\|5/.test(l) && !l.endsWith('|reject|550 5.7.1 refused by the rules')),
      [],
    );
    assert.ok(filter.running);
  });
});

describe("16: policy inet:HOST:PORT, Postfix's spelling of tcp:", () => {
  let dir: string;
  let server: PolicyServerProcess;
  let filter: CliFilter;
  let address: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-inet-'));
    server = await PolicyServerProcess.start('tcp:0', 'REJECT 5.7.1 said over TCP');
    address = server.tcpAddress ?? '';
    assert.match(address, /^tcp:127\.0\.0\.1:\d+$/);
    const rules = join(dir, 'inet.rules');
    writeFileSync(rules, `chain main = policy ${address.replace(/^tcp:/, 'inet:')}\n`);
    filter = await CliFilter.start([process.execPath, MAIN, rules]);
  });
  after(async () => {
    filter?.kill();
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the filter asks the server over TCP and follows its answer; logs name it tcp:', async () => {
    const seen = server.requests;
    assert.equal((await filter.rcpt('bob@example.org')).decision, 'reject|550 5.7.1 said over TCP');
    assert.equal(server.requests, seen + 1);
    await waitFor(() => filter.logs().some((l) => l.msg === 'decision'), 5000, 'the decision log line');
    const decision = filter.logs().find((l) => l.msg === 'decision');
    assert.equal(decision?.['policyServer'], address);
    assert.deepEqual(filter.invalidLines(), []);
  });
});
