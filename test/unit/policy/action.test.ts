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
  test('first triplet: DEFER_IF_PERMIT arms 450 4.7.1 with the server text', () => {
    assert.deepEqual(interpretPolicyAction(recordedAction('first-triplet')), {
      kind: 'defer-if-permit',
      reply: '450 4.7.1 Greylisted, see http://postgrey.schweikert.ch/help/rcpt.example.html',
      keyword: 'DEFER_IF_PERMIT',
    });
  });

  test('after the delay: PREPEND gives the X-Greylist header', () => {
    assert.deepEqual(interpretPolicyAction(recordedAction('after-delay')), {
      kind: 'prepend',
      header: 'X-Greylist: delayed 3 seconds by postgrey-1.37 at vm; Wed, 25 Nov 2026 20:28:14 UTC',
      fixed: [],
    });
  });

  test('whitelisted, incomplete request, passed again: DUNNO', () => {
    for (const name of ['whitelisted-client', 'missing-recipient', 'passed-again']) {
      assert.deepEqual(interpretPolicyAction(recordedAction(name)), { kind: 'dunno' }, name);
    }
  });
});

describe('interpretPolicyAction: access(5) actions', () => {
  /** The reply of a reject, or of an armed deferral. */
  const reject = (action: string): string => {
    const v = interpretPolicyAction(action);
    assert.ok(v.kind === 'reject' || v.kind === 'defer-if-permit' || v.kind === 'defer-if-reject', `${action} → ${v.kind}`);
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

  test('DEFER_IF_PERMIT and DEFER_IF_REJECT arm a 450 (DSN and text as Postfix: var_map_defer_code, 4.7.1, "Service unavailable")', () => {
    assert.deepEqual(interpretPolicyAction('DEFER_IF_REJECT 4.4.3 temp dns error'), {
      kind: 'defer-if-reject',
      reply: '450 4.4.3 temp dns error',
      keyword: 'DEFER_IF_REJECT',
    });
    assert.deepEqual(interpretPolicyAction('defer_if_reject'), { kind: 'defer-if-reject', reply: '450 4.7.1 Service unavailable', keyword: 'DEFER_IF_REJECT' });
    assert.deepEqual(interpretPolicyAction('DEFER_IF_PERMIT 5.7.1 greylisted'), {
      kind: 'defer-if-permit',
      reply: '450 4.7.1 greylisted',
      keyword: 'DEFER_IF_PERMIT',
    });
  });

  test('post-queue actions have no filter equivalent: logged at warn', () => {
    for (const a of ['HOLD', 'DISCARD spam', 'FILTER smtp:[127.0.0.1]:10025', 'REDIRECT x@y', 'BCC archive@example.org']) {
      const v = interpretPolicyAction(a);
      assert.ok(v.kind === 'log' && v.level === 'warn', a);
    }
  });

  test('PREPEND needs a header', () => {
    assert.deepEqual(interpretPolicyAction('PREPEND Received-SPF: pass (x)'), { kind: 'prepend', header: 'Received-SPF: pass (x)', fixed: [] });
    for (const a of ['PREPEND', 'PREPEND no colon here', 'PREPEND : empty name', 'PREPEND Bad Name: x']) {
      const v = interpretPolicyAction(a);
      assert.ok(v.kind === 'log' && v.level === 'warn', a);
    }
  });

  test('PREPEND: controls other than HTAB become spaces (VT, FF, ESC, CR, DEL, C1); HTAB and UTF-8 stay', () => {
    assert.deepEqual(interpretPolicyAction('PREPEND X-Test: a\x0bb\x0cc\x1b[1md\re\x7ff\u0085g\u009bh\ti ünï'), {
      kind: 'prepend',
      header: 'X-Test: a b c [1md e f g h\ti ünï',
      fixed: ['controls'],
    });
  });

  test('PREPEND longer than 998 octets is cut there, at a character boundary', () => {
    const v = interpretPolicyAction(`PREPEND X-Long: ${'é'.repeat(600)}`);
    assert.ok(v.kind === 'prepend');
    assert.deepEqual(v.fixed, ['cut']);
    assert.ok(Buffer.byteLength(v.header) <= 998 && Buffer.byteLength(v.header) >= 997);
    assert.ok(!v.header.includes('\ufffd'));
  });

  test('PREPEND whose bytes were not UTF-8 is refused (logged), not added with U+FFFD', () => {
    const v = interpretPolicyAction('PREPEND X-Test: M\ufffdller', { invalidUtf8: true });
    assert.ok(v.kind === 'log' && v.level === 'warn' && /not valid UTF-8/.test(v.text));
    // A real U+FFFD sent as valid UTF-8 is text like any other.
    assert.equal(interpretPolicyAction('PREPEND X-Test: M\ufffdller').kind, 'prepend');
  });

  test('OK, RELAY, PERMIT and digits are permit (the step accepts)', () => {
    assert.deepEqual(interpretPolicyAction('OK whitelisted'), { kind: 'permit', keyword: 'OK' });
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
