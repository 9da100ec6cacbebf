/**
 * `score-header` (issue 12): the score at data, with its breakdown, as the
 * first header of the message; not at commit (E077); it needs data-line
 * (W008 when the running filter has none); a dry-run step adds nothing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SCORE_SCALE, SessionScore } from '../../../src/model/score.js';
import { scoreHeaderLine } from '../../../src/steps/score-header.js';
import { compile, compileOk, onlyChain } from '../dsl/helpers.js';
import { dataline, HostHarness, line, result, SID } from '../runtime/helpers.js';

describe('score-header', () => {
  test('runs at data by default and needs data-line', () => {
    const rules = compileOk('chain c = score +2 "no-rdns" when not rdns then score-header');
    const [, header] = onlyChain(rules).steps;
    assert.equal(header?.phase, 'data');
    assert.equal(header?.needsDataLine, true);
    assert.equal(rules.needsDataLine, true);
  });

  test('E077 at commit; E042 before mail-from', () => {
    const codes = (src: string) => {
      const r = compile(src);
      return r.ok ? [] : r.diagnostics.map((d) => d.code);
    };
    assert.deepEqual(codes('chain c = score-header at commit'), ['E077']);
    assert.deepEqual(codes('chain c = score-header at helo'), ['E042']);
    assert.deepEqual(codes('chain c = score-header at rcpt-to'), []);
  });

  test('the header line: total, then the parts; 0 alone; cut with ... past 998 octets', () => {
    const s = new SessionScore();
    assert.equal(scoreHeaderLine(s), 'X-Filter-Rules-Score: 0');
    s.add('a', 'zen', 3 * SCORE_SCALE, 'session');
    s.add('b', 'no-rdns', 2 * SCORE_SCALE, 'session');
    s.add('c', 'bulk', -500, 'transaction');
    assert.equal(scoreHeaderLine(s), 'X-Filter-Rules-Score: 4.5 (zen +3, no-rdns +2, bulk -0.5)');
    const many = new SessionScore();
    for (let i = 0; i < 40; i++) many.add(`k${i}`, `label-${'x'.repeat(40)}-${i}`, SCORE_SCALE, 'session');
    const long = scoreHeaderLine(many);
    assert.ok(Buffer.byteLength(long) <= 998, String(Buffer.byteLength(long)));
    assert.match(long, /^X-Filter-Rules-Score: 40 \(label-x+-0 \+1, .*, \.\.\.\)$/);
  });

  test('through the host: the score of the transaction goes first into the message; the next message has its own', () => {
    const h = new HostHarness(compileOk('chain c = score +2 "no-rdns" when not rdns\nthen score +1 "bulk" when mail-from ~ /^bulk@/\nthen score-header'));
    h.feed(line.connect(SID, '192.0.2.7:60192', '<unknown>'));
    h.feed(line.request('connect', '<unknown>|192.0.2.7'), line.request('ehlo', 'mx.example.net'));
    h.feed(line.request('mail-from', 'bulk@example.net'), line.request('rcpt-to', 'a@example.org'));
    assert.deepEqual(h.feed(line.request('data')), [result('data', 'proceed')]);
    assert.deepEqual(h.feed(line.request('data-line', 'Subject: hi')), [dataline('X-Filter-Rules-Score: 3 (no-rdns +2, bulk +1)'), dataline('Subject: hi')]);
    h.feed(line.request('data-line', '.'));
    h.feed(line.report('tx-reset', SID, 'a1b2c3d4'));
    h.feed(line.request('mail-from', 'alice@example.net'), line.request('rcpt-to', 'a@example.org'), line.request('data'));
    assert.deepEqual(h.feed(line.request('data-line', 'Subject: hi')), [dataline('X-Filter-Rules-Score: 2 (no-rdns +2)'), dataline('Subject: hi')]);
  });

  test('a dry-run score-header adds nothing', () => {
    const h = new HostHarness(compileOk('chain c = score +2 "no-rdns" when not rdns\nthen dry-run score-header'));
    h.feed(line.connect(SID, '192.0.2.7:60192', '<unknown>'));
    h.feed(line.request('connect', '<unknown>|192.0.2.7'), line.request('mail-from', 'a@example.net'), line.request('rcpt-to', 'a@example.org'), line.request('data'));
    assert.deepEqual(h.feed(line.request('data-line', 'Subject: hi')), [dataline('Subject: hi')]);
  });
});
