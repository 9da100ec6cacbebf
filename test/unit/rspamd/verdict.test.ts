/**
 * rspamd's answers as recorded from Debian's rspamd 3.4
 * (test/fixtures/rspamd/*.json), read (response.ts) and judged (verdict.ts,
 * reply.ts), and the headers of the request (request.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { applyHeaderEdits } from '../../../src/message/edits.js';
import { fieldOfLine } from '../../../src/message/fields.js';
import type { SessionFacts } from '../../../src/model/plan.js';
import { replyOf } from '../../../src/rspamd/reply.js';
import { requestHeaders } from '../../../src/rspamd/request.js';
import { parseAnswer, type RspamdAnswer } from '../../../src/rspamd/response.js';
import { judge, treatmentOf, DEFAULT_VERDICT_OPTIONS, type VerdictOptions } from '../../../src/rspamd/verdict.js';

const FIXTURES = new URL('../../../../test/fixtures/rspamd/', import.meta.url);

function recorded(name: string): RspamdAnswer {
  const parsed = parseAnswer(readFileSync(new URL(name, FIXTURES)));
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  return parsed.value;
}

const text = (lines: readonly Uint8Array[]) => lines.map((l) => Buffer.from(l).toString('utf8'));

describe('rspamd answers (recorded from rspamd 3.4)', () => {
  test('GTUBE: reject with its smtp_message → 550 5.7.1 Gtube pattern', () => {
    const a = recorded('gtube-reject.json');
    assert.equal(a.action, 'reject');
    assert.deepEqual(a.symbols, ['GTUBE']);
    const { reading } = judge(a);
    assert.deepEqual(reading.outcome.type === 'decide' ? reading.outcome.decision : null, { type: 'reject', reply: '550 5.7.1 Gtube pattern' });
    assert.equal(reading.rspamd?.score, 15);
  });

  test('rewrite subject: the Subject is replaced whole', () => {
    const { reading } = judge(recorded('rewrite-subject.json'));
    assert.equal(reading.outcome.type, 'continue');
    const out = applyHeaderEdits([fieldOfLine('Subject: test'), { name: 'Subject', lines: [Buffer.from('Subject: a'), Buffer.from(' folded')] }], reading.edits);
    assert.deepEqual(out.flatMap((f) => text(f.lines)), ['Subject: *** SPAM *** test']);
  });

  test('add header: junk (X-Spam: Yes on top), the milter headers removed and appended, multi-line values folded', () => {
    const a = recorded('add-header-milter.json');
    assert.equal(a.action, 'add header');
    const { reading, dropped } = judge(a);
    assert.deepEqual(dropped, []);
    const before = [fieldOfLine('Received: from x'), fieldOfLine('X-Spam-Status: Yes, upstream'), fieldOfLine('Subject: hi')];
    const lines = applyHeaderEdits(before, reading.edits).flatMap((f) => text(f.lines));
    assert.equal(lines[0], 'X-Spam: Yes');
    assert.equal(lines[1], 'Received: from x');
    assert.ok(!lines.includes('X-Spam-Status: Yes, upstream'), 'removed (index 0: every one)');
    const result = lines.indexOf(lines.find((l) => l.startsWith('X-Spamd-Result: default: False [6.00 / 15.00];')) ?? '');
    assert.ok(result > 2, 'appended (order -1)');
    assert.equal(lines[result + 1], '\tHFILTER_HOSTNAME_UNKNOWN(2.50)[];', 'CRLF in the value: a folded line each');
    assert.ok(lines.every((l) => !/[\r\n]/.test(l)));
    assert.ok(lines.includes('X-Rspamd-Action: add header'));
  });

  test('no action: proceed, with the headers', () => {
    const { reading } = judge(recorded('no-action-milter.json'));
    assert.equal(reading.outcome.type, 'continue');
    assert.ok(reading.edits.some((e) => e.type === 'append' && Buffer.from(e.field.lines[0] as Uint8Array).toString().startsWith('X-Spamd-Result:')));
    assert.ok(!reading.edits.some((e) => e.type === 'insert' && e.field.name === 'X-Spam'), 'not junk');
  });

  test('the action table, discard and quarantine as configured', () => {
    const o = DEFAULT_VERDICT_OPTIONS;
    assert.equal(treatmentOf('soft reject', o), 'tempfail');
    assert.equal(treatmentOf('greylist', o), 'tempfail');
    assert.equal(treatmentOf('no action', o), 'proceed');
    assert.equal(treatmentOf('discard', o), 'junk');
    assert.equal(treatmentOf('quarantine', { discard: { action: 'junk' }, quarantine: { action: 'reject', reply: null } }), 'reject');
  });

  test('a discard made a refusal: rspamd\'s message as a 550, or the rules\' reply; junk by default', () => {
    const answer = parseAnswer(Buffer.from(JSON.stringify({ action: 'discard', score: 30, messages: { smtp_message: 'Go away' } })));
    assert.ok(answer.ok);
    const refusal = (options: VerdictOptions) => {
      const o = judge(answer.value, options).reading.outcome;
      return o.type === 'decide' ? o.decision : o.type;
    };
    assert.deepEqual(refusal({ ...DEFAULT_VERDICT_OPTIONS, discard: { action: 'reject', reply: null } }), { type: 'reject', reply: '550 5.7.1 Go away' });
    assert.deepEqual(refusal({ ...DEFAULT_VERDICT_OPTIONS, discard: { action: 'reject', reply: '554 5.7.1 Not here' } }), { type: 'reject', reply: '554 5.7.1 Not here' });
    assert.equal(refusal(DEFAULT_VERDICT_OPTIONS), 'continue');
    // The choice for discard is not quarantine's.
    assert.equal(refusal({ ...DEFAULT_VERDICT_OPTIONS, quarantine: { action: 'reject', reply: null } }), 'continue');
    assert.equal(treatmentOf('custom thing', DEFAULT_VERDICT_OPTIONS), 'proceed');
  });

  test('order is honoured; dkim-signature (string or array) inserted on top; remove by index', () => {
    const a = parseAnswer(
      Buffer.from(
        JSON.stringify({
          action: 'no action',
          score: 1,
          milter: {
            add_headers: { 'ARC-Seal': { value: 'i=1; s', order: 1 }, 'ARC-Message-Signature': { value: 'i=1; m', order: 1 }, X: ['one', { value: 'two', order: -1 }] },
            remove_headers: { 'x-old': -1 },
          },
          'dkim-signature': ['v=1; a', 'v=1; b'],
        }),
      ),
    );
    assert.ok(a.ok);
    const { reading } = judge(a.value);
    const out = applyHeaderEdits([fieldOfLine('X-Old: 1'), fieldOfLine('X-Old: 2'), fieldOfLine('Subject: s')], reading.edits).flatMap((f) => text(f.lines));
    assert.deepEqual(out, ['DKIM-Signature: v=1; b', 'DKIM-Signature: v=1; a', 'ARC-Message-Signature: i=1; m', 'ARC-Seal: i=1; s', 'X-Old: 1', 'Subject: s', 'X: one', 'X: two']);
  });

  test('malformed, huge or error answers are errors', () => {
    assert.equal(parseAnswer(Buffer.from('{"action":')).ok, false);
    assert.equal(parseAnswer(Buffer.from('[1]')).ok, false);
    assert.equal(parseAnswer(Buffer.from('{"score":1}')).ok, false);
    assert.equal(parseAnswer(Buffer.from('{"error":"bad"}')).ok, false);
    assert.equal(parseAnswer(Buffer.from(`{"action":"no action","x":"${'a'.repeat(100)}"}`), 50).ok, false);
    const odd = parseAnswer(Buffer.from('{"action":"no action","score":"high","symbols":[1],"milter":{"add_headers":{"X":{"value":5}},"remove_headers":{"Y":"all"}}}'));
    assert.ok(odd.ok);
    assert.deepEqual([odd.value.score, odd.value.symbols, odd.value.addHeaders, odd.value.removeHeaders], [0, [], [], []]);
  });
});

describe('rspamd replies', () => {
  test('sanitised: no CR/LF, the class ours, bounded, a fallback', () => {
    assert.equal(replyOf('reject', 'Gtube pattern'), '550 5.7.1 Gtube pattern');
    assert.equal(replyOf('reject', 'spam\r\n250 ok'), '550 5.7.1 spam 250 ok');
    assert.equal(replyOf('reject', '250 2.0.0 fine'), '550 5.7.1 fine');
    assert.equal(replyOf('tempfail', '421 4.7.0 go away'), '451 4.7.1 go away');
    assert.equal(replyOf('tempfail', null), '451 4.7.1 Try again later');
    assert.equal(replyOf('reject', '   '), '550 5.7.1 Spam message rejected');
    assert.equal(replyOf('reject', 'é'.repeat(500)).length, '550 5.7.1 '.length + 200);
  });
});

describe('rspamd request headers', () => {
  const base: SessionFacts = {
    sessionId: 's',
    src: '192.0.2.7',
    srcPort: 5000,
    dest: '192.0.2.1',
    destPort: 25,
    local: false,
    rdns: 'mx.example.com',
    fcrdns: 'pass',
    helo: 'mx.example.com',
    heloMethod: 'EHLO',
    mailFrom: 'a@example.com',
    rcptTo: null,
    recipients: ['b@example.org', 'c@example.org'],
    messageId: '130a4bf0',
    authUser: null,
    tls: 'TLSv1.3:TLS_AES_256_GCM_SHA384:256',
    size: 100,
  };

  test('every header from the session', () => {
    assert.deepEqual(requestHeaders(base, { mtaName: 'mx1', settingsId: 'inbound' }), {
      IP: '192.0.2.7',
      Hostname: 'mx.example.com',
      Helo: 'mx.example.com',
      From: '<a@example.com>',
      Rcpt: ['<b@example.org>', '<c@example.org>'],
      'Queue-Id': '130a4bf0',
      'MTA-Name': 'mx1',
      'TLS-Version': 'TLSv1.3',
      'TLS-Cipher': 'TLS_AES_256_GCM_SHA384',
      'Settings-ID': 'inbound',
    });
  });

  test('no IP for a local client, no Hostname unless FCrDNS passed, User when authenticated, Deliver-To for one recipient, <> for the null sender', () => {
    const h = requestHeaders({ ...base, local: true, src: '', fcrdns: 'fail', authUser: 'bob', recipients: ['b@example.org'], mailFrom: '', tls: null }, { mtaName: '' });
    assert.deepEqual(h, { Helo: 'mx.example.com', From: '<>', Rcpt: ['<b@example.org>'], 'Deliver-To': 'b@example.org', 'Queue-Id': '130a4bf0', User: 'bob' });
  });

  test('client-chosen values cannot break a header line', () => {
    const h = requestHeaders({ ...base, helo: 'evil\r\nX-Injected: 1' }, { mtaName: 'm' });
    assert.equal(h['Helo'], 'evil  X-Injected: 1');
  });
});
