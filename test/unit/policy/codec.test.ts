import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  PolicyAnswerDecoder,
  encodePolicyRequest,
  sanitizeAttributeValue,
  type PolicyDecoded,
} from '../../../src/policy/codec.js';
import { parseRequests } from './fakes.js';

interface Recorded {
  answers: Record<string, string>;
}
const recorded = JSON.parse(
  readFileSync(new URL('../../../../test/fixtures/policy/postgrey-1.37-answers.json', import.meta.url), 'utf8'),
) as Recorded;

function rec(name: string): string {
  const a = recorded.answers[name];
  assert.ok(a !== undefined, `fixture ${name}`);
  return a;
}

function actions(items: PolicyDecoded[]): (string | null)[] {
  return items.map((i) => (i.type === 'answer' ? i.answer.action : `ERROR:${i.error.code}`));
}

describe('encodePolicyRequest', () => {
  test('name=value lines in order, ended by an empty line', () => {
    const text = encodePolicyRequest([
      ['request', 'smtpd_access_policy'],
      ['protocol_state', 'RCPT'],
      ['sender', ''],
    ]);
    assert.equal(text, 'request=smtpd_access_policy\nprotocol_state=RCPT\nsender=\n\n');
  });

  test('a newline in a value cannot inject an attribute', () => {
    const text = encodePolicyRequest([
      ['request', 'smtpd_access_policy'],
      ['helo_name', 'evil\nrecipient=postmaster@victim.example\n\nrequest=smtpd_access_policy'],
      ['recipient', 'bob@rcpt.example'],
    ]);
    const parsed = parseRequests(text);
    assert.equal(parsed.length, 1, 'still exactly one request');
    const req = parsed[0]!;
    assert.deepEqual([...req.keys()], ['request', 'helo_name', 'recipient']);
    assert.equal(req.get('recipient'), 'bob@rcpt.example');
    assert.ok(!req.get('helo_name')!.includes('\n'));
  });

  test('CR and NUL are replaced too; other characters pass', () => {
    assert.equal(sanitizeAttributeValue('a\rb\0c\nd'), 'a?b?c?d');
    assert.equal(sanitizeAttributeValue('ünïcode=|ok'), 'ünïcode=|ok');
  });

  test('an invalid attribute name is a bug and throws', () => {
    assert.throws(() => encodePolicyRequest([['bad=name', 'x']]), /invalid policy attribute name/);
    assert.throws(() => encodePolicyRequest([['', 'x']]), /invalid policy attribute name/);
  });

  test('property: any values keep names and order, and never add lines', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('helo_name', 'sender', 'recipient', 'x'), fc.string()), { maxLength: 8 }), (attrs) => {
        const text = encodePolicyRequest(attrs);
        assert.ok(text.endsWith('\n\n') || attrs.length === 0);
        const lines = text.split('\n');
        // attrs.length lines, the empty terminator, and the split's trailing ''.
        assert.equal(lines.length, attrs.length + 2);
        attrs.forEach(([name], i) => assert.ok(lines[i]!.startsWith(`${name}=`)));
      }),
    );
  });
});

describe('PolicyAnswerDecoder on answers recorded from postgrey 1.37', () => {
  test('greylisting, pass with header, whitelisted', () => {
    const d = new PolicyAnswerDecoder();
    assert.deepEqual(actions(d.push(rec('first-triplet'))), [
      'DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/rcpt.example.html',
    ]);
    assert.deepEqual(actions(d.push(rec('after-delay'))), [
      'PREPEND X-Greylist: delayed 3 seconds by postgrey-1.37 at vm; Wed, 25 Nov 2026 20:28:14 UTC',
    ]);
    assert.deepEqual(actions(d.push(rec('whitelisted-client'))), ['DUNNO']);
    assert.equal(d.midAnswer, false);
  });

  test('two answers in one chunk come out as two', () => {
    const d = new PolicyAnswerDecoder();
    assert.equal(d.push(rec('two-requests-one-connection')).length, 2);
  });

  test('every recorded answer decodes the same when fed one byte at a time', () => {
    for (const [name, text] of Object.entries(recorded.answers)) {
      const whole = actions(new PolicyAnswerDecoder().push(text));
      const d = new PolicyAnswerDecoder();
      const bytes = Buffer.from(text, 'utf8');
      const split: PolicyDecoded[] = [];
      for (const b of bytes) split.push(...d.push(Uint8Array.of(b)));
      assert.deepEqual(actions(split), whole, name);
    }
  });
});

describe('PolicyAnswerDecoder edge cases', () => {
  test('half a line waits for the rest', () => {
    const d = new PolicyAnswerDecoder();
    assert.deepEqual(d.push('action=DUN'), []);
    assert.equal(d.midAnswer, true);
    assert.deepEqual(d.push('NO\n'), []);
    assert.equal(d.midAnswer, true, 'attributes pending until the empty line');
    assert.deepEqual(actions(d.push('\n')), ['DUNNO']);
    assert.equal(d.midAnswer, false);
  });

  test('UTF-8 split across chunks', () => {
    const d = new PolicyAnswerDecoder();
    const bytes = Buffer.from('action=REJECT Zugriff verweigert für dich\n\n', 'utf8');
    const cut = bytes.indexOf(0xc3) + 1; // inside "ü"
    assert.deepEqual(d.push(bytes.subarray(0, cut)), []);
    assert.deepEqual(actions(d.push(bytes.subarray(cut))), ['REJECT Zugriff verweigert für dich']);
  });

  test('bytes that are not UTF-8: decoded (U+FFFD) but named in invalidUtf8, per attribute and per answer', () => {
    const d = new PolicyAnswerDecoder();
    const bad = Buffer.concat([Buffer.from('reason=ok\naction=PREPEND X-A: M'), Buffer.from([0xfc]), Buffer.from('ller\n\naction=DUNNO\n\n')]);
    const [first, second] = d.push(bad);
    assert.ok(first && first.type === 'answer' && second && second.type === 'answer');
    assert.equal(first.answer.action, 'PREPEND X-A: M\ufffdller');
    assert.deepEqual(first.answer.invalidUtf8, ['action']);
    assert.deepEqual(second.answer.invalidUtf8, [], 'the next answer starts clean');
  });

  test('valid UTF-8 (a real U+FFFD included) is not flagged, however it is chunked', () => {
    const bytes = Buffer.from('action=PREPEND X-A: \ufffd für\n\n', 'utf8');
    const d = new PolicyAnswerDecoder();
    const out: PolicyDecoded[] = [];
    for (const b of bytes) out.push(...d.push(Uint8Array.of(b)));
    assert.ok(out[0]?.type === 'answer');
    assert.deepEqual(out[0].answer.invalidUtf8, []);
    assert.equal(out[0].answer.action, 'PREPEND X-A: \ufffd für');
  });

  test('action among other attributes; the first action wins; order kept', () => {
    const d = new PolicyAnswerDecoder();
    const [item] = d.push('reason=spf\naction=PREPEND Received-SPF: pass\nextra=1\naction=REJECT\n\n');
    assert.ok(item && item.type === 'answer');
    assert.equal(item.answer.action, 'PREPEND Received-SPF: pass');
    assert.deepEqual(item.answer.attributes.map(([n]) => n), ['reason', 'action', 'extra', 'action']);
  });

  test('values keep their = signs', () => {
    const [item] = new PolicyAnswerDecoder().push('action=PREPEND X-A: a=b=c\n\n');
    assert.ok(item && item.type === 'answer');
    assert.equal(item.answer.action, 'PREPEND X-A: a=b=c');
  });

  test('CRLF line ends are accepted', () => {
    assert.deepEqual(actions(new PolicyAnswerDecoder().push('action=DUNNO\r\n\r\n')), ['DUNNO']);
  });

  test('an answer without action= has action null', () => {
    const [item] = new PolicyAnswerDecoder().push('\n');
    assert.ok(item && item.type === 'answer');
    assert.equal(item.answer.action, null);
    assert.deepEqual(item.answer.attributes, []);
  });

  test('a garbage line fails the stream for good', () => {
    const d = new PolicyAnswerDecoder();
    const out = d.push('action=DUNNO\n\nHTTP/1.1 400 Bad Request\naction=OK\n\n');
    assert.deepEqual(actions(out), ['DUNNO', 'ERROR:garbage']);
    assert.equal(d.hasFailed, true);
    assert.deepEqual(d.push('action=DUNNO\n\n'), [], 'nothing after a failure');
    const [, err] = out;
    assert.ok(err && err.type === 'error' && err.error.code === 'garbage');
    assert.equal(err.error.line, 'HTTP/1.1 400 Bad Request');
  });

  test('=value without a name is garbage', () => {
    assert.deepEqual(actions(new PolicyAnswerDecoder().push('=DUNNO\n')), ['ERROR:garbage']);
  });

  test('an endless line is capped', () => {
    const d = new PolicyAnswerDecoder({ maxAnswerLength: 64 });
    assert.deepEqual(d.push('action=' + 'x'.repeat(40)), []);
    assert.deepEqual(actions(d.push('x'.repeat(40))), ['ERROR:too-long']);
    assert.equal(d.hasFailed, true);
  });

  test('an endless answer of short lines is capped', () => {
    const d = new PolicyAnswerDecoder({ maxAnswerLength: 64 });
    const out: PolicyDecoded[] = [];
    for (let i = 0; i < 20 && !d.hasFailed; i++) out.push(...d.push('a=b\n'));
    assert.deepEqual(actions(out), ['ERROR:too-long']);
  });

  test('the cap is per answer, not per connection', () => {
    const d = new PolicyAnswerDecoder({ maxAnswerLength: 64 });
    const out: PolicyDecoded[] = [];
    for (let i = 0; i < 50; i++) out.push(...d.push('action=DEFER_IF_PERMIT Greylisted\n\n'));
    assert.equal(out.length, 50);
    assert.ok(out.every((o) => o.type === 'answer'));
  });

  test('options are validated', () => {
    assert.throws(() => new PolicyAnswerDecoder({ maxAnswerLength: 3 }), RangeError);
  });

  test('property: any chunking of a stream of answers gives the same answers', () => {
    const answer = fc
      .array(fc.tuple(fc.stringMatching(/^[a-z_]{1,8}$/), fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, ''))), {
        maxLength: 4,
      })
      .map((attrs) => attrs.map(([n, v]) => `${n}=${v}\n`).join('') + '\n');
    fc.assert(
      fc.property(fc.array(answer, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 10 }), (answers, cutsRaw) => {
        const bytes = Buffer.from(answers.join(''), 'utf8');
        const cuts = [...new Set(cutsRaw.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const d = new PolicyAnswerDecoder();
        const out: PolicyDecoded[] = [];
        let prev = 0;
        for (const c of [...cuts, bytes.length]) {
          out.push(...d.push(bytes.subarray(prev, c)));
          prev = c;
        }
        const whole = new PolicyAnswerDecoder().push(answers.join(''));
        assert.deepEqual(out, whole);
        assert.equal(out.length, answers.length);
      }),
    );
  });
});
