/**
 * The `score` step and the score through the real host (issue 12): points
 * add once per session at connect and helo, once per transaction from
 * mail-from on; RSET and a new MAIL clear the transaction's part; `score`
 * conditions read the total; a decision line shows the breakdown; a
 * dry-run score step adds nothing and logs "would have". Fake clock, no I/O.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compile, compileOk, onlyChain } from '../dsl/helpers.js';
import { HostHarness, line, result, SID } from '../runtime/helpers.js';

/** A host running `rules`; the lines smtpd would see, one request at a time. */
function host(rules: string): HostHarness {
  const h = new HostHarness(compileOk(rules));
  h.feed(line.connect(SID, '192.0.2.7:60192', '<unknown>'));
  return h;
}

function decisionLines(h: HostHarness): Record<string, unknown>[] {
  return h.log.records.filter((r) => r.msg === 'decision').map((r) => r.fields);
}

describe('the score step', () => {
  test('compiles to its points in thousandths and its label; describe writes it back', () => {
    const [a, b, c] = onlyChain(compileOk('chain c = score +2 "no-rdns" then score -1.5 "dnswl-ish" then score 0.125 "tiny"')).steps;
    assert.deepEqual(a?.action, { kind: 'score', milli: 2000, label: 'no-rdns' });
    assert.equal(b?.text, 'score -1.5 "dnswl-ish"');
    assert.equal(c?.text, 'score +0.125 "tiny"');
  });

  test('E075 for points that are no decimal, too fine or too large; E076 for a label that is no word; a label is required', () => {
    const said = (src: string) => {
      const r = compile(src);
      return r.ok ? [] : r.diagnostics.map((d) => `${d.code} ${d.message}`);
    };
    assert.deepEqual(said('chain c = score +2s "x"'), ['E075 "+2s" is not a number of points']);
    assert.deepEqual(said('chain c = score +0.0001 "x"'), ['E075 "+0.0001" has more than 3 decimals']);
    assert.deepEqual(said('chain c = score +1234567 "x"'), ['E075 "+1234567" is too large']);
    assert.deepEqual(said('chain c = score +1 "no rdns"'), ['E076 "no rdns" is not a score label']);
    assert.equal(said('chain c = score +1')[0]?.startsWith('E004'), true);
  });

  test('session points count once, however often the step runs; the threshold sees them at the next step', () => {
    const h = host(
      'chain c = score +2 "no-rdns" when not rdns\n' +
        'then score +1.5 "helo-literal" when helo ~ /^\\[/\n' +
        'then reject "550 5.7.1 score too high" when score >= 3.5 at helo',
    );
    assert.deepEqual(h.feed(line.request('connect', '<unknown>|192.0.2.7')), [result('connect', 'proceed')]);
    assert.deepEqual(h.feed(line.request('ehlo', '[192.0.2.7]')), [result('ehlo', 'reject|550 5.7.1 score too high')]);
    assert.equal(decisionLines(h)[0]?.score, '3.5 (no-rdns +2, helo-literal +1.5)');
    // A second EHLO runs the step again: it adds nothing, the decision stands.
    assert.deepEqual(h.feed(line.request('ehlo', '[192.0.2.7]')), [result('ehlo', 'reject|550 5.7.1 score too high')]);
    assert.equal(decisionLines(h)[1]?.score, '3.5 (no-rdns +2, helo-literal +1.5)');
  });

  test('transaction points reset at RSET and at a new MAIL; the session part stays', () => {
    const h = host(
      'chain c = score +1 "no-rdns" when not rdns\n' +
        'then score +2 "bulk" when mail-from ~ /^bulk@/\n' +
        'then reject "451 4.7.1 try later" when score >= 3 at rcpt-to',
    );
    h.feed(line.request('connect', '<unknown>|192.0.2.7'), line.request('ehlo', 'mx.example.net'));
    h.feed(line.request('mail-from', 'bulk@example.net'));
    assert.deepEqual(h.feed(line.request('rcpt-to', 'a@example.org')), [result('rcpt-to', 'reject|451 4.7.1 try later')]);
    assert.equal(decisionLines(h).at(-1)?.score, '3 (no-rdns +1, bulk +2)');
    h.feed(line.report('tx-reset', SID, 'a1b2c3d4'));
    h.feed(line.request('mail-from', 'alice@example.net'));
    assert.deepEqual(h.feed(line.request('rcpt-to', 'a@example.org')), [result('rcpt-to', 'proceed')]);
    // Bulk again, then a new MAIL without RSET: counted again once, then cleared.
    h.feed(line.request('mail-from', 'bulk@example.net'));
    assert.deepEqual(h.feed(line.request('rcpt-to', 'a@example.org')), [result('rcpt-to', 'reject|451 4.7.1 try later')]);
    h.feed(line.request('mail-from', 'carol@example.net'));
    assert.deepEqual(h.feed(line.request('rcpt-to', 'a@example.org')), [result('rcpt-to', 'proceed')]);
  });

  test('negative points lower the score', () => {
    const h = host('chain c = score +3 "no-rdns" when not rdns\nthen score -2 "known" when src in { 192.0.2.0/24 }\nthen disconnect "550 5.7.1 no" when score >= 2');
    assert.deepEqual(h.feed(line.request('connect', '<unknown>|192.0.2.7')), [result('connect', 'proceed')]);
  });

  test('a dry-run score step adds nothing and logs what it would have added', () => {
    const h = host('chain c = dry-run score +5 "no-rdns" when not rdns\nthen disconnect "550 5.7.1 no" when score >= 5');
    assert.deepEqual(h.feed(line.request('connect', '<unknown>|192.0.2.7')), [result('connect', 'proceed')]);
    const dry = h.log.records.find((r) => r.msg === 'dry-run');
    assert.equal(dry?.level, 'info');
    assert.equal(dry?.fields.would, 'score');
    assert.equal(dry?.fields.scored, 'no-rdns +5');
    assert.equal(dry?.fields.score, undefined, 'nothing was added');
  });
});
