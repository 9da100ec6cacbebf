/**
 * `filter-rules test`: a synthetic session through the real filter host.
 * These check the session follows smtpd, that every step is accounted for,
 * and that pauses and servers are handled as documented.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StepOutcome } from '../../../src/model/runner.js';
import { compileRulesSource } from '../../../src/dsl/index.js';
import { selectChain } from '../../../src/model/select-chain.js';
import { stateless, type StepServices } from '../../../src/steps/service.js';
import { DEFAULT_SESSION, type SyntheticSession } from '../../../src/tools/synthetic-session.js';
import { formatTestReport } from '../../../src/tools/test/report.js';
import { runTestSession, type PhaseReport, type TestReport } from '../../../src/tools/test/simulate.js';
import { testServices } from '../runtime/helpers.js';

function load(source: string) {
  const compiled = compileRulesSource(source, 'x.rules', { readFile: () => '' });
  if (!compiled.ok) throw new Error(compiled.diagnostics.map((d) => d.message).join('; '));
  const chain = selectChain(compiled.rules, null);
  if (!chain.ok) throw new Error(chain.error);
  return { rules: compiled.rules, chain: chain.value, sources: compiled.sources };
}

async function run(source: string, session: Partial<SyntheticSession> = {}, services?: StepServices): Promise<TestReport> {
  return runTestSession(load(source), { ...DEFAULT_SESSION, ...session }, {
    mode: services === undefined ? 'offline' : 'online',
    startWallMs: Date.UTC(2026, 0, 1),
    ...(services !== undefined ? { services } : {}),
  });
}

const phase = (r: TestReport, request: string, n = 0): PhaseReport | undefined => r.phases.filter((p) => p.request === request)[n];

function policyServices(run: (rcpt: string | null) => Promise<StepOutcome>): StepServices {
  return testServices({ policy: stateless((step) => ({ step, run: (ctx) => run(ctx.facts.rcptTo) })) });
}

describe('filter-rules test', () => {
  test('a clean session goes through every phase and is delivered', async () => {
    const r = await run('chain a = reject "550 5.7.1 no" when helo ~ /^\\[/\n');
    assert.deepEqual(
      r.phases.map((p) => [p.request, p.answer]),
      [
        ['connect', 'proceed'],
        ['ehlo', 'proceed'],
        ['mail-from', 'proceed'],
        ['rcpt-to', 'proceed'],
        ['data', 'proceed'],
        ['commit', 'proceed'],
      ],
    );
    assert.equal(r.outcome, 'message accepted for 1 of 1 recipient(s)');
    const row = phase(r, 'ehlo')?.rows[0];
    assert.equal(row?.condition, 'false');
    assert.deepEqual(row?.values, { helo: 'mx.example.net' });
  });

  test('a refused EHLO ends the session, as in smtpd; later steps show as not reached', async () => {
    const r = await run('chain a =\n  reject "550 5.7.1 bare IP" when helo ~ /^\\[/\n  then junk when helo ~ /x/\n  then disconnect "421 4.7.0 bye" when mail-from ~ /^bulk@/\n', {
      helo: '[192.0.2.1]',
    });
    const ehlo = phase(r, 'ehlo');
    assert.equal(ehlo?.answer, 'reject 550 5.7.1 bare IP');
    assert.deepEqual(
      ehlo?.rows.map((row) => [row.condition, row.result]),
      [
        ['true', 'reject 550 5.7.1 bare IP'],
        ['not reached', ''],
      ],
    );
    assert.equal(phase(r, 'mail-from')?.note, 'not reached: the session ended before it');
    assert.match(r.outcome, /^EHLO refused \(550 5\.7\.1 bare IP\)/);
  });

  test('a refused recipient does not end the transaction; none accepted means no DATA', async () => {
    const source = 'chain a = reject "550 5.7.1 unknown user" when rcpt-to in { nobody@example.com }\n';
    const some = await run(source, { rcptTo: ['nobody@example.com', 'b@example.com'] });
    assert.deepEqual(
      some.phases.filter((p) => p.request === 'rcpt-to').map((p) => p.answer),
      ['reject 550 5.7.1 unknown user', 'proceed'],
    );
    assert.equal(some.outcome, 'message accepted for 1 of 2 recipient(s)');
    const none = await run(source, { rcptTo: ['nobody@example.com'] });
    assert.equal(none.outcome, 'no recipient accepted: smtpd answers DATA with 503, no message');
    assert.equal(phase(none, 'data'), undefined);
  });

  test('a disconnect ends everything; a reject at connect is sent as a disconnect', async () => {
    const r = await run('chain a = reject "554 5.7.1 go away" when not rdns\n', { rdns: null, fcrdns: 'fail' });
    assert.equal(phase(r, 'connect')?.answer, 'disconnect 554 5.7.1 go away');
    assert.equal(r.phases.length, 1);
    assert.equal(r.outcome, 'disconnected at connect: 554 5.7.1 go away');
  });

  test('accept at connect covers the session: later phases are skipped', async () => {
    const r = await run('chain a =\n  accept when src in { 203.0.113.0/24 }\n  then reject "550 5.7.1 no" when helo ~ /./\n');
    assert.equal(phase(r, 'connect')?.rows[0]?.result, 'accept: the rest of the session');
    assert.equal(phase(r, 'ehlo')?.note, 'skipped: an earlier accept covers this phase');
    assert.equal(phase(r, 'ehlo')?.answer, 'proceed');
  });

  test('pauses run through the real pause step but are not waited for', async () => {
    const started = Date.now();
    const r = await run('chain a =\n  pause 300s\n  then pause 300s at helo\n');
    assert.ok(Date.now() - started < 2000, 'ten minutes of pauses took no real time');
    assert.equal(phase(r, 'connect')?.rows[0]?.result, 'pause 5m (not waited)');
    assert.equal(phase(r, 'ehlo')?.rows[0]?.result, 'pause 5m (not waited)');
    assert.equal(phase(r, 'connect')?.answer, 'proceed');
  });

  test('junk marks the session and the outcome says so', async () => {
    const r = await run('chain a = junk when rdns ~ /dsl/\n', { rdns: 'a1.dsl.example.net' });
    assert.equal(phase(r, 'connect')?.answer, 'junk');
    assert.match(r.outcome, /marked as junk/);
  });

  test('dry-run steps report what they would have done, and decide nothing', async () => {
    const r = await run('chain a =\n  dry-run pause 3s\n  then dry-run reject "550 5.7.1 bare IP" when helo ~ /^\\[/\n', { helo: '[192.0.2.1]' });
    assert.equal(phase(r, 'connect')?.rows[0]?.result, 'dry-run: would pause 3s');
    assert.equal(phase(r, 'ehlo')?.rows[0]?.result, 'dry-run: would reject 550 5.7.1 bare IP');
    assert.equal(phase(r, 'ehlo')?.answer, 'proceed');
    assert.equal(r.wouldHave, 2);
  });

  test('--offline: policy and greylist steps are not asked and the session goes on', async () => {
    const r = await run('chain a =\n  postgrey unix:/nonexistent/postgrey.sock\n  then greylist store "sqlite:/nonexistent/g.db"\n');
    assert.deepEqual(
      phase(r, 'rcpt-to')?.rows.map((row) => row.result),
      ['postgrey: not asked (--offline), goes on as if it said DUNNO', 'greylist: not asked (--offline), goes on as if it said DUNNO'],
    );
    assert.equal(r.outcome, 'message accepted for 1 of 1 recipient(s)');
  });

  test('online: the server is awaited in real time, never overtaken by a virtual step deadline', async () => {
    const services = policyServices(async (rcpt) => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      return rcpt === 'grey@example.com'
        ? { type: 'arm', deferral: { when: 'if-permit', reply: '450 4.2.0 Greylisted' }, detail: { answer: 'DEFER_IF_PERMIT Greylisted', latencyMs: 30 } }
        : { type: 'continue', detail: { answer: 'DUNNO', latencyMs: 30 } };
    });
    const r = await run('chain a =\n  pause 10s\n  then policy unix:/run/p.sock timeout 1s\n', { rcptTo: ['grey@example.com', 'b@example.com'] }, services);
    const [grey, ok] = r.phases.filter((p) => p.request === 'rcpt-to');
    assert.equal(grey?.answer, 'reject 450 4.2.0 Greylisted');
    assert.match(grey?.rows[0]?.result ?? '', /^policy answered DEFER_IF_PERMIT Greylisted \(\d+ ms\) → reject 450 4\.2\.0 Greylisted$/);
    assert.equal(ok?.answer, 'proceed');
    assert.match(ok?.rows[0]?.result ?? '', /^policy answered DUNNO/);
  });

  test('online: an armed DEFER_IF_PERMIT decides after later steps ran: the row that decided is the policy step', async () => {
    const services = policyServices(async () => ({
      type: 'arm',
      deferral: { when: 'if-permit', reply: '450 4.2.0 Greylisted' },
      detail: { answer: 'DEFER_IF_PERMIT Greylisted', latencyMs: 1 },
    }));
    const r = await run('chain a =\n  policy unix:/run/p.sock timeout 1s\n  then pause 1s at rcpt-to\n', {}, services);
    const rows = phase(r, 'rcpt-to')?.rows ?? [];
    assert.equal(phase(r, 'rcpt-to')?.answer, 'reject 450 4.2.0 Greylisted');
    assert.match(rows[0]?.result ?? '', /→ reject 450 4\.2\.0 Greylisted$/);
    assert.doesNotMatch(rows[1]?.result ?? '', /reject/);
  });

  test('online: a failing server shows its error and the on-error that applied', async () => {
    const services = policyServices(async () => {
      throw new Error('cannot connect: ENOENT');
    });
    const r = await run('chain a = policy unix:/run/p.sock on-error proceed\n', {}, services);
    assert.match(phase(r, 'rcpt-to')?.rows[0]?.result ?? '', /^policy failed after \d+ ms \(cannot connect: ENOENT\), on-error proceed$/);
    assert.equal(phase(r, 'rcpt-to')?.answer, 'proceed');
    const temp = await run('chain a = policy unix:/run/p.sock\n', {}, services);
    assert.match(phase(temp, 'rcpt-to')?.answer ?? '', /^reject 451 /);
    assert.match(phase(temp, 'rcpt-to')?.rows[0]?.result ?? '', /^policy failed after \d+ ms \(cannot connect: ENOENT\), on-error tempfail → reject 451 [^(]*$/);
  });

  test('headers a step adds show at the end (data-line registered, message streamed)', async () => {
    const services = policyServices(async () => ({ type: 'continue', addHeaders: ['X-Greylist: delayed 300 seconds'], detail: { answer: 'PREPEND X-Greylist: delayed 300 seconds' } }));
    const r = await run('chain a = postgrey unix:/run/p.sock\n', {}, services);
    assert.deepEqual(r.headersAdded, ['X-Greylist: delayed 300 seconds']);
    assert.match(formatTestReport(r, new Map()), /^headers added: X-Greylist: delayed 300 seconds$/m);
  });

  test('the report shows each step as written, with its file:line, and the answer of each phase', async () => {
    const loaded = load('chain a =\n    pause 3s\n    then reject "550 5.7.1 bare IP"\n        when helo ~ /^\\[/\n');
    const r = await runTestSession(loaded, { ...DEFAULT_SESSION, helo: '[192.0.2.1]' }, { mode: 'offline', startWallMs: 0 });
    const text = formatTestReport(r, loaded.sources);
    assert.match(text, /^connect +x\.rules:2 pause 3s +\(none\) +pause 3s \(not waited\)$/m);
    assert.match(text, /^ehlo \[192\.0\.2\.1\] +x\.rules:3 reject "550 5\.7\.1 bare IP" when helo ~ \/\^\\\[\/ +true \(helo=\[192\.0\.2\.1\]\) +reject 550 5\.7\.1 bare IP$/m);
    assert.match(text, /^ +=> answer to smtpd +reject 550 5\.7\.1 bare IP$/m);
  });
  test('--tls: STARTTLS after the first EHLO, then EHLO again (its steps run twice); from mail-from on the steps see TLS', async () => {
    const rules = 'chain a =\n  reject "550 5.7.1 bare IP" when helo ~ /^\\[/\n  then reject "530 5.7.0 Must issue a STARTTLS command first" when not tls\n';
    const tls = 'TLSv1.2:ECDHE-RSA-AES128-GCM-SHA256:128';
    const r = await run(rules, { tls });
    assert.deepEqual(
      r.phases.map((p) => [p.request, p.param, p.answer]),
      [
        ['connect', null, 'proceed'],
        ['ehlo', 'mx.example.net', 'proceed'],
        ['starttls', null, ''],
        ['ehlo', 'mx.example.net', 'proceed'],
        ['mail-from', '<a@example.net>', 'proceed'],
        ['rcpt-to', '<b@example.com>', 'proceed'],
        ['data', null, 'proceed'],
        ['commit', null, 'proceed'],
      ],
    );
    assert.equal(phase(r, 'starttls')?.note, `TLS ${tls}, reported (link-tls)`);
    assert.equal(phase(r, 'ehlo', 1)?.rows[0]?.condition, 'false', 'the helo step ran again after STARTTLS');
    assert.deepEqual(phase(r, 'mail-from')?.rows[0]?.values, { tls });
    const plain = await run(rules);
    assert.equal(phase(plain, 'starttls'), undefined);
    assert.equal(phase(plain, 'mail-from')?.answer, 'reject 530 5.7.0 Must issue a STARTTLS command first');
  });

  test('--auth-user: AUTH after TLS, reported as passed in 0.6 order (username|result): authenticated and auth-user see the name', async () => {
    const rules = 'chain a =\n  reject "550 5.7.1 not this one" when auth-user in { mallory }\n  then accept when authenticated\n  then greylist store "sqlite:/nonexistent/g.db"\n';
    const tls = 'TLSv1.3:TLS_AES_256_GCM_SHA384:256';
    const r = await run(rules, { tls, authUser: 'alice' });
    assert.deepEqual(
      r.phases.map((p) => p.request),
      ['connect', 'ehlo', 'starttls', 'ehlo', 'auth', 'mail-from', 'rcpt-to', 'data', 'commit'],
    );
    assert.deepEqual([phase(r, 'auth')?.param, phase(r, 'auth')?.note], ['alice', 'authenticated, reported (link-auth)']);
    const rows = phase(r, 'mail-from')?.rows ?? [];
    assert.deepEqual(
      rows.map((row) => [row.condition, row.values, row.result]),
      [
        ['false', { 'auth-user': 'alice' }, '-'],
        ['true', { authenticated: 'alice' }, 'accept: the rest of this transaction'],
      ],
    );
    assert.equal(phase(r, 'rcpt-to')?.note, 'skipped: an earlier accept covers this phase', 'an authenticated client is not greylisted');
    const mallory = await run(rules, { tls, authUser: 'mallory' });
    assert.equal(phase(mallory, 'mail-from')?.answer, 'reject 550 5.7.1 not this one');
    const text = formatTestReport(r, new Map());
    assert.match(text, /^session: .*EHLO mx\.example\.net, STARTTLS \(TLSv1\.3:TLS_AES_256_GCM_SHA384:256\), EHLO again, AUTH as alice, MAIL FROM <a@example\.net>/m);
    assert.match(text, /^auth alice +\(authenticated, reported \(link-auth\)\)$/m);
  });
});
