/**
 * Issue 10, items 4–5: a session is never forgotten into trust.
 *
 * - A quiet session (smtpd reports nothing for NOOP, RSET or HELP) keeps its
 *   facts for as long as it lasts: there is no idle expiry.
 * - A request after connect for a session the filter does not know gets the
 *   phase's tempfail, and no rule runs (no 5xx from missing facts, no
 *   "local" client); a connect request is judged on its own param.
 * - A full table evicts the least recently active session and says so.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionFacts } from '../../../src/model/plan.js';
import type { RuntimeEvents, SessionEvictedEvent, UnknownSessionEvent } from '../../../src/runtime/events.js';
import { chain, dataline, fakePolicy, HostHarness, line, policy, reject, result, rules, SID, SID2 } from './helpers.js';

const TEMPFAIL_451 = 'reject|451 4.3.0 Temporary failure, please try again later';
const MINUTE = 60_000;
const NO_RDNS = '550 5.7.1 no reverse DNS';
const id = (n: number) => (0x3689fe0000000000n + BigInt(n)).toString(16).padStart(16, '0');
const noop = (sid = SID) => `filter|0.6|1795635326.076808|smtp-in|noop|${sid}|1a9c3801f98076e9|`;

/** `reject when not rdns` at every rule phase after connect, and a policy step at rcpt-to that records what it was told. */
function harness(options: { maxSessions?: number; events?: RuntimeEvents } = {}) {
  const seen: SessionFacts[] = [];
  const notRdns = (f: SessionFacts) => f.rdns === null;
  const h = new HostHarness(
    rules([
      chain('main', [
        { action: reject(NO_RDNS), phase: 'helo', when: notRdns, whenText: 'not rdns' },
        { action: reject(NO_RDNS), phase: 'mail-from', when: notRdns, whenText: 'not rdns' },
        { action: policy(), phase: 'rcpt-to' },
        { action: reject(NO_RDNS), phase: 'commit', when: notRdns, whenText: 'not rdns' },
      ]),
    ]),
    {
      services: fakePolicy((ctx) => {
        seen.push(ctx.facts);
        return { type: 'continue' };
      }),
      ...(options.maxSessions !== undefined ? { limits: { maxSessions: options.maxSessions } } : {}),
      ...(options.events !== undefined ? { events: options.events } : {}),
    },
  );
  return { h, seen };
}

function connect(h: HostHarness, sid: string, src = '192.0.2.7') {
  h.feed(line.connect(sid, `${src}:60192`, 'mx.example.net'));
  assert.deepEqual(h.feed(line.request('connect', `mx.example.net|${src}`, sid)), [result('connect', 'proceed', sid)]);
  assert.deepEqual(h.feed(line.request('ehlo', 'mx.example.net', sid)), [result('ehlo', 'proceed', sid)]);
  h.feed(line.report('link-identify', sid, 'EHLO|mx.example.net'));
}

describe('a quiet session keeps its facts (no idle expiry)', () => {
  test('2 hours of NOOPs, then MAIL and RCPT: judged with the session’s address and rDNS', async () => {
    const { h, seen } = harness();
    connect(h, SID);
    for (let i = 0; i < 24; i++) {
      assert.deepEqual(await h.advance(5 * MINUTE), []);
      assert.deepEqual(h.feed(noop()), [`filter-result|${SID}|1a9c3801f98076e9|proceed`]);
    }
    assert.deepEqual(h.feed(line.request('mail-from', 'a@example.net')), [result('mail-from', 'proceed')]);
    h.feed(line.report('tx-begin', SID, '0a0b0c0d'), line.report('tx-mail', SID, '0a0b0c0d|ok|a@example.net'));
    assert.deepEqual([...h.feed(line.request('rcpt-to', 'b@example.org')), ...(await h.advance(0))], [result('rcpt-to', 'proceed')]);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.src, '192.0.2.7');
    assert.equal(seen[0]?.local, false);
    assert.equal(seen[0]?.rdns, 'mx.example.net');
    assert.equal(seen[0]?.helo, 'mx.example.net');
    assert.equal(h.host.stats().sessions, 1);
    assert.ok(!h.messages().some((m) => /unknown session|forgotten/.test(m ?? '')));
  });

  test('the host sets no timer of its own once registered', () => {
    const { h } = harness();
    assert.equal(h.host.stats().timers, 0);
    connect(h, SID);
    assert.equal(h.host.stats().timers, 0);
  });
});

describe('requests for unknown sessions', () => {
  test('after connect: the phase’s 4xx tempfail at every rule phase, no rule runs, never 5xx or local', async () => {
    const unknown: UnknownSessionEvent[] = [];
    const { h, seen } = harness({ events: { unknownSession: (e) => unknown.push(e) } });
    assert.deepEqual(h.feed(line.request('ehlo', 'mx.example.net', SID2)), [result('ehlo', TEMPFAIL_451, SID2)]);
    assert.deepEqual(h.feed(line.request('mail-from', 'a@example.net', SID2)), [result('mail-from', TEMPFAIL_451, SID2)]);
    assert.deepEqual([...h.feed(line.request('rcpt-to', 'b@example.org', SID2)), ...(await h.advance(0))], [result('rcpt-to', TEMPFAIL_451, SID2)]);
    assert.deepEqual(h.feed(line.request('commit', '', SID2)), [result('commit', TEMPFAIL_451, SID2)]);
    assert.equal(seen.length, 0, 'the policy step never ran');
    assert.equal(h.host.stats().sessions, 0, 'no session is made up for it');
    assert.deepEqual(
      unknown.map((e) => [e.sessionId, e.request, e.decision.type]),
      [
        [SID2, 'ehlo', 'reject'],
        [SID2, 'mail-from', 'reject'],
        [SID2, 'rcpt-to', 'reject'],
        [SID2, 'commit', 'reject'],
      ],
    );
    const logged = h.log.records.filter((r) => /^request for an unknown session/.test(r.msg ?? ''));
    assert.equal(logged.length, 4);
    assert.deepEqual(logged[0]?.fields, { session: SID2, phase: 'ehlo', reply: '451 4.3.0 Temporary failure, please try again later' });
    assert.ok(!h.log.records.some((r) => r.msg === 'decision'), 'no rule decided');
  });

  test('phases rules never see, and phases without steps, still proceed', () => {
    const { h } = harness();
    assert.deepEqual(h.feed(noop(SID2)), [`filter-result|${SID2}|1a9c3801f98076e9|proceed`]);
    // No step at data in these rules: nothing the missing facts could change.
    assert.deepEqual(h.feed(line.request('data', '', SID2)), [result('data', 'proceed', SID2)]);
  });

  test('a phase with only dry-run steps proceeds (dry-run never changes an answer)', () => {
    const h = new HostHarness(rules([chain('main', [{ action: reject(NO_RDNS), phase: 'mail-from', dryRun: true }])]));
    assert.deepEqual(h.feed(line.request('mail-from', 'a@example.net', SID2)), [result('mail-from', 'proceed', SID2)]);
  });

  test('its data lines are echoed, never swallowed', () => {
    const { h } = harness();
    assert.deepEqual(h.feed(line.request('data-line', 'Subject: x', SID2)), [dataline('Subject: x', SID2)]);
    assert.deepEqual(h.feed(line.request('data-line', '.', SID2)), [dataline('.', SID2)]);
  });

  test('a connect request is judged on its param (rdns and address), and the session is kept', async () => {
    const { h, seen } = harness();
    // No link-connect: the request alone says 192.0.2.66 without rDNS.
    assert.deepEqual(h.feed(line.request('connect', '<unknown>|192.0.2.66', SID2)), [result('connect', 'proceed', SID2)]);
    assert.deepEqual(h.feed(line.request('helo', 'x.example', SID2)), [result('helo', `reject|${NO_RDNS}`, SID2)]);
    assert.ok(h.messages().includes('connect request for a session whose link-connect was not seen; judged on the request'));
    // With rDNS in the param, the session goes on and later phases see its address.
    assert.deepEqual(h.feed(line.request('connect', 'mx.example.net|192.0.2.67')), [result('connect', 'proceed')]);
    assert.deepEqual(h.feed(line.request('mail-from', 'a@example.net')), [result('mail-from', 'proceed')]);
    assert.deepEqual([...h.feed(line.request('rcpt-to', 'b@example.org')), ...(await h.advance(0))], [result('rcpt-to', 'proceed')]);
    assert.equal(seen[0]?.src, '192.0.2.67');
    assert.equal(seen[0]?.local, false);
  });

  test('a connect request from the local socket is local: said by smtpd, not inferred', async () => {
    const { h, seen } = harness();
    assert.deepEqual(h.feed(line.request('connect', 'local', SID2)), [result('connect', 'proceed', SID2)]);
    h.feed(line.request('rcpt-to', 'b@example.org', SID2));
    await h.advance(0);
    assert.equal(seen[0]?.local, true);
  });

  test('a flood of unknown-session requests is rate-limited in the log', () => {
    const { h } = harness();
    for (let i = 0; i < 500; i++) h.feed(line.request('mail-from', 'a@example.net', id(i)));
    const warned = h.log.records.filter((r) => /^request for an unknown session/.test(r.msg ?? '')).length;
    assert.ok(warned <= 20, `${warned} warnings`);
  });
});

describe('a full session table', () => {
  test('evicts the least recently active session (not the newest), logs it with id, client and age; its requests then tempfail', async () => {
    const evicted: SessionEvictedEvent[] = [];
    const { h } = harness({ maxSessions: 3, events: { sessionEvicted: (e) => evicted.push(e) } });
    connect(h, id(1), '192.0.2.1');
    await h.advance(1000);
    connect(h, id(2), '192.0.2.2');
    await h.advance(1000);
    connect(h, id(3), '192.0.2.3');
    await h.advance(1000);
    // Session 1 is active again; 2 is now the least recently active.
    assert.deepEqual(h.feed(line.request('mail-from', 'a@example.net', id(1))), [result('mail-from', 'proceed', id(1))]);
    connect(h, id(4), '192.0.2.4');
    assert.equal(h.host.stats().sessions, 3);
    const logged = h.log.records.filter((r) => r.msg === 'session table full; least recently active session forgotten');
    assert.deepEqual(logged.map((r) => r.fields), [{ session: id(2), client: '192.0.2.2:60192', ageMs: 2000, maxSessions: 3 }]);
    assert.deepEqual(evicted, [{ type: 'session-evicted', sessionId: id(2), client: '192.0.2.2:60192', ageMs: 2000 }]);
    // The newest session kept its facts; the evicted one is tempfailed, not judged as rDNS-less.
    assert.deepEqual(h.feed(line.request('mail-from', 'a@example.net', id(4))), [result('mail-from', 'proceed', id(4))]);
    assert.deepEqual(h.feed(line.request('mail-from', 'a@example.net', id(2))), [result('mail-from', TEMPFAIL_451, id(2))]);
  });

  test('eviction warnings are rate-limited', () => {
    const { h } = harness({ maxSessions: 2 });
    for (let i = 0; i < 300; i++) h.feed(line.connect(id(i), '192.0.2.9:5000', 'mx.example.net'));
    assert.equal(h.host.stats().sessions, 2);
    const warned = h.log.records.filter((r) => r.msg === 'session table full; least recently active session forgotten').length;
    assert.ok(warned >= 1 && warned <= 20, `${warned} warnings`);
  });
});
