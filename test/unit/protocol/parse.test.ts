import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { compareVersions, parseConnectParam, parseEndpoint, parseInputLine, splitFields } from '../../../src/protocol/parse.js';
import { FILTER_PHASES } from '../../../src/model/phases.js';
import type { InputLine, ReportEvent } from '../../../src/protocol/types.js';

const SID = '3689fe601e5436b4';
const TOK = '1a9c37f7cd0c06a5';

function parsed(line: string): InputLine {
  const r = parseInputLine(line);
  assert.ok(r.ok, `expected ${line} to parse: ${r.ok ? '' : r.error.reason}`);
  return r.value;
}

function event(line: string): ReportEvent {
  const p = parsed(line);
  assert.equal(p.kind, 'report');
  return p.kind === 'report' ? p.event : (undefined as never);
}

function problem(line: string): string {
  const r = parseInputLine(line);
  assert.ok(!r.ok, `expected ${JSON.stringify(line)} to be refused, got ${JSON.stringify(r.ok && r.value)}`);
  return r.ok ? '' : r.error.reason;
}

const rep = (ev: string, params?: string, version = '0.6') =>
  `report|${version}|1795635326.076777|smtp-in|${ev}|${SID}${params === undefined ? '' : `|${params}`}`;

describe('splitFields', () => {
  test('keeps every further | in the last field', () => {
    assert.deepEqual(splitFields('a|b|c|d', 3), ['a', 'b', 'c|d']);
    assert.deepEqual(splitFields('a|b', 5), ['a', 'b']);
    assert.deepEqual(splitFields('a||', 3), ['a', '', '']);
    assert.deepEqual(splitFields('', 2), ['']);
  });
});

describe('compareVersions', () => {
  test('compares numerically, not as strings', () => {
    assert.ok(compareVersions('0.7', '0.6') > 0);
    assert.ok(compareVersions('0.10', '0.7') > 0);
    assert.equal(compareVersions('0.6', '0.6'), 0);
    assert.ok(compareVersions('1.0', '0.9') > 0);
  });
});

describe('config lines', () => {
  test('smtpd 6.8 handshake lines', () => {
    assert.deepEqual(parsed('config|smtpd-version|6.8.0p2'), { kind: 'config', key: 'smtpd-version', value: '6.8.0p2' });
    assert.deepEqual(parsed('config|subsystem|smtp-in'), { kind: 'config', key: 'subsystem', value: 'smtp-in' });
    assert.deepEqual(parsed('config|ready'), { kind: 'config-ready' });
    assert.deepEqual(parsed('config|protocol|0.7'), { kind: 'config', key: 'protocol', value: '0.7' });
  });
  test('a value may contain |', () => {
    assert.deepEqual(parsed('config|future-key|a|b'), { kind: 'config', key: 'future-key', value: 'a|b' });
  });
  test('a trailing CR is refused (lines end with LF only)', () => {
    assert.match(problem('config|ready\r'), /CR/);
  });
  test('config without a key', () => {
    problem('config|');
  });
});

describe('report events (0.6 field order, as smtpd 6.8 sends them)', () => {
  test('envelope fields', () => {
    const p = parsed(rep('link-disconnect'));
    assert.deepEqual(p, {
      kind: 'report',
      version: '0.6',
      timestamp: 1795635326.076777,
      subsystem: 'smtp-in',
      sessionId: SID,
      event: { type: 'link-disconnect' },
    });
  });

  test('link-connect, parsed fully: endpoints, the source as written, <unknown> rdns as null', () => {
    assert.deepEqual(event(rep('link-connect', 'localhost|pass|127.0.0.1:56500|127.0.0.1:2525')), {
      type: 'link-connect',
      rdns: 'localhost',
      fcrdns: 'pass',
      src: { address: '127.0.0.1', port: 56500, local: false },
      dest: { address: '127.0.0.1', port: 2525, local: false },
      srcText: '127.0.0.1:56500',
    });
    assert.deepEqual(event(rep('link-connect', '<unknown>|fail|[::1]:58140|[::1]:2525')), {
      type: 'link-connect',
      rdns: null,
      fcrdns: 'fail',
      src: { address: '::1', port: 58140, local: false },
      dest: { address: '::1', port: 2525, local: false },
      srcText: '[::1]:58140',
    });
    assert.deepEqual(event(rep('link-connect', 'vm|pass|unix:/var/run/smtpd.sock|unix:/var/run/smtpd.sock')), {
      type: 'link-connect',
      rdns: 'vm',
      fcrdns: 'pass',
      src: { address: '', port: null, local: true },
      dest: { address: '', port: null, local: true },
      srcText: 'unix:/var/run/smtpd.sock',
    });
  });

  test('link-connect: an empty rdns field is no name either', () => {
    const e = event(rep('link-connect', '|error|192.0.2.1:1|192.0.2.2:25'));
    assert.equal(e.type === 'link-connect' && e.rdns, null);
  });

  test('link-connect: a | in the PTR name stays in rdns (the last three fields never contain one)', () => {
    const e = event(rep('link-connect', 'we|ird.example|error|192.0.2.1:1|192.0.2.2:25'));
    assert.equal(e.type === 'link-connect' && e.rdns, 'we|ird.example');
    assert.equal(e.type === 'link-connect' && e.srcText, '192.0.2.1:1');
    assert.deepEqual(e.type === 'link-connect' && e.src, { address: '192.0.2.1', port: 1, local: false });
  });

  test('link-connect with too few fields is refused', () => {
    assert.match(problem(rep('link-connect', 'localhost|pass|127.0.0.1:1')), /link-connect/);
  });

  test('link-greeting, link-identify, link-tls', () => {
    assert.deepEqual(event(rep('link-greeting', 'vm')), { type: 'link-greeting', hostname: 'vm' });
    assert.deepEqual(event(rep('link-identify', 'EHLO|mx.example.net')), {
      type: 'link-identify',
      method: 'EHLO',
      identity: 'mx.example.net',
    });
    assert.deepEqual(event(rep('link-tls', 'TLSv1.3:TLS_AES_256_GCM_SHA384:256')), {
      type: 'link-tls',
      tls: 'TLSv1.3:TLS_AES_256_GCM_SHA384:256',
    });
  });

  test('link-auth 0.6: username|result, the username may contain | (result is the LAST field)', () => {
    assert.deepEqual(event(rep('link-auth', 'alice|pass')), { type: 'link-auth', username: 'alice', result: 'pass' });
    assert.deepEqual(event(rep('link-auth', 'evil|pass|fail')), { type: 'link-auth', username: 'evil|pass', result: 'fail' });
  });

  test('link-auth 0.7: result|username, the username last', () => {
    assert.deepEqual(event(rep('link-auth', 'pass|alice', '0.7')), { type: 'link-auth', username: 'alice', result: 'pass' });
    assert.deepEqual(event(rep('link-auth', 'fail|evil|pass', '0.7')), { type: 'link-auth', username: 'evil|pass', result: 'fail' });
  });

  test('link-auth without a separator is refused', () => {
    problem(rep('link-auth', 'alice'));
  });

  test('transaction events', () => {
    assert.deepEqual(event(rep('tx-reset', '89fe53ce')), { type: 'tx-reset', messageId: '89fe53ce' });
    assert.deepEqual(event(rep('tx-reset')), { type: 'tx-reset', messageId: null });
    assert.deepEqual(event(rep('tx-begin', '89fe53ce')), { type: 'tx-begin', messageId: '89fe53ce' });
    assert.deepEqual(event(rep('tx-mail', '89fe53ce|ok|alice@example.net')), {
      type: 'tx-mail',
      messageId: '89fe53ce',
      result: 'ok',
      address: 'alice@example.net',
    });
    assert.deepEqual(event(rep('tx-mail', '89fe53ce|ok|')), { type: 'tx-mail', messageId: '89fe53ce', result: 'ok', address: '' });
    assert.deepEqual(event(rep('tx-rcpt', 'a68b7fef|permfail|nosuchuser|x@localhost')), {
      type: 'tx-rcpt',
      messageId: 'a68b7fef',
      result: 'permfail',
      address: 'nosuchuser|x@localhost',
    });
    assert.deepEqual(event(rep('tx-envelope', '89fe53ce|89fe53cec25d45f2')), {
      type: 'tx-envelope',
      messageId: '89fe53ce',
      envelopeId: '89fe53cec25d45f2',
    });
    assert.deepEqual(event(rep('tx-data', '89fe53ce|ok')), { type: 'tx-data', messageId: '89fe53ce', result: 'ok' });
    assert.deepEqual(event(rep('tx-commit', '89fe53ce|560')), { type: 'tx-commit', messageId: '89fe53ce', size: 560 });
    assert.deepEqual(event(rep('tx-rollback', '89fe53ce')), { type: 'tx-rollback', messageId: '89fe53ce' });
  });

  test('tx-mail/tx-rcpt in the 0.5 order (msgid|address|result)', () => {
    assert.deepEqual(event(rep('tx-rcpt', '89fe53ce|a|b@example|ok', '0.5')), {
      type: 'tx-rcpt',
      messageId: '89fe53ce',
      result: 'ok',
      address: 'a|b@example',
    });
  });

  test('malformed transaction events are refused', () => {
    problem(rep('tx-begin', 'not-hex'));
    problem(rep('tx-commit', '89fe53ce|big'));
    problem(rep('tx-mail', '89fe53ce|ok'));
    problem(rep('tx-envelope', '89fe53ce'));
  });

  test('protocol lines, filter-report, filter-response, timeout', () => {
    assert.deepEqual(event(rep('protocol-client', 'MAIL FROM:<a|b@example>')), { type: 'protocol-client', command: 'MAIL FROM:<a|b@example>' });
    assert.deepEqual(event(rep('protocol-server', '250-vm Hello x [127.0.0.1], pleased to meet you')), {
      type: 'protocol-server',
      response: '250-vm Hello x [127.0.0.1], pleased to meet you',
    });
    assert.deepEqual(event(rep('filter-report', 'builtin|b1|builtin-report-msg')), {
      type: 'filter-report',
      filterKind: 'builtin',
      name: 'b1',
      message: 'builtin-report-msg',
    });
    assert.deepEqual(event(rep('filter-response', 'connected|proceed')), {
      type: 'filter-response',
      phase: 'connected',
      response: 'proceed',
      param: null,
    });
    assert.deepEqual(event(rep('filter-response', 'rcpt-to|reject|451 4.7.1 a|b')), {
      type: 'filter-response',
      phase: 'rcpt-to',
      response: 'reject',
      param: '451 4.7.1 a|b',
    });
    assert.deepEqual(event(rep('timeout')), { type: 'timeout' });
  });

  test('an unknown event is kept as unknown (forward compatibility), not an error', () => {
    const p = parsed(rep('link-future', 'x|y', '0.8'));
    assert.equal(p.kind, 'unknown');
    assert.equal(p.kind === 'unknown' && p.name, 'link-future');
  });

  test('every report line of the recorded transcripts parses', () => {
    const dir = new URL('../../../../test/fixtures/transcripts/smtpd-6.8/', import.meta.url);
    let n = 0;
    for (const f of readdirSync(dir).filter((x) => !x.includes('.client.'))) {
      for (const l of readFileSync(new URL(f, dir), 'utf8').split('\n')) {
        if (!l.startsWith('> ')) continue;
        const p = parsed(l.slice(2));
        assert.notEqual(p.kind, 'unknown', l);
        n++;
      }
    }
    assert.ok(n > 300, `only ${n} lines`);
  });
});

describe('filter requests', () => {
  test('every phase, with the parameter kept whole', () => {
    for (const phase of FILTER_PHASES) {
      const p = parsed(`filter|0.6|1795635326.076808|smtp-in|${phase}|${SID}|${TOK}|x|y`);
      assert.deepEqual(p, {
        kind: 'filter',
        version: '0.6',
        timestamp: 1795635326.076808,
        subsystem: 'smtp-in',
        phase,
        sessionId: SID,
        token: TOK,
        param: 'x|y',
      });
    }
  });

  test('empty trailing parameter (data, commit) and a missing one', () => {
    const p = parsed(`filter|0.6|1795635326.078553|smtp-in|data|${SID}|${TOK}|`);
    assert.equal(p.kind === 'filter' && p.param, '');
    const q = parsed(`filter|0.6|1795635326.078553|smtp-in|commit|${SID}|${TOK}`);
    assert.equal(q.kind === 'filter' && q.param, '');
  });

  test('a data-line keeps leading dots, pipes and a trailing CR', () => {
    const p = parsed(`filter|0.6|1795635327.576900|smtp-in|data-line|${SID}|${TOK}|..leading|dot\r`);
    assert.equal(p.kind === 'filter' && p.param, '..leading|dot\r');
  });

  test('connect parameter: rdns|src parsed as link-connect is (<unknown>, local, IPv6 brackets)', () => {
    assert.deepEqual(parseConnectParam('localhost|127.0.0.1'), {
      rdns: 'localhost',
      src: { address: '127.0.0.1', port: null, local: false },
      srcText: '127.0.0.1',
    });
    assert.deepEqual(parseConnectParam('<unknown>|[::1]'), { rdns: null, src: { address: '::1', port: null, local: false }, srcText: '[::1]' });
    assert.deepEqual(parseConnectParam('vm|local'), { rdns: 'vm', src: { address: '', port: null, local: true }, srcText: 'local' });
    // A bare `local` (no rdns field at all) and a | in the PTR name: the source is the last field.
    assert.deepEqual(parseConnectParam('local'), { rdns: null, src: { address: '', port: null, local: true }, srcText: 'local' });
    assert.equal(parseConnectParam('we|ird|192.0.2.9').rdns, 'we|ird');
  });

  test('the connect request and link-connect give the same client (address, local, rdns)', () => {
    const pairs = [
      ['mx.example.net|pass|192.0.2.7:60192|192.0.2.25:25', 'mx.example.net|192.0.2.7'],
      ['<unknown>|fail|[2001:db8::7]:58140|[::1]:25', '<unknown>|[2001:db8::7]'],
      ['vm|pass|unix:/var/run/smtpd.sock|unix:/var/run/smtpd.sock', 'vm|local'],
    ] as const;
    for (const [report, param] of pairs) {
      const e = event(rep('link-connect', report));
      const c = parseConnectParam(param);
      assert.ok(e.type === 'link-connect');
      assert.deepEqual({ address: c.src.address, local: c.src.local, rdns: c.rdns }, { address: e.src.address, local: e.src.local, rdns: e.rdns }, param);
    }
  });

  test('an unknown phase is kept with its session and token', () => {
    const p = parsed(`filter|0.8|1795635326.076808|smtp-in|new-phase|${SID}|${TOK}|x`);
    assert.deepEqual(p.kind === 'unknown' && p.request, { sessionId: SID, token: TOK, version: '0.8' });
  });

  test('bad ids, versions and timestamps are refused', () => {
    problem(`filter|0.6|1795635326.076808|smtp-in|connect|${SID.slice(1)}|${TOK}|x`);
    problem(`filter|0.6|1795635326.076808|smtp-in|connect|${SID}|${TOK}z|x`);
    problem(`filter|six|1795635326.076808|smtp-in|connect|${SID}|${TOK}|x`);
    problem(`filter|0.6|yesterday|smtp-in|connect|${SID}|${TOK}|x`);
    problem(`filter|0.6|1795635326.076808||connect|${SID}|${TOK}|x`);
    problem(`filter|0.6|1795635326.076808|smtp-in|connect|${SID}`);
  });
});

describe('problems with the fields every report and request starts with', () => {
  // The reasons go to the log; reports and requests share one scanner, so one
  // table pins both, including which problem wins when a line has several.
  const cases: readonly (readonly [string, string])[] = [
    ['report|0.6|1|smtp-in|link-connect', 'report line with fewer than 6 fields'],
    ['report|six|yesterday|smtp-in', 'report line with fewer than 6 fields'],
    [`report|six|1|smtp-in|link-disconnect|${SID}`, 'bad protocol version "six"'],
    [`report|0.|1|smtp-in|link-disconnect|${SID}`, 'bad protocol version "0."'],
    [`report|0.6|yesterday|smtp-in|link-disconnect|zz`, 'bad timestamp "yesterday"'],
    [`report|0.6|1.|smtp-in|link-disconnect|${SID}`, 'bad timestamp "1."'],
    [`report|0.6|1||link-disconnect|zz`, 'empty subsystem'],
    ['report|0.6|1|smtp-in|link-disconnect|zz', 'session id is not 16 hex digits'],
    [`report|0.6|1|smtp-in|link-disconnect|${SID}0|x`, 'session id is not 16 hex digits'],
    [`report|0.6|1|smtp-in|tx-begin|${SID}|xyz`, 'tx-begin: bad message id'],
    [`filter|0.6|1|smtp-in|connect|${SID}`, 'filter line with fewer than 7 fields'],
    [`filter|six|1|smtp-in|connect|${SID}`, 'filter line with fewer than 7 fields'],
    [`filter|six|1|smtp-in|connect|zz|zz`, 'bad protocol version "six"'],
    [`filter|0.6|-1|smtp-in|connect|zz|zz`, 'bad timestamp "-1"'],
    [`filter|0.6|1||connect|zz|zz`, 'empty subsystem'],
    [`filter|0.6|1|smtp-in|connect|zz|zz`, 'session id is not 16 hex digits'],
    [`filter|0.6|1|smtp-in|connect|${SID}|${TOK}z|x`, 'token is not 16 hex digits'],
    [`filter|0.6|1|smtp-in|bogus|${SID}|`, 'token is not 16 hex digits'],
  ];
  for (const [line, reason] of cases) {
    test(`${line} → ${reason}`, () => assert.equal(problem(line), reason));
  }

  test('ids in upper case pass (the 16-hex check is case-insensitive), other letters do not', () => {
    const upper = parsed(`filter|0.6|1|smtp-in|helo|${SID.toUpperCase()}|${TOK.toUpperCase()}|x`);
    assert.equal(upper.kind === 'filter' && upper.sessionId, SID.toUpperCase());
    for (const c of ['g', 'G', '@', '`', '/', ':']) problem(`filter|0.6|1|smtp-in|helo|${SID.slice(1)}${c}|${TOK}|x`);
  });
});

describe('garbage and hostile input never throws', () => {
  test('assorted junk', () => {
    for (const l of ['', 'garbage', '|', '||||||||', 'report', 'report|', 'filter|0.6', '\u0000\u0001', 'x'.repeat(100_000)]) {
      const r = parseInputLine(l);
      assert.equal(typeof r.ok, 'boolean');
      if (!r.ok) assert.ok(r.error.line.length < 400, 'problem lines are shortened for the log');
    }
  });
  test('unknown message types are kept as unknown', () => {
    const p = parsed('hello|world');
    assert.equal(p.kind, 'unknown');
  });
});

describe('parseEndpoint', () => {
  test('forms of link-connect addresses', () => {
    assert.deepEqual(parseEndpoint('127.0.0.1:56500'), { address: '127.0.0.1', port: 56500, local: false });
    assert.deepEqual(parseEndpoint('[::1]:58140'), { address: '::1', port: 58140, local: false });
    assert.deepEqual(parseEndpoint('[2001:db8::1]:25'), { address: '2001:db8::1', port: 25, local: false });
    assert.deepEqual(parseEndpoint('unix:/var/run/smtpd.sock'), { address: '', port: null, local: true });
    assert.deepEqual(parseEndpoint('2001:db8::1'), { address: '2001:db8::1', port: null, local: false });
    assert.deepEqual(parseEndpoint('192.0.2.1:99999'), { address: '192.0.2.1', port: null, local: false });
  });
});
