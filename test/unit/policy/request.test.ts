import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { interpretPolicyAction } from '../../../src/policy/action.js';
import { PolicyAnswerDecoder, encodePolicyRequest } from '../../../src/policy/codec.js';
import { buildPolicyRequest, parseTlsString } from '../../../src/policy/request.js';
import { facts, parseRequests } from './fakes.js';

function asMap(attrs: ReturnType<typeof buildPolicyRequest>): Map<string, string> {
  return new Map(attrs.map(([n, v]) => [n, v]));
}

describe('buildPolicyRequest', () => {
  test('rcpt-to: every attribute Postfix sends, named and filled like Postfix', () => {
    const attrs = buildPolicyRequest(
      facts({ tls: 'TLSv1.3:TLS_AES_256_GCM_SHA384:256', authUser: 'alice' }),
      'rcpt-to',
    );
    assert.deepEqual(attrs, [
      ['request', 'smtpd_access_policy'],
      ['protocol_state', 'RCPT'],
      ['protocol_name', 'ESMTP'],
      ['client_address', '192.0.2.10'],
      ['client_name', 'mx.example.net'],
      ['client_port', '40000'],
      ['reverse_client_name', 'mx.example.net'],
      ['server_address', '198.51.100.1'],
      ['server_port', '25'],
      ['helo_name', 'mx.example.net'],
      ['sender', 'alice@sender.example'],
      ['recipient', 'bob@rcpt.example'],
      ['recipient_count', '0'],
      ['queue_id', '0badcafe'],
      ['instance', '0123456789abcdef.0badcafe'],
      ['size', '0'],
      ['etrn_domain', ''],
      ['stress', ''],
      ['sasl_method', ''],
      ['sasl_username', 'alice'],
      ['sasl_sender', ''],
      ['ccert_subject', ''],
      ['ccert_issuer', ''],
      ['ccert_fingerprint', ''],
      ['ccert_pubkey_fingerprint', ''],
      ['encryption_protocol', 'TLSv1.3'],
      ['encryption_cipher', 'TLS_AES_256_GCM_SHA384'],
      ['encryption_keysize', '256'],
      ['policy_context', ''],
    ]);
  });

  test('attributes postgrey needs are present even when nothing is known', () => {
    const m = asMap(
      buildPolicyRequest(
        facts({ rdns: null, fcrdns: null, helo: null, heloMethod: null, mailFrom: null, rcptTo: null, messageId: null, srcPort: null, destPort: null }),
        'rcpt-to',
      ),
    );
    for (const name of ['request', 'client_address', 'client_name', 'sender', 'recipient', 'instance']) {
      assert.ok(m.has(name), name);
    }
    assert.equal(m.get('client_name'), 'unknown');
    assert.equal(m.get('reverse_client_name'), 'unknown');
    assert.equal(m.get('sender'), '');
    assert.equal(m.get('helo_name'), '');
    assert.equal(m.get('protocol_name'), 'SMTP');
    assert.equal(m.get('client_port'), '0');
    assert.equal(m.get('instance'), '0123456789abcdef.0');
  });

  test('client_name is the verified name; reverse_client_name the PTR name', () => {
    const m = asMap(buildPolicyRequest(facts({ rdns: 'dyn-1.isp.example', fcrdns: 'fail' }), 'rcpt-to'));
    assert.equal(m.get('client_name'), 'unknown');
    assert.equal(m.get('reverse_client_name'), 'dyn-1.isp.example');
  });

  test('local-socket sessions look like Postfix non-network clients', () => {
    const m = asMap(buildPolicyRequest(facts({ local: true, src: '', srcPort: null, dest: '', destPort: null, rdns: null }), 'rcpt-to'));
    assert.equal(m.get('client_address'), '127.0.0.1');
    assert.equal(m.get('client_name'), 'localhost');
    assert.equal(m.get('reverse_client_name'), 'localhost');
  });

  test('no address on a session that is not local: refused, never sent as 127.0.0.1 or empty', () => {
    assert.throws(() => buildPolicyRequest(facts({ local: false, src: '', srcPort: null }), 'rcpt-to'), /client address is unknown/);
  });

  test('IPv6 clients are sent bare', () => {
    const m = asMap(buildPolicyRequest(facts({ src: '2001:db8::7' }), 'rcpt-to'));
    assert.equal(m.get('client_address'), '2001:db8::7');
  });

  test('protocol_state per phase', () => {
    const states = (['connect', 'helo', 'mail-from', 'rcpt-to', 'data', 'commit'] as const).map(
      (p) => asMap(buildPolicyRequest(facts(), p)).get('protocol_state'),
    );
    assert.deepEqual(states, ['CONNECT', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'END-OF-MESSAGE']);
    assert.equal(asMap(buildPolicyRequest(facts({ heloMethod: 'HELO' }), 'helo')).get('protocol_state'), 'HELO');
  });

  test('recipient and recipient_count at data and commit, as in Postfix', () => {
    const one = asMap(buildPolicyRequest(facts({ rcptTo: null, recipients: ['a@x.example'] }), 'data'));
    assert.equal(one.get('recipient'), 'a@x.example');
    assert.equal(one.get('recipient_count'), '1');
    const two = asMap(buildPolicyRequest(facts({ rcptTo: null, recipients: ['a@x.example', 'b@x.example'], size: 4242 }), 'commit'));
    assert.equal(two.get('recipient'), '');
    assert.equal(two.get('recipient_count'), '2');
    assert.equal(two.get('size'), '4242');
    const mail = asMap(buildPolicyRequest(facts({ rcptTo: null, messageId: null }), 'mail-from'));
    assert.equal(mail.get('recipient'), '');
    assert.equal(mail.get('recipient_count'), '0');
  });

  test('instance is stable within a transaction and differs between transactions', () => {
    const inst = (p: 'rcpt-to' | 'data' | 'commit', messageId: string): string | undefined =>
      asMap(buildPolicyRequest(facts({ messageId }), p)).get('instance');
    assert.equal(inst('rcpt-to', 'aaaa0001'), inst('commit', 'aaaa0001'));
    assert.equal(inst('rcpt-to', 'aaaa0001'), inst('data', 'aaaa0001'));
    assert.notEqual(inst('rcpt-to', 'aaaa0001'), inst('rcpt-to', 'aaaa0002'));
  });

  test('a hostile HELO or address cannot inject attributes', () => {
    const attrs = buildPolicyRequest(
      facts({
        helo: 'x\nrecipient=postmaster@victim.example',
        mailFrom: 'a@b\r\nclient_address=10.0.0.1',
        rcptTo: 'bob@rcpt.example\n\nrequest=smtpd_access_policy',
      }),
      'rcpt-to',
    );
    const requests = parseRequests(encodePolicyRequest(attrs));
    assert.equal(requests.length, 1);
    const req = requests[0]!;
    assert.equal(req.get('client_address'), '192.0.2.10');
    assert.equal(req.size, attrs.length, 'no extra attribute names');
    assert.ok(!req.get('recipient')!.includes('\n'));
  });
});

describe('parseTlsString', () => {
  test('VERSION:CIPHER:BITS', () => {
    assert.deepEqual(parseTlsString('TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384:256'), {
      protocol: 'TLSv1.2',
      cipher: 'ECDHE-RSA-AES256-GCM-SHA384',
      keysize: 256,
    });
  });
  test('other shapes give null (sent as empty / 0)', () => {
    assert.equal(parseTlsString('garbage'), null);
    assert.equal(parseTlsString('TLSv1.3:X:notbits'), null);
    const m = new Map(buildPolicyRequest(facts({ tls: 'garbage' }), 'rcpt-to'));
    assert.equal(m.get('encryption_keysize'), '0');
    assert.equal(m.get('encryption_protocol'), '');
  });
});

describe('the request postgrey was recorded answering', () => {
  const recordedExchange = JSON.parse(
    readFileSync(new URL('../../../../test/fixtures/policy/postgrey-1.37-full-request.json', import.meta.url), 'utf8'),
  ) as { request: string; answer: string };

  test('is byte for byte what we encode for those facts (golden)', () => {
    assert.equal(encodePolicyRequest(buildPolicyRequest(facts(), 'rcpt-to')), recordedExchange.request);
  });

  test("and postgrey's answer to it arms 450 4.2.0 (DEFER_IF_PERMIT)", () => {
    const [item] = new PolicyAnswerDecoder().push(recordedExchange.answer);
    assert.ok(item && item.type === 'answer');
    const v = interpretPolicyAction(item.answer.action);
    assert.ok(v.kind === 'defer-if-permit');
    assert.equal(v.reply, '450 4.2.0 Greylisted, see http://postgrey.schweikert.ch/help/rcpt.example.html');
  });
});
