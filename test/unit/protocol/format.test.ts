import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FilterDecision } from '../../../src/model/decision.js';
import { checkReply, fallbackFor, formatOutput } from '../../../src/protocol/format.js';
import { tempfailDecision } from '../../../src/protocol/smtpd-rules.js';
import { FILTER_PHASES, REPORT_EVENTS, type FilterPhase } from '../../../src/model/phases.js';
import type { OutputLine } from '../../../src/protocol/types.js';

const SID = '3689fe601e5436b4';
const TOK = '1a9c37fdc8eee799';

const result = (decision: FilterDecision, phase: FilterPhase = 'rcpt-to'): OutputLine => ({
  kind: 'filter-result',
  sessionId: SID,
  token: TOK,
  phase,
  decision,
});

function formatted(out: OutputLine): string {
  const r = formatOutput(out);
  assert.ok(r.ok, `expected a line, got: ${r.ok ? '' : r.error}`);
  return r.ok ? r.value : '';
}

function refused(out: OutputLine): string {
  const r = formatOutput(out);
  assert.ok(!r.ok, `expected a refusal, got ${r.ok ? r.value : ''}`);
  return r.ok ? '' : r.error;
}

describe('formatOutput: register lines', () => {
  test('every known phase and event', () => {
    for (const phase of FILTER_PHASES) {
      assert.equal(formatted({ kind: 'register-filter', subsystem: 'smtp-in', phase }), `register|filter|smtp-in|${phase}`);
    }
    for (const event of REPORT_EVENTS) {
      assert.equal(formatted({ kind: 'register-report', subsystem: 'smtp-in', event }), `register|report|smtp-in|${event}`);
    }
    assert.equal(formatted({ kind: 'register-ready' }), 'register|ready');
  });
  test('an unknown name can never be registered (smtpd exits on it)', () => {
    refused({ kind: 'register-filter', subsystem: 'smtp-in', phase: 'bogus' as FilterPhase });
    refused({ kind: 'register-report', subsystem: 'smtp-in', event: 'link-bogus' as (typeof REPORT_EVENTS)[number] });
  });
});

describe('formatOutput: filter-result', () => {
  test('session then token, decision, parameter', () => {
    assert.equal(formatted(result({ type: 'proceed' })), `filter-result|${SID}|${TOK}|proceed`);
    assert.equal(formatted(result({ type: 'junk' })), `filter-result|${SID}|${TOK}|junk`);
    assert.equal(
      formatted(result({ type: 'reject', reply: '451 4.7.1 Greylisted, try again later' })),
      `filter-result|${SID}|${TOK}|reject|451 4.7.1 Greylisted, try again later`,
    );
    assert.equal(
      formatted(result({ type: 'disconnect', reply: '421 4.7.0 Closing connection' })),
      `filter-result|${SID}|${TOK}|disconnect|421 4.7.0 Closing connection`,
    );
    assert.equal(formatted(result({ type: 'rewrite', value: 'rewritten.example' }, 'helo')), `filter-result|${SID}|${TOK}|rewrite|rewritten.example`);
  });

  test('replies: 4xx/5xx, a space, text; nothing else', () => {
    for (const bad of ['250 ok', '354 go', '550', '550 ', '550-multi line', '550x', '55 short', '650 6.0.0 x', '550 a\r', '550 a\nb', '550 a\0', '550 \u0007bell']) {
      assert.notEqual(checkReply(bad), null, JSON.stringify(bad));
      refused(result({ type: 'reject', reply: bad }));
      refused(result({ type: 'disconnect', reply: bad }));
    }
    assert.equal(checkReply('550 5.7.1 tab\tallowed'), null);
    assert.equal(checkReply('451 x'), null);
    assert.notEqual(checkReply(`550 ${'x'.repeat(600)}`), null, 'longer than an SMTP reply line');
  });

  test('junk never at commit; nothing at data-line', () => {
    assert.match(refused(result({ type: 'junk' }, 'commit')), /commit/);
    refused(result({ type: 'proceed' }, 'data-line'));
    refused(result({ type: 'junk' }, 'data-line'));
  });

  test('rewrite: only where smtpd honours it, never empty, no CR/LF/NUL/|', () => {
    refused(result({ type: 'rewrite', value: 'x' }, 'connect'));
    refused(result({ type: 'rewrite', value: 'x' }, 'commit'));
    for (const bad of ['', 'a|b', 'a\rb', 'a\n', 'a\0']) refused(result({ type: 'rewrite', value: bad }, 'mail-from'));
    assert.ok(formatOutput(result({ type: 'rewrite', value: '<new@example.org>' }, 'mail-from')).ok);
  });

  test('ids must be 16 hex digits', () => {
    refused({ kind: 'filter-result', sessionId: 'xyz', token: TOK, phase: 'connect', decision: { type: 'proceed' } });
    refused({ kind: 'filter-result', sessionId: SID, token: `${TOK}0`, phase: 'connect', decision: { type: 'proceed' } });
  });
});

describe('formatOutput: filter-dataline', () => {
  const dl = (line: string): OutputLine => ({ kind: 'filter-dataline', sessionId: SID, token: TOK, line, encoding: 'utf8' });
  test('echoes text as is: dots, pipes, empty lines, the final dot', () => {
    for (const l of ['', '.', '..leading dot', 'with|pipes|inside', 'ümlaut']) {
      assert.equal(formatted(dl(l)), `filter-dataline|${SID}|${TOK}|${l}`);
    }
  });
  test('a CR smtpd sent inside a line goes back unchanged; LF and NUL never', () => {
    assert.ok(formatOutput(dl('a\rb')).ok);
    refused(dl('a\nb'));
    refused(dl('a\0b'));
  });
});

describe('fallbacks', () => {
  test('tempfail: 421 disconnect at connect, 451 reject elsewhere', () => {
    assert.deepEqual(tempfailDecision('connect'), { type: 'disconnect', reply: '421 4.3.0 Temporary failure, please try again later' });
    for (const p of ['helo', 'ehlo', 'mail-from', 'rcpt-to', 'data', 'commit'] as const) {
      assert.deepEqual(tempfailDecision(p), { type: 'reject', reply: '451 4.3.0 Temporary failure, please try again later' });
    }
  });
  test('a refused filter-result has a valid fallback; data lines and bad ids have none', () => {
    const fb = fallbackFor(result({ type: 'reject', reply: '250 ok' }));
    assert.ok(fb !== null && formatOutput(fb).ok);
    const atConnect = fallbackFor(result({ type: 'reject', reply: 'nope' }, 'connect'));
    assert.equal(atConnect?.kind === 'filter-result' && atConnect.decision.type, 'disconnect');
    assert.equal(fallbackFor({ kind: 'filter-dataline', sessionId: SID, token: TOK, line: 'a\nb', encoding: 'utf8' }), null);
    assert.equal(fallbackFor({ kind: 'filter-result', sessionId: 'bad', token: TOK, phase: 'connect', decision: { type: 'proceed' } }), null);
  });
});
