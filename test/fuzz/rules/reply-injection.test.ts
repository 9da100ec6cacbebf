/**
 * Reject and disconnect replies written in rules cannot inject protocol or
 * SMTP lines (issue 6): whatever string an admin writes (escapes \r \n \0,
 * raw control characters, `|`, 2xx/3xx codes, multi-line `550-`, huge
 * lengths), either the checker refuses it with a location inside the string,
 * or the compiled reply is one smtpd accepts verbatim — and then the filter
 * writes exactly one line for it. The same for what a policy server answers:
 * its text becomes a reply through the codec, never a raw line.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileRulesSource } from '../../../src/dsl/index.js';
import { interpretPolicyAction } from '../../../src/policy/action.js';
import { checkReply } from '../../../src/protocol/format.js';
import { FilterHost } from '../../../src/runtime/host.js';
import { FakeClock } from '../../../src/support/clock.js';
import { HANDSHAKE_68 } from '../protocol/corpus.js';

const SCALE = Number(process.env['FUZZ_RUNS'] ?? '1');
const FILE = 'reply.rules';

/** Characters that matter for injection, and ordinary text. */
const replyChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('5', '4', '2', '0', ' ', '.', 'a', 'Z', '1', '-') },
  { weight: 3, arbitrary: fc.constantFrom('|', '\r', '\n', '\0', '\t', '\x0b', '\x1b', '\x7f', '"', '\\', '\u2028', '\u0085', 'é', '\u{1F4E7}') },
  { weight: 1, arbitrary: fc.string({ maxLength: 1, unit: 'binary' }) },
);

const reply = fc.oneof(
  fc.array(replyChar, { maxLength: 40 }).map((cs) => cs.join('')),
  fc.tuple(fc.constantFrom('550 ', '451 ', '421 ', '250 ', '354 ', '550-', '550', '5500 ', '550\t', ' 550 '), fc.array(replyChar, { maxLength: 30 })).map(([p, cs]) => p + cs.join('')),
  fc.tuple(fc.constantFrom('550 ', '452 '), fc.integer({ min: 490, max: 700 })).map(([p, n]) => p + 'x'.repeat(n)),
  fc.constantFrom(
    '550 5.7.1 ok\r\n250 2.0.0 injected',
    '550 5.7.1 ok\nfilter-result|0000000000000000|0000000000000000|proceed',
    '550 x|proceed',
    '550 5.7.1 a|b|c',
    '550 5.7.1 \0truncated',
  ),
);

/** The reply as a rules string literal: escapes where the language has them, other characters raw. */
function literal(text: string): string {
  let out = '"';
  for (const c of text) {
    switch (c) {
      case '"':
        out += '\\"';
        break;
      case '\\':
        out += '\\\\';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\0':
        out += '\\0';
        break;
      case '\t':
        out += '\\t';
        break;
      default:
        out += c;
    }
  }
  return `${out}"`;
}

function hostFor(rulesText: string): { host: FilterHost; out: string[] } {
  const r = compileRulesSource(rulesText, FILE);
  assert.ok(r.ok);
  const out: string[] = [];
  const created = FilterHost.create({
    rules: r.rules,
    chain: null,
    clock: new FakeClock(),
    schedule: (fn) => fn(),
    output: { write: (c) => (out.push(String(c)), true), once: () => undefined },
  });
  assert.ok(created.ok);
  created.value.feed(Buffer.from(`${HANDSHAKE_68.join('\n')}\n`));
  // The session the requests below belong to (an unknown one would be tempfailed without running the rules).
  created.value.feed(Buffer.from('report|0.6|1|smtp-in|link-connect|3689fe601e5436b4|localhost|pass|127.0.0.1:60192|127.0.0.1:2540\n'));
  return { host: created.value, out };
}

describe('fuzz: replies in rules cannot inject protocol or SMTP lines', () => {
  test('a reply either compiles to one line smtpd accepts verbatim, or is refused at its place in the file', (t) => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(reply, fc.constantFrom('reject', 'disconnect'), (text, action) => {
        const src = `chain main =\n    ${action} ${literal(text)} at helo when helo ~ /^bad/\n`;
        const r = compileRulesSource(src, FILE);
        if (!r.ok) {
          refused++;
          const located = r.diagnostics.filter((d) => ['E030', 'E031', 'E032'].includes(d.code));
          assert.ok(located.length > 0, `refused without a reply diagnostic: ${r.diagnostics.map((d) => d.code).join(',')}`);
          // The literal is on line 2 after `    ACTION ` (escapes keep it on one line); the error points into it.
          const from = 4 + action.length + 2;
          const to = from + literal(text).length;
          for (const d of located) {
            assert.equal(d.span.line, 2);
            assert.ok(d.span.column >= from && d.span.endColumn <= to, `${d.code} at ${d.span.column}-${d.span.endColumn}, literal at ${from}-${to}`);
          }
          return;
        }
        accepted++;
        const step = r.rules.chains.get('main')?.steps[0];
        assert.ok(step !== undefined && (step.action.kind === 'reject' || step.action.kind === 'disconnect'));
        const compiled = step.action.kind === 'reject' || step.action.kind === 'disconnect' ? step.action.reply : '';
        assert.equal(compiled, text, 'the reply is used as written');
        assert.equal(checkReply(compiled), null, `compiled, but the writer would refuse it: ${JSON.stringify(compiled)}`);
        assert.ok(!/[\r\n\0]/.test(compiled));
        // Through the host: exactly one line, the reply verbatim as its last field.
        const { host, out } = hostFor(src);
        host.feed(Buffer.from(`filter|0.6|1|smtp-in|ehlo|3689fe601e5436b4|1a9c37f9d78d35b9|bad.example\n`));
        const lines = out.join('').split('\n').filter((l) => l.startsWith('filter-result'));
        assert.deepEqual(lines, [`filter-result|3689fe601e5436b4|1a9c37f9d78d35b9|${action}|${text}`]);
      }),
      { numRuns: Math.round(3000 * SCALE), includeErrorInReport: true },
    );
    t.diagnostic(`${accepted + refused} replies: ${accepted} compiled and sent as one valid line, ${refused} refused with a located error`);
    assert.ok(accepted > 100 && refused > 100, 'both outcomes exercised');
  });

  test('the shipped injection attempts are refused with E031 at the string', () => {
    for (const bad of ['550 5.7.1 ok\r\n250 2.0.0 injected', '550 x\nfilter-result|0|0|proceed', '550 5.7.1 \0x']) {
      const r = compileRulesSource(`chain main = reject ${literal(bad)} at helo\n`, FILE);
      assert.equal(r.ok, false);
      if (!r.ok) {
        const d = r.diagnostics.find((x) => x.code === 'E031');
        assert.ok(d, bad);
        assert.deepEqual([d.span.line, d.span.column], [1, 21]);
      }
    }
    for (const bad of ['250 2.0.0 fine', '354 go ahead', '550-multi', '550', '55 x']) {
      const r = compileRulesSource(`chain main = reject ${literal(bad)} at helo\n`, FILE);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.ok(r.diagnostics.some((x) => x.code === 'E030' && x.span.column === 21), bad);
    }
  });

  test('policy server answers with CR, LF, NUL, `|` or any code become one valid 4xx/5xx reply or none', (t) => {
    let replies = 0;
    fc.assert(
      fc.property(
        fc.constantFrom('REJECT', 'DEFER', 'DEFER_IF_PERMIT', '450', '550', '421', '521', '250', '599', '4.7.1', 'PREPEND', 'OK', 'reject', 'Defer'),
        fc.array(replyChar, { maxLength: 60 }).map((cs) => cs.join('')),
        (word, rest) => {
          const verdict = interpretPolicyAction(`${word} ${rest}`);
          if (verdict.kind === 'reject' || verdict.kind === 'disconnect') {
            replies++;
            assert.equal(checkReply(verdict.reply), null, `policy reply the writer would refuse: ${JSON.stringify(verdict.reply)}`);
            assert.match(verdict.reply, /^[45]\d\d /);
          }
          if (verdict.kind === 'prepend') assert.ok(!/[\r\n\0]/.test(verdict.header), JSON.stringify(verdict.header));
        },
      ),
      { numRuns: Math.round(3000 * SCALE), includeErrorInReport: true },
    );
    t.diagnostic(`${replies} policy answers turned into replies, all valid`);
  });
});
