import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PolicyAnswerDecoder } from '../../../src/policy/codec.js';
import { MAX_REPLY_LENGTH, formatPolicyReply, interpretPolicyAction } from '../../../src/policy/action.js';

const recorded = JSON.parse(
  readFileSync(new URL('../../../../test/fixtures/policy/postgrey-1.37-answers.json', import.meta.url), 'utf8'),
) as { answers: Record<string, string> };

function recordedAction(name: string): string | null {
  const [item] = new PolicyAnswerDecoder().push(recorded.answers[name] ?? '');
  assert.ok(item && item.type === 'answer', name);
  return item.answer.action;
}

describe('interpretPolicyAction on recorded postgrey answers', () => {
  test('first triplet: DEFER_IF_PERMIT becomes 450 4.7.1 with the server text', () => {
    assert.deepEqual(interpretPolicyAction(recordedAction('first-triplet')), {
      kind: 'reject',
      reply: '450 4.7.1 Greylisted, see http://postgrey.schweikert.ch/help/rcpt.example.html',
      temporary: true,
      keyword: 'DEFER_IF_PERMIT',
    });
  });

  test('after the delay: PREPEND gives the X-Greylist header', () => {
    assert.deepEqual(interpretPolicyAction(recordedAction('after-delay')), {
      kind: 'prepend',
      header: 'X-Greylist: delayed 3 seconds by postgrey-1.37 at vm; Wed, 25 Nov 2026 20:28:14 UTC',
    });
  });

  test('whitelisted, incomplete request, passed again: DUNNO', () => {
    for (const name of ['whitelisted-client', 'missing-recipient', 'passed-again']) {
      assert.deepEqual(interpretPolicyAction(recordedAction(name)), { kind: 'dunno' }, name);
    }
  });
});

describe('interpretPolicyAction: access(5) actions', () => {
  const reject = (action: string): string => {
    const v = interpretPolicyAction(action);
    assert.ok(v.kind === 'reject', `${action} → ${v.kind}`);
    return v.reply;
  };

  test('postgrey behind Postfix 2.3+ puts DSN 4.2.0 first: it is kept', () => {
    assert.equal(reject('DEFER_IF_PERMIT 4.2.0 Greylisted, see http://x/y.html'), '450 4.2.0 Greylisted, see http://x/y.html');
  });

  test('keywords are case-insensitive (Postfix greylist.pl answers lowercase)', () => {
    assert.equal(reject('defer_if_permit Service temporarily unavailable'), '450 4.7.1 Service temporarily unavailable');
    assert.deepEqual(interpretPolicyAction('dunno'), { kind: 'dunno' });
  });

  test('generic texts when the server gives none (as Postfix)', () => {
    assert.equal(reject('DEFER_IF_PERMIT'), '450 4.7.1 Service unavailable');
    assert.equal(reject('DEFER'), '450 4.7.1 Access denied');
    assert.equal(reject('REJECT'), '550 5.7.1 Access denied');
  });

  test('REJECT is permanent; DEFER is temporary', () => {
    const r = interpretPolicyAction('REJECT blocked by policy');
    assert.deepEqual(r, { kind: 'reject', reply: '550 5.7.1 blocked by policy', temporary: false, keyword: 'REJECT' });
    const d = interpretPolicyAction('DEFER try later');
    assert.ok(d.kind === 'reject' && d.temporary && d.reply === '450 4.7.1 try later');
  });

  test('the DSN class follows the reply code', () => {
    assert.equal(reject('REJECT 4.7.1 no'), '550 5.7.1 no');
    assert.equal(reject('DEFER 5.1.1 later'), '450 4.1.1 later');
    assert.equal(reject('554 4.7.0 go away'), '554 5.7.0 go away');
  });

  test('4NN and 5NN with text reject with that code', () => {
    assert.deepEqual(interpretPolicyAction('451 4.3.0 try later'), {
      kind: 'reject',
      reply: '451 4.3.0 try later',
      temporary: true,
      keyword: '451',
    });
    assert.deepEqual(interpretPolicyAction('554 Go away'), {
      kind: 'reject',
      reply: '554 5.7.1 Go away',
      temporary: false,
      keyword: '554',
    });
  });

  test('421 and 521 disconnect', () => {
    assert.deepEqual(interpretPolicyAction('421 closing'), { kind: 'disconnect', reply: '421 4.7.1 closing', keyword: '421' });
    assert.deepEqual(interpretPolicyAction('521 5.7.0 botnet'), { kind: 'disconnect', reply: '521 5.7.0 botnet', keyword: '521' });
  });

  test('OK, RELAY, PERMIT and all-numeric values permit (a bare 450 too, as in Postfix)', () => {
    for (const a of ['OK', 'ok', 'OK whatever text', 'RELAY', 'PERMIT', '1732550400', '450']) {
      assert.equal(interpretPolicyAction(a).kind, 'permit', a);
    }
  });

  test('WARN and INFO are logged', () => {
    assert.deepEqual(interpretPolicyAction('WARN odd sender'), { kind: 'log', level: 'warn', keyword: 'WARN', text: 'odd sender' });
    assert.deepEqual(interpretPolicyAction('INFO spf=pass'), { kind: 'log', level: 'info', keyword: 'INFO', text: 'spf=pass' });
  });

  test('DEFER_IF_REJECT cannot defer a later step: logged', () => {
    const v = interpretPolicyAction('DEFER_IF_REJECT 4.7.1 temp dns error');
    assert.equal(v.kind, 'log');
  });

  test('post-queue actions have no filter equivalent: logged at warn', () => {
    for (const a of ['HOLD', 'DISCARD spam', 'FILTER smtp:[127.0.0.1]:10025', 'REDIRECT x@y', 'BCC archive@example.org']) {
      const v = interpretPolicyAction(a);
      assert.ok(v.kind === 'log' && v.level === 'warn', a);
    }
  });

  test('PREPEND needs a header', () => {
    assert.deepEqual(interpretPolicyAction('PREPEND Received-SPF: pass (x)'), { kind: 'prepend', header: 'Received-SPF: pass (x)' });
    for (const a of ['PREPEND', 'PREPEND no colon here', 'PREPEND : empty name', 'PREPEND Bad Name: x']) {
      const v = interpretPolicyAction(a);
      assert.ok(v.kind === 'log' && v.level === 'warn', a);
    }
  });

  test('anything else is invalid (the step on-error applies)', () => {
    for (const a of [null, '', '   ', 'FOO', 'permit_mynetworks', '200 fine', '450a text', 'HANGUP']) {
      assert.equal(interpretPolicyAction(a).kind, 'invalid', String(a));
    }
  });
});

describe('formatPolicyReply', () => {
  test('control characters become spaces; CR/LF can never reach the reply', () => {
    const reply = formatPolicyReply(450, 'line one\r\nline two\ttab', 'x');
    assert.equal(reply, '450 4.7.1 line one  line two tab');
    assert.ok(!/[\r\n]/.test(reply));
  });

  test('cut to 510 characters', () => {
    const reply = formatPolicyReply(550, 'y'.repeat(2000), 'x');
    assert.equal(reply.length, MAX_REPLY_LENGTH);
    assert.ok(reply.startsWith('550 5.7.1 yyy'));
  });

  test('a DSN alone uses the fallback text', () => {
    assert.equal(formatPolicyReply(450, '4.2.0', 'Service unavailable'), '450 4.2.0 Service unavailable');
  });

  test('something that only looks like a DSN is text', () => {
    assert.equal(formatPolicyReply(450, '4.2.0.1 x', 'f'), '450 4.7.1 4.2.0.1 x');
    assert.equal(formatPolicyReply(450, '6.1.1 x', 'f'), '450 4.7.1 6.1.1 x');
  });
});
