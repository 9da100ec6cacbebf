/**
 * protocol/lines.ts: the builders are the inverse of the parser and write
 * smtpd's own bytes; parseOutputLine is the inverse of format.ts.
 *
 *  - parse(build(x)) = x for every report event, every filter phase and the
 *    handshake, in 0.6 and 0.7 (and a later version), over generated values;
 *  - build(parse(line)) = line for every line real smtpd 6.8 and 7.8 sent in
 *    the recorded transcripts, and for the handshakes of protocol.md §2.1;
 *  - parseOutputLine(format(o)) = o for every line format.ts writes, and it
 *    reads every line the filter wrote in the transcripts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import type { FilterDecision } from '../../../src/model/decision.js';
import { FILTER_PHASES, REPORT_EVENTS } from '../../../src/model/phases.js';
import { formatOutput } from '../../../src/protocol/format.js';
import { HandshakeCollector, registrationFor, registrationLines } from '../../../src/protocol/handshake.js';
import { decodeLine } from '../../../src/protocol/line-reader.js';
import {
  configLines,
  connectParam,
  dataLinesFor,
  endpointText,
  filterLine,
  parseOutputLine,
  reportLine,
  reportLineOf,
  resultFor,
  SMTPD_68,
  type SmtpdHello,
  type WrittenLine,
} from '../../../src/protocol/lines.js';
import { parseConnectParam, parseEndpoint, parseInputLine } from '../../../src/protocol/parse.js';
import type { Endpoint, Envelope, InputLine, OutputLine, ReportEvent, ReportEventType } from '../../../src/protocol/types.js';

const SID = '3689fe601e5436b4';
const TOK = '1a9c37f7cd0c06a5';

function parsed(line: string): InputLine {
  const r = parseInputLine(line);
  assert.ok(r.ok, `${JSON.stringify(line)} does not parse: ${r.ok ? '' : r.error.reason}`);
  return r.value;
}

// --- generators ---------------------------------------------------------------

// Characters that matter to the format (`|` above all), a few others, no LF or CR: smtpd's lines never hold them.
const text = fc.string({ unit: fc.constantFrom(...'ab.|| :<>@\t-é€0Z'), maxLength: 24 });
/** A field before the last one: without `|`, or it would not parse back the same. */
const field = text.map((s) => s.replaceAll('|', ''));
const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const hex16 = fc.stringMatching(/^[0-9a-fA-F]{16}$/);
const messageId = hex(8);

const envelope: fc.Arbitrary<Envelope> = fc.record({
  // 0.10: a later version reads in 0.7's order.
  version: fc.constantFrom('0.6', '0.7', '0.10'),
  // Microseconds, as smtpd stamps them: the double of the text is the one the parser computes.
  timestamp: fc.integer({ min: 0, max: 4_102_444_800_000_000 }).map((us) => us / 1e6),
  subsystem: fc.constantFrom('smtp-in', 'smtp-out'),
  sessionId: hex16,
});

const endpoint: fc.Arbitrary<Endpoint> = fc.oneof(
  fc.record(
    { address: fc.oneof(fc.ipV4(), fc.ipV6()), port: fc.option(fc.integer({ min: 0, max: 65535 })), local: fc.constant(false) },
    // The parser's objects have a prototype.
    { noNullPrototype: true },
  ),
  fc.constant({ address: '', port: null, local: true }),
);

/** One generator per event: a new ReportEvent variant without one does not compile. */
const EVENTS: { readonly [T in ReportEventType]: fc.Arbitrary<Extract<ReportEvent, { type: T }>> } = {
  'link-connect': fc
    .record({
      type: fc.constant('link-connect'),
      // The PTR name is read as everything left of the last three fields; '' and `<unknown>` are null.
      rdns: fc.option(text.filter((t) => t !== '' && t !== '<unknown>')),
      fcrdns: fc.constantFrom('pass', 'fail', 'error'),
      src: endpoint,
      dest: endpoint,
    })
    .map((e) => ({ ...e, srcText: endpointText(e.src) })),
  'link-greeting': fc.record({ type: fc.constant('link-greeting'), hostname: text }),
  'link-identify': fc.record({ type: fc.constant('link-identify'), method: fc.constantFrom('HELO', 'EHLO'), identity: text }),
  'link-tls': fc.record({ type: fc.constant('link-tls'), tls: text }),
  // 0.6 has the client's name first and 0.7 last: in both it may contain `|`.
  'link-auth': fc.record({ type: fc.constant('link-auth'), username: text, result: fc.constantFrom('pass', 'fail', 'error') }),
  'link-disconnect': fc.constant({ type: 'link-disconnect' }),
  'tx-reset': fc.record({ type: fc.constant('tx-reset'), messageId: fc.option(messageId) }),
  'tx-begin': fc.record({ type: fc.constant('tx-begin'), messageId }),
  'tx-mail': fc.record({ type: fc.constant('tx-mail'), messageId, result: fc.constantFrom('ok', 'permfail', 'tempfail'), address: text }),
  'tx-rcpt': fc.record({ type: fc.constant('tx-rcpt'), messageId, result: fc.constantFrom('ok', 'permfail', 'tempfail'), address: text }),
  'tx-envelope': fc.record({ type: fc.constant('tx-envelope'), messageId, envelopeId: hex(16) }),
  'tx-data': fc.record({ type: fc.constant('tx-data'), messageId, result: text }),
  'tx-commit': fc.record({ type: fc.constant('tx-commit'), messageId, size: fc.nat() }),
  'tx-rollback': fc.record({ type: fc.constant('tx-rollback'), messageId }),
  'protocol-client': fc.record({ type: fc.constant('protocol-client'), command: text }),
  'protocol-server': fc.record({ type: fc.constant('protocol-server'), response: text }),
  'filter-report': fc.record({ type: fc.constant('filter-report'), filterKind: fc.constantFrom('builtin', 'proc'), name: field, message: text }),
  'filter-response': fc.record({
    type: fc.constant('filter-response'),
    phase: fc.constantFrom('connected', 'ehlo', 'tls', 'rcpt-to'),
    response: field,
    param: fc.option(text),
  }),
  timeout: fc.constant({ type: 'timeout' }),
};

// --- input lines: parse(build(x)) = x -------------------------------------------

describe('reportLine: parseInputLine gives the values back', () => {
  test('there is a generator for every event smtpd reports', () => {
    assert.deepEqual(Object.keys(EVENTS).sort(), [...REPORT_EVENTS].sort());
  });

  for (const [type, event] of Object.entries(EVENTS) as [ReportEventType, fc.Arbitrary<ReportEvent>][]) {
    test(`${type}, in 0.6 and 0.7`, () => {
      fc.assert(
        fc.property(envelope, event, (head, ev) => {
          // Spread: fc.record's objects have no prototype, the parser's do.
          const fields = { ...head, event: { ...ev } };
          assert.deepEqual(parsed(reportLine(fields)), { kind: 'report', ...fields });
        }),
        { seed: 0x4d, numRuns: 200 },
      );
    });
  }

  test('the orders that differ by version (protocol.md §10)', () => {
    const at = (version: string, event: ReportEvent) => reportLine({ version, timestamp: 1795635326.076777, subsystem: 'smtp-in', sessionId: SID, event });
    const auth: ReportEvent = { type: 'link-auth', username: 'bob|x', result: 'pass' };
    assert.equal(at('0.6', auth), `report|0.6|1795635326.076777|smtp-in|link-auth|${SID}|bob|x|pass`);
    assert.equal(at('0.7', auth), `report|0.7|1795635326.076777|smtp-in|link-auth|${SID}|pass|bob|x`);
    const mail: ReportEvent = { type: 'tx-mail', messageId: '89fe53ce', result: 'ok', address: 'a@example.net' };
    assert.equal(at('0.6', mail), `report|0.6|1795635326.076777|smtp-in|tx-mail|${SID}|89fe53ce|ok|a@example.net`);
    assert.equal(at('0.7', mail), `report|0.7|1795635326.076777|smtp-in|tx-mail|${SID}|89fe53ce|ok|a@example.net`);
    // What 0.4/0.5 sent, which the parser still reads.
    assert.equal(at('0.5', mail), `report|0.5|1795635326.076777|smtp-in|tx-mail|${SID}|89fe53ce|a@example.net|ok`);
    assert.deepEqual(parsed(at('0.5', mail)), { kind: 'report', version: '0.5', timestamp: 1795635326.076777, subsystem: 'smtp-in', sessionId: SID, event: mail });
  });

  test('events without parameters end after the session id; timestamps always have six decimals', () => {
    const head: Envelope = { version: '0.6', timestamp: 1795635326.08, subsystem: 'smtp-in', sessionId: SID };
    assert.equal(reportLine({ ...head, event: { type: 'link-disconnect' } }), `report|0.6|1795635326.080000|smtp-in|link-disconnect|${SID}`);
    assert.equal(reportLine({ ...head, event: { type: 'tx-reset', messageId: null } }), `report|0.6|1795635326.080000|smtp-in|tx-reset|${SID}`);
    assert.equal(reportLineOf(head, 'link-future', 'a|b'), `report|0.6|1795635326.080000|smtp-in|link-future|${SID}|a|b`);
  });
});

describe('filterLine, connectParam, endpointText', () => {
  test('every phase, any parameter: parseInputLine gives the values back', () => {
    fc.assert(
      fc.property(envelope, fc.constantFrom(...FILTER_PHASES), hex16, text, (head, phase, token, param) => {
        const fields = { ...head, phase, token, param };
        assert.deepEqual(parsed(filterLine(fields)), { kind: 'filter', ...fields });
      }),
      { seed: 0x4d, numRuns: 500 },
    );
  });

  test('an empty parameter keeps its separator, as smtpd sends it', () => {
    const line = filterLine({ version: '0.6', timestamp: 1795635326.076808, subsystem: 'smtp-in', phase: 'data', sessionId: SID, token: TOK, param: '' });
    assert.equal(line, `filter|0.6|1795635326.076808|smtp-in|data|${SID}|${TOK}|`);
  });

  test('connectParam is the inverse of parseConnectParam, and writes what smtpd writes', () => {
    fc.assert(
      fc.property(fc.option(fc.domain()), endpoint, (rdns, e) => {
        const src = { ...e, port: null };
        const param = connectParam(rdns, src);
        assert.deepEqual(parseConnectParam(param), { rdns, src, srcText: param.slice(param.lastIndexOf('|') + 1) });
      }),
      { seed: 0x4d, numRuns: 300 },
    );
    // protocol.md §5.2, observed.
    assert.equal(connectParam('localhost', { address: '127.0.0.1', port: 60192, local: false }), 'localhost|127.0.0.1');
    assert.equal(connectParam(null, { address: '::1', port: null, local: false }), '<unknown>|[::1]');
    assert.equal(connectParam('vm', { address: '', port: null, local: true }), 'vm|local');
  });

  test('endpointText is the inverse of parseEndpoint, in the forms smtpd writes', () => {
    fc.assert(
      fc.property(endpoint, (e) => assert.deepEqual(parseEndpoint(endpointText(e)), e)),
      { seed: 0x4d, numRuns: 300 },
    );
    for (const text of ['127.0.0.1:56500', '[::1]:58140', 'unix:/var/run/smtpd.sock']) assert.equal(endpointText(parseEndpoint(text)), text);
  });
});

describe('configLines', () => {
  const hello: fc.Arbitrary<SmtpdHello> = fc.record({
    smtpdVersion: fc.option(text),
    protocol: fc.option(fc.constantFrom('0.7', '0.8')),
    sessionTimeoutSeconds: fc.option(fc.nat()),
    subsystems: fc.uniqueArray(fc.constantFrom('smtp-in', 'smtp-out')),
    admd: fc.option(text),
  });

  test('the handshake collector gets the values back', () => {
    fc.assert(
      fc.property(hello, (h) => {
        const collector = new HandshakeCollector();
        const lines = configLines(h).map(parsed);
        assert.deepEqual(lines.at(-1), { kind: 'config-ready' });
        for (const line of lines.slice(0, -1)) {
          assert.equal(line.kind, 'config');
          if (line.kind === 'config') collector.add(line);
        }
        assert.deepEqual(collector.result(), { ...h, unknownKeys: [] });
      }),
      { seed: 0x4d, numRuns: 300 },
    );
  });

  test("smtpd 6.8's and 7.8's handshakes, byte for byte (protocol.md §2.1)", () => {
    assert.deepEqual(configLines({ ...SMTPD_68, admd: 'vm' }), [
      'config|smtpd-version|6.8.0p2',
      'config|smtp-session-timeout|300',
      'config|subsystem|smtp-in',
      'config|admd|vm',
      'config|ready',
    ]);
    assert.deepEqual(
      configLines({ smtpdVersion: '7.8.0p1', protocol: '0.7', sessionTimeoutSeconds: 300, subsystems: ['smtp-in', 'smtp-out'], admd: 'mx.example.org' }),
      [
        'config|smtpd-version|7.8.0p1',
        'config|protocol|0.7',
        'config|smtp-session-timeout|300',
        'config|subsystem|smtp-in',
        'config|subsystem|smtp-out',
        'config|admd|mx.example.org',
        'config|ready',
      ],
    );
  });
});

// --- the recorded transcripts: real smtpd's bytes --------------------------------

const TRANSCRIPTS = new URL('../../../../test/fixtures/transcripts/', import.meta.url);

/** Every `> ` (smtpd sent) and `< ` (the filter wrote) line of every recorded transcript. */
function recorded(prefix: '> ' | '< '): string[] {
  const lines: string[] = [];
  for (const dir of readdirSync(TRANSCRIPTS)) {
    for (const name of readdirSync(new URL(`${dir}/`, TRANSCRIPTS))) {
      const data = readFileSync(new URL(`${dir}/${name}`, TRANSCRIPTS));
      for (let start = 0; start < data.length; ) {
        const end = data.indexOf(10, start) < 0 ? data.length : data.indexOf(10, start);
        const line = decodeLine(data.subarray(start, end)).text;
        if (line.startsWith(prefix)) lines.push(line.slice(prefix.length));
        start = end + 1;
      }
    }
  }
  return lines;
}

describe('the builders write what smtpd wrote', () => {
  test('every report and request smtpd 6.8 and 7.8 sent in the transcripts is rebuilt byte for byte', () => {
    const lines = recorded('> ');
    const seen = new Set<string>();
    for (const line of lines) {
      const input = parsed(line);
      switch (input.kind) {
        case 'report':
          seen.add(`${input.version} ${input.event.type}`);
          assert.equal(reportLine(input), line);
          break;
        case 'filter':
          seen.add(`${input.version} ${input.phase}`);
          assert.equal(filterLine(input), line);
          break;
        default:
          assert.fail(`not a report or request: ${line}`);
      }
    }
    assert.ok(lines.length >= 400, `${lines.length} lines`);
    for (const kind of ['0.6 link-connect', '0.6 tx-mail', '0.6 tx-rcpt', '0.6 data-line', '0.7 link-tls', '0.7 tx-mail', '0.7 connect']) {
      assert.ok(seen.has(kind), kind);
    }
  });
});

// --- output lines: parseOutputLine(format(o)) = o ---------------------------------

/** What parseOutputLine can see of an OutputLine: not the phase a result answers, not a data line's encoding. */
function onTheWire(out: OutputLine): WrittenLine {
  switch (out.kind) {
    case 'filter-result':
      return { kind: out.kind, sessionId: out.sessionId, token: out.token, decision: out.decision };
    case 'filter-dataline':
      return { kind: out.kind, sessionId: out.sessionId, token: out.token, line: out.line };
    default:
      return { ...out };
  }
}

describe('parseOutputLine', () => {
  const reply = fc.tuple(fc.constantFrom('421', '450', '550', '554'), fc.string({ unit: fc.constantFrom(...'ab .|5<>:'), minLength: 1, maxLength: 40 })).map(([code, t]) => `${code} ${t}`);
  const decision: fc.Arbitrary<FilterDecision> = fc.oneof(
    fc.constant({ type: 'proceed' as const }),
    fc.constant({ type: 'junk' as const }),
    reply.map((r) => ({ type: 'reject' as const, reply: r })),
    reply.map((r) => ({ type: 'disconnect' as const, reply: r })),
    fc.stringMatching(/^<?[a-z0-9.@]{1,20}>?$/).map((value) => ({ type: 'rewrite' as const, value })),
  );
  const output: fc.Arbitrary<OutputLine> = fc.oneof(
    fc.record({ kind: fc.constant('register-filter' as const), subsystem: fc.constant('smtp-in' as const), phase: fc.constantFrom(...FILTER_PHASES) }),
    fc.record({ kind: fc.constant('register-report' as const), subsystem: fc.constant('smtp-in' as const), event: fc.constantFrom(...REPORT_EVENTS) }),
    fc.constant({ kind: 'register-ready' as const }),
    fc.record({ kind: fc.constant('filter-result' as const), sessionId: hex16, token: hex16, phase: fc.constantFrom(...FILTER_PHASES), decision }),
    fc.record({ kind: fc.constant('filter-dataline' as const), sessionId: hex16, token: hex16, line: text, encoding: fc.constantFrom('utf8' as const, 'latin1' as const) }),
  );

  test('gives back every line format.ts writes', () => {
    let written = 0;
    fc.assert(
      fc.property(output, (out) => {
        const line = formatOutput(out);
        // Some generated results are not allowed at their phase (junk at commit, rewrite at data): format refuses them.
        fc.pre(line.ok);
        if (!line.ok) return;
        written++;
        assert.deepEqual(parseOutputLine(line.value), { ok: true, value: onTheWire(out) });
      }),
      { seed: 0x4d, numRuns: 1000 },
    );
    assert.ok(written >= 500, `${written} lines`);
  });

  test('the handshake answer, with data-line', () => {
    const lines = registrationLines(registrationFor(true)).map((o) => {
      const r = formatOutput(o);
      assert.ok(r.ok);
      return r.value;
    });
    const read = lines.map(parseOutputLine);
    assert.ok(read.every((r) => r.ok));
    assert.ok(read.some((r) => r.ok && r.value.kind === 'register-filter' && r.value.phase === 'data-line'));
    assert.deepEqual(read.at(-1), { ok: true, value: { kind: 'register-ready' } });
  });

  test('reads every line the filter wrote in the recorded transcripts', () => {
    const lines = recorded('< ');
    assert.ok(lines.length > 50, `${lines.length} lines`);
    for (const line of lines) assert.ok(parseOutputLine(line).ok, line);
  });

  test('refuses what format.ts never writes', () => {
    const refused: [string, RegExp][] = [
      [`filter-result|${SID}|${TOK}|proceed|x`, /proceed with a parameter/],
      [`filter-result|${SID}|${TOK}|junk|x`, /junk with a parameter/],
      [`filter-result|${SID}|${TOK}|reject`, /reject without a reply/],
      [`filter-result|${SID}|${TOK}|rewrite`, /rewrite without a value/],
      [`filter-result|${SID}|${TOK}|report|x`, /unknown decision "report"/],
      [`filter-result|${TOK}|proceed`, /token is not 16 hex digits/],
      [`filter-result|3689fe60|${TOK}|proceed`, /session id is not 16 hex digits/],
      [`filter-dataline|${SID}|${TOK}`, /without a line/],
      ['register|filter|smtp-out|connect', /not for smtp-in/],
      ['register|filter|smtp-in|bogus', /unknown register line/],
      ['register|report|smtp-in|connect', /unknown register line/],
      ['register|ready|x', /not for smtp-in/],
      ['hello world', /not a line the filter writes/],
    ];
    for (const [line, reason] of refused) {
      const r = parseOutputLine(line);
      assert.ok(!r.ok, line);
      assert.match(r.error.reason, reason, line);
    }
  });

  test('a reply keeps its `|`; a data line keeps everything after the token', () => {
    assert.deepEqual(parseOutputLine(`filter-result|${SID}|${TOK}|reject|550 a|b`), {
      ok: true,
      value: { kind: 'filter-result', sessionId: SID, token: TOK, decision: { type: 'reject', reply: '550 a|b' } },
    });
    assert.deepEqual(parseOutputLine(`filter-dataline|${SID}|${TOK}|`), { ok: true, value: { kind: 'filter-dataline', sessionId: SID, token: TOK, line: '' } });
  });
});

describe('resultFor and dataLinesFor', () => {
  const OTHER = '3689fe69138f0c10';
  const TOK2 = '1a9c37f824320cc1';
  const written = [
    'register|ready',
    `filter-dataline|${SID}|${TOK2}|X-Added: 1`,
    `filter-result|${OTHER}|${TOK}|reject|550 not you`,
    `filter-dataline|${OTHER}|${TOK2}|other`,
    `filter-result|${SID}|${TOK2}|junk`,
    `filter-result|${SID}|${TOK}|proceed`,
    `filter-dataline|${SID}|${TOK}|.`,
    'not a protocol line',
  ];

  test('the answer to one (session, token), whatever else was written', () => {
    assert.deepEqual(resultFor(written, SID, TOK), { type: 'proceed' });
    assert.deepEqual(resultFor(written, OTHER, TOK), { type: 'reject', reply: '550 not you' });
    assert.equal(resultFor(written, OTHER, TOK2), undefined);
  });

  test("one session's data lines, in order, of one token or of all", () => {
    assert.deepEqual(dataLinesFor(written, SID), ['X-Added: 1', '.']);
    assert.deepEqual(dataLinesFor(written, SID, TOK), ['.']);
    assert.deepEqual(dataLinesFor(written, OTHER), ['other']);
  });
});
