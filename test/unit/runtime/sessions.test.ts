import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionFacts } from '../../../src/model/plan.js';
import { parseConnectParam, parseInputLine } from '../../../src/protocol/parse.js';
import type { ReportEvent } from '../../../src/protocol/types.js';
import { buildPlan, DEFAULT_TIMINGS, type ActivePlan } from '../../../src/runtime/plan.js';
import { Session, SessionTable } from '../../../src/runtime/sessions.js';
import { FakeClock } from '../../../src/support/clock.js';
import { silentLogger } from '../../../src/support/log.js';
import { chain, line, rules, SID } from './helpers.js';

function plan(): ActivePlan {
  const p = buildPlan(rules([chain('main', [])]), null, 1, { log: silentLogger, extras: {}, timings: DEFAULT_TIMINGS });
  assert.ok(p.ok);
  return p.ok ? p.value : (undefined as never);
}

function ev(l: string): ReportEvent {
  const p = parseInputLine(l);
  assert.ok(p.ok && p.value.kind === 'report', l);
  return p.ok && p.value.kind === 'report' ? p.value.event : (undefined as never);
}

describe('Session facts from reports', () => {
  test('link-connect: IPv4 with port, rdns, fcrdns', () => {
    const s = new Session(SID, plan());
    s.applyReport(ev(line.connect(SID, '192.0.2.7:60192', 'mx.example.net')));
    const f = s.facts('connect', 'connect', 'mx.example.net|192.0.2.7');
    assert.equal(f.src, '192.0.2.7');
    assert.equal(f.srcPort, 60192);
    assert.equal(f.dest, '127.0.0.1');
    assert.equal(f.destPort, 2540);
    assert.equal(f.rdns, 'mx.example.net');
    assert.equal(f.fcrdns, 'pass');
    assert.equal(f.local, false);
  });

  test('link-connect: <unknown> rdns is null, IPv6 brackets stripped, local socket', () => {
    const s = new Session(SID, plan());
    s.applyReport(ev(line.report('link-connect', SID, '<unknown>|fail|[2001:db8::7]:58140|[::1]:25')));
    assert.equal(s.facts('connect', 'connect', '').rdns, null);
    assert.equal(s.facts('connect', 'connect', '').src, '2001:db8::7');
    const l = new Session(SID, plan());
    l.applyReport(ev(line.report('link-connect', SID, 'vm|pass|unix:/var/run/smtpd.sock|unix:/var/run/smtpd.sock')));
    const lf = l.facts('connect', 'connect', '');
    assert.equal(lf.local, true);
    assert.equal(lf.src, '');
    assert.equal(lf.srcPort, null);
  });

  test('a connect request alone tells what link-connect would: address, local socket, rdns, the client for logs', () => {
    const cases = [
      ['mx.example.net|pass|192.0.2.7:60192|127.0.0.1:25', 'mx.example.net|192.0.2.7', '192.0.2.7'],
      ['<unknown>|fail|[2001:db8::7]:58140|[::1]:25', '<unknown>|[2001:db8::7]', '[2001:db8::7]'],
      ['vm|pass|unix:/var/run/smtpd.sock|unix:/var/run/smtpd.sock', 'vm|local', 'local'],
    ] as const;
    for (const [report, param, client] of cases) {
      const viaReport = new Session(SID, plan());
      viaReport.applyReport(ev(line.report('link-connect', SID, report)));
      const viaRequest = new Session(SID, plan());
      viaRequest.applyConnectParam(parseConnectParam(param));
      const pick = (f: SessionFacts) => ({ src: f.src, local: f.local, rdns: f.rdns });
      assert.deepEqual(pick(viaRequest.facts('connect', 'connect', param)), pick(viaReport.facts('connect', 'connect', param)), param);
      assert.equal(viaRequest.client, client, 'as the request wrote it');
      assert.equal(viaRequest.facts('connect', 'connect', param).srcPort, null, 'the request has no port');
    }
  });

  test('the command under judgement comes from the request, earlier ones from reports', () => {
    const s = new Session(SID, plan());
    s.applyReport(ev(line.connect()));
    // At helo the identity is the request's (link-identify comes after our answer).
    const atHelo = s.facts('helo', 'ehlo', 'mx.example.net');
    assert.equal(atHelo.helo, 'mx.example.net');
    assert.equal(atHelo.heloMethod, 'EHLO');
    assert.equal(s.facts('helo', 'helo', 'x').heloMethod, 'HELO');
    s.applyReport(ev(line.report('link-identify', SID, 'EHLO|mx.example.net')));
    s.beginRequest('mail-from', 'Alice@Example.NET');
    assert.equal(s.facts('mail-from', 'mail-from', 'Alice@Example.NET').mailFrom, 'Alice@Example.NET');
    s.applyReport(ev(line.report('tx-begin', SID, '89fe53ce')));
    s.applyReport(ev(line.report('tx-mail', SID, '89fe53ce|ok|Alice@Example.NET')));
    const r1 = s.facts('rcpt-to', 'rcpt-to', 'one@localhost');
    assert.equal(r1.rcptTo, 'one@localhost');
    assert.deepEqual(r1.recipients, []);
    assert.equal(r1.helo, 'mx.example.net');
    assert.equal(r1.messageId, '89fe53ce');
    s.applyReport(ev(line.report('tx-rcpt', SID, '89fe53ce|ok|one@localhost')));
    s.applyReport(ev(line.report('tx-rcpt', SID, '89fe53ce|permfail|no@localhost')));
    const r2 = s.facts('rcpt-to', 'rcpt-to', 'two@localhost');
    assert.deepEqual(r2.recipients, ['one@localhost'], 'only accepted recipients');
    assert.equal(s.facts('data', 'data', '').rcptTo, null);
    s.applyReport(ev(line.report('tx-reset', SID, '89fe53ce')));
    const after = s.facts('helo', 'helo', 'x');
    assert.equal(after.mailFrom, null);
    assert.deepEqual(after.recipients, []);
    assert.equal(after.messageId, null);
  });

  test('tls, auth (pass only), size at commit', () => {
    const s = new Session(SID, plan());
    s.applyReport(ev(line.report('link-tls', SID, 'TLSv1.3:TLS_AES_256_GCM_SHA384:256')));
    s.applyReport(ev(line.report('link-auth', SID, 'bob|fail')));
    assert.equal(s.facts('mail-from', 'mail-from', '').authUser, null);
    s.applyReport(ev(line.report('link-auth', SID, 'alice|pass')));
    const f = s.facts('mail-from', 'mail-from', '');
    assert.equal(f.authUser, 'alice');
    assert.equal(f.tls, 'TLSv1.3:TLS_AES_256_GCM_SHA384:256');
    s.messageBytes = 560;
    assert.equal(s.facts('commit', 'commit', '').size, 560);
    assert.equal(s.facts('data', 'data', '').size, null);
  });

  test('facts are a snapshot: later reports do not change facts already handed out', () => {
    const s = new Session(SID, plan());
    s.applyReport(ev(line.report('tx-begin', SID, '89fe53ce')));
    const f = s.facts('rcpt-to', 'rcpt-to', 'a@x');
    s.applyReport(ev(line.report('tx-rcpt', SID, '89fe53ce|ok|a@x')));
    assert.deepEqual(f.recipients, []);
  });

  test('accept scopes: session at connect/helo, transaction at mail-from until the next one', () => {
    const s = new Session(SID, plan());
    s.accept('rcpt-to');
    assert.equal(s.isAccepted('data'), false, 'rcpt-to accepts one recipient only');
    s.accept('mail-from');
    assert.equal(s.isAccepted('rcpt-to'), true);
    assert.equal(s.isAccepted('commit'), true);
    assert.equal(s.isAccepted('mail-from'), false);
    s.applyReport(ev(line.report('tx-reset', SID, '89fe53ce')));
    assert.equal(s.isAccepted('rcpt-to'), false, 'tx-reset ends the transaction scope');
    s.accept('mail-from');
    s.beginRequest('mail-from', 'next@example.net');
    assert.equal(s.isAccepted('rcpt-to'), false, 'a new MAIL FROM ends it too');
    s.accept('helo');
    for (const p of ['connect', 'helo', 'mail-from', 'rcpt-to', 'data', 'commit'] as const) assert.equal(s.isAccepted(p), true);
  });

  test('early talker: smtpd refusing pipelining is noticed', () => {
    const s = new Session(SID, plan());
    s.applyReport(ev(line.report('protocol-server', SID, '220 vm ESMTP OpenSMTPD')));
    assert.equal(s.pipeliningRefused, false);
    s.applyReport(ev(line.report('protocol-server', SID, '500 5.5.1 Invalid command: Pipelining not supported')));
    assert.equal(s.pipeliningRefused, true);
  });
});

describe('SessionTable', () => {
  const id = (n: number) => n.toString(16).padStart(16, '0');
  const HOUR = 3_600_000;

  /** A table whose sessions each saw a line after connecting, as under real traffic. */
  function filled(n: number, maxSessions = n) {
    const clock = new FakeClock();
    const ended: [string, string, number][] = [];
    const t = new SessionTable({ clock, maxSessions, onEnd: (s, why, ageMs) => ended.push([s.id, why, ageMs]) });
    const p = plan();
    for (let i = 1; i <= n; i++) {
      t.add(new Session(id(i), p));
      clock.advance(1000);
      assert.ok(t.get(id(i)), 'its first line');
    }
    return { clock, t, ended, p };
  }

  test('bounded: 100,000 connects without disconnect keep at most maxSessions', () => {
    const clock = new FakeClock();
    const ended: string[] = [];
    const t = new SessionTable({ clock, maxSessions: 50_000, onEnd: (_s, why) => ended.push(why) });
    const p = plan();
    for (let i = 0; i < 100_000; i++) t.add(new Session(id(i), p));
    assert.equal(t.size, 50_000);
    assert.equal(ended.length, 50_000);
    assert.ok(ended.every((w) => w === 'evicted'));
    assert.equal(t.get(id(0)), undefined, 'the oldest went first');
    assert.ok(t.get(id(49_999)) === undefined && t.get(id(50_000)) !== undefined);
    assert.ok(t.get(id(99_999)));
  });

  test('a session with no line for 2 hours is still there, with its facts (no idle expiry)', () => {
    const clock = new FakeClock();
    const ended: string[] = [];
    const t = new SessionTable({ clock, maxSessions: 10, onEnd: (_s, why) => ended.push(why) });
    const s = new Session(SID, plan());
    s.applyReport(ev(line.connect(SID, '192.0.2.7:60192', 'mx.example.net')));
    t.add(s);
    clock.advance(2 * HOUR);
    assert.equal(clock.pending(), 0, 'the table sets no timer');
    const later = t.get(SID);
    assert.equal(later, s);
    const f = later?.facts('mail-from', 'mail-from', 'a@example.net');
    assert.equal(f?.src, '192.0.2.7');
    assert.equal(f?.rdns, 'mx.example.net');
    assert.equal(f?.local, false);
    assert.deepEqual(ended, []);
  });

  test('full: touching the oldest saves it; the second-oldest is evicted, the newest kept', () => {
    const { t, ended, p } = filled(5);
    assert.ok(t.get(id(1)), 'the oldest is active again');
    t.add(new Session(id(6), p));
    assert.deepEqual(ended.map(([s, why]) => [s, why]), [[id(2), 'evicted']]);
    assert.ok(t.get(id(6)), 'the session that just connected keeps its facts');
    assert.ok(t.get(id(1)));
    assert.equal(t.size, 5);
  });

  test('full and every session active: adding evicts the least recently active, in order', () => {
    const { t, ended, p } = filled(5);
    for (const n of [3, 1, 5, 2, 4]) assert.ok(t.get(id(n)));
    assert.deepEqual(t.idsByRecency(), [3, 1, 5, 2, 4].map(id));
    for (let n = 6; n <= 10; n++) t.add(new Session(id(n), p));
    assert.deepEqual(
      ended.map(([s]) => s),
      [3, 1, 5, 2, 4].map(id),
    );
    assert.deepEqual(t.idsByRecency(), [6, 7, 8, 9, 10].map(id));
  });

  test('the last-looked-up fast path still counts as activity', () => {
    const { t, ended, p } = filled(3, 4);
    // 3 was looked up last; a new session becomes the tail without a lookup.
    t.add(new Session(id(4), p));
    assert.deepEqual(t.idsByRecency(), [1, 2, 3, 4].map(id));
    assert.ok(t.get(id(3)), 'found through the remembered entry');
    assert.deepEqual(t.idsByRecency(), [1, 2, 4, 3].map(id));
    for (const n of [5, 6, 7]) t.add(new Session(id(n), p));
    assert.deepEqual(ended.map(([s]) => s), [1, 2, 4].map(id));
  });

  test('an evicted session is reported with its age', () => {
    const { clock, t, ended, p } = filled(2);
    clock.advance(10_000);
    t.add(new Session(id(3), p));
    // Session 1 was added at 0, session 3 at 12 s.
    assert.deepEqual(ended, [[id(1), 'evicted', 12_000]]);
  });

  test('connect/disconnect churn on a quiet server costs O(1), not O(maxSessions)', () => {
    const clock = new FakeClock();
    const t = new SessionTable({ clock, maxSessions: 50_000, onEnd: () => {} });
    const p = plan();
    const started = performance.now();
    // The table goes from one session to none 20,000 times (lru-cache refills its
    // 50,000-slot arrays every time this happens: seconds instead of milliseconds).
    for (let i = 0; i < 20_000; i++) {
      t.add(new Session(id(i), p));
      t.delete(id(i));
    }
    assert.equal(t.size, 0);
    assert.ok(performance.now() - started < 1500, `${Math.round(performance.now() - started)} ms`);
  });

  test('deleting from the head, middle and tail keeps the order consistent', () => {
    const { t, p } = filled(5);
    t.delete(id(1));
    t.delete(id(3));
    t.delete(id(5));
    assert.deepEqual(t.idsByRecency(), [id(2), id(4)]);
    assert.ok(t.get(id(2)));
    t.add(new Session(id(6), p));
    assert.deepEqual(t.idsByRecency(), [4, 2, 6].map(id));
    t.clear();
    assert.deepEqual(t.idsByRecency(), []);
    t.add(new Session(id(7), p));
    assert.deepEqual(t.idsByRecency(), [id(7)]);
  });

  test('delete reports disconnect, replace reports replaced, clear reports cleared', () => {
    const clock = new FakeClock();
    const ended: string[] = [];
    const t = new SessionTable({ clock, maxSessions: 10, onEnd: (_s, why) => ended.push(why) });
    const p = plan();
    t.add(new Session(id(1), p));
    t.add(new Session(id(1), p));
    t.add(new Session(id(2), p));
    assert.equal(t.size, 2);
    assert.deepEqual(t.idsByRecency(), [id(1), id(2)]);
    assert.ok(t.delete(id(2)));
    t.clear();
    assert.deepEqual(ended, ['replaced', 'disconnect', 'cleared']);
  });

  test('options are validated', () => {
    const clock = new FakeClock();
    assert.throws(() => new SessionTable({ clock, maxSessions: 0, onEnd: () => {} }), RangeError);
    assert.throws(() => new SessionTable({ clock, maxSessions: 1.5, onEnd: () => {} }), RangeError);
  });
});
