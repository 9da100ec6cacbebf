import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionFacts } from '../../../src/model/plan.js';
import { parseConnectParam } from '../../../src/protocol/parse.js';
import { Session } from '../../../src/runtime/session.js';
import { emptyPlan as plan, line, reportEvent as ev, SID } from './helpers.js';

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

  test('SPF results belong to the transaction: a new MAIL FROM or tx-reset forgets them, and facts read them', () => {
    const s = new Session(SID, plan());
    s.beginRequest('mail-from', 'a@example.net');
    s.facts('mail-from', 'mail-from', 'a@example.net').auth?.recordSpf('mailfrom', 'fail');
    s.auth.recordSpf('helo', 'pass');
    assert.equal(s.facts('rcpt-to', 'rcpt-to', 'b@x').auth?.spf('mailfrom'), 'fail');
    s.beginRequest('mail-from', 'next@example.net');
    assert.deepEqual([s.auth.spf('mailfrom'), s.auth.spf('helo')], [null, null], 'a new MAIL FROM is a new sender to check');
    s.auth.recordSpf('mailfrom', 'pass');
    s.applyReport(ev(line.report('tx-reset', SID, '89fe53ce')));
    assert.equal(s.auth.spf('mailfrom'), null, 'tx-reset ends the transaction');
  });

  test('early talker: smtpd refusing pipelining is noticed', () => {
    const s = new Session(SID, plan());
    s.applyReport(ev(line.report('protocol-server', SID, '220 vm ESMTP OpenSMTPD')));
    assert.equal(s.pipeliningRefused, false);
    s.applyReport(ev(line.report('protocol-server', SID, '500 5.5.1 Invalid command: Pipelining not supported')));
    assert.equal(s.pipeliningRefused, true);
  });
});
