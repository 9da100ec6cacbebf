/** The small pieces of the offline tools: transcripts, the virtual clock, listings diffs, arguments. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCliArgs } from '../../../src/cli/args.js';
import { parseReplayArgs, parseTestArgs } from '../../../src/tools/args.js';
import { comparisonKey, diffListing, significantLines } from '../../../src/tools/expect.js';
import { sliceSpan } from '../../../src/model/describe.js';
import { table } from '../../../src/tools/text.js';
import { parseTranscript } from '../../../src/tools/transcript.js';
import { VirtualClock } from '../../../src/tools/virtual-clock.js';

const text = (b: Buffer): string => b.toString('latin1');

describe('parseTranscript', () => {
  test('`> ` lines are inputs, `< ` lines and notes are skipped, bytes are kept', () => {
    const data = Buffer.concat([
      Buffer.from('# filter-rules 0.1.0 recording started\n> config|ready\n< register|ready\n\n> report|0.6|1|smtp-in|link-disconnect|a\r\n'),
      Buffer.from('> filter|0.6|1|smtp-in|data-line|a|b|caf'),
      Buffer.from([0xe9, 0x0a]),
    ]);
    const runs = parseTranscript(data);
    assert.equal(runs.length, 1);
    const run = runs[0];
    assert.equal(run?.hasHandshake, true);
    assert.deepEqual(
      run?.inputs.map((i) => [i.lineNo, text(i.bytes)]),
      [
        [2, 'config|ready'],
        [5, 'report|0.6|1|smtp-in|link-disconnect|a'],
        [6, 'filter|0.6|1|smtp-in|data-line|a|b|caf\u00e9'],
      ],
    );
    assert.equal(run?.inputs[2]?.bytes.at(-1), 0xe9, 'not re-encoded');
  });

  test('a handshake after traffic starts a new run (a record file appended to by two filter starts)', () => {
    const data = Buffer.from(
      ['> config|smtpd-version|6.8.0p2', '> config|ready', '> report|0.6|1|smtp-in|link-connect|a|x|pass|1.2.3.4:5|1.2.3.4:25', '> config|smtpd-version|6.8.0p2', '> config|ready', '> report|0.6|1|smtp-in|link-disconnect|a', ''].join('\n'),
    );
    const runs = parseTranscript(data);
    assert.deepEqual(
      runs.map((r) => r.inputs.length),
      [3, 3],
    );
  });

  test('an excerpt without a handshake says so', () => {
    const [run] = parseTranscript(Buffer.from('> report|0.6|1|smtp-in|link-connect|a|x|pass|1.2.3.4:5|1.2.3.4:25\n'));
    assert.equal(run?.hasHandshake, false);
    assert.deepEqual(parseTranscript(Buffer.from('# nothing\n< register|ready\n')), []);
  });
});

describe('VirtualClock', () => {
  test('runNext jumps to the earliest timer and fires those due, in order', () => {
    const c = new VirtualClock(1000);
    const fired: string[] = [];
    c.setTimer(300, () => fired.push('b'));
    c.setTimer(100, () => fired.push('a'));
    const cancelled = c.setTimer(50, () => fired.push('never'));
    cancelled.cancel();
    c.setTimer(100, () => fired.push('a2'));
    assert.equal(c.runNext(), true);
    assert.deepEqual(fired, ['a', 'a2']);
    assert.equal(c.monotonic(), 100);
    assert.equal(c.now(), 1100);
    assert.equal(c.runNext(), true);
    assert.deepEqual(fired, ['a', 'a2', 'b']);
    assert.equal(c.runNext(), false);
    assert.equal(c.elapsedMs, 300);
  });

  test('a timer set by a firing timer for the same instant fires in the same jump', () => {
    const c = new VirtualClock(0);
    const fired: number[] = [];
    c.setTimer(10, () => c.setTimer(0, () => fired.push(c.monotonic())));
    c.runNext();
    assert.deepEqual(fired, [10]);
  });
});

describe('expectations', () => {
  test('comments, trailing blanks and trailing empty lines do not count', () => {
    assert.deepEqual(
      significantLines('# header\nsession a  \n  connect  proceed\n\n\n# 1 session\n').map((l) => l.text),
      ['session a', '  connect  proceed'],
    );
    assert.equal(diffListing('# old header\nsession a\n  connect  proceed\n', '# new header\nsession a\n  connect  proceed   \n', { expected: 'e', got: 'g' }), null);
  });

  test('rule locations and spacing are not compared: moving a rule keeps the expectation', () => {
    assert.equal(comparisonKey('  rcpt-to grey@localhost      reject 451 4.7.1 Greylisted  [probe.rules:5]'), 'rcpt-to grey@localhost reject 451 4.7.1 Greylisted');
    assert.equal(
      diffListing('session a\n  ehlo x  reject 550 5.7.1 no  [a.rules:3]\n', 'session a\n  ehlo x        reject 550 5.7.1 no    [b.rules:9]\n', { expected: 'e', got: 'g' }),
      null,
    );
    assert.notEqual(diffListing('  ehlo x  reject 550 5.7.1 no  [a.rules:3]\n', '  ehlo x  reject 551 5.7.1 no  [a.rules:3]\n', { expected: 'e', got: 'g' }), null);
  });

  test('a difference comes back as a unified diff with context', () => {
    const expected = ['session a', '  connect  proceed', '  ehlo x  proceed', '  mail-from y  proceed', 'session b', '  connect  proceed'].join('\n');
    const got = ['session a', '  connect  proceed', '  ehlo x  reject 550 5.7.1 no  [r.rules:3]', '  mail-from y  proceed', 'session b', '  connect  proceed'].join('\n');
    assert.equal(
      diffListing(expected, got, { expected: 'expect.txt', got: 'replay' }),
      ['--- expect.txt', '+++ replay', '@@ -1,5 +1,5 @@', ' session a', '   connect  proceed', '-  ehlo x  proceed', '+  ehlo x  reject 550 5.7.1 no  [r.rules:3]', '   mail-from y  proceed', ' session b', ''].join('\n'),
    );
  });

  test('far-apart changes make separate hunks; added and removed lines are counted', () => {
    const a = Array.from({ length: 20 }, (_, i) => `line ${i}`);
    const b = [...a];
    b[2] = 'changed 2';
    b.splice(15, 1);
    const diff = diffListing(a.join('\n'), b.join('\n'), { expected: 'a', got: 'b' }) ?? '';
    assert.deepEqual(
      diff.split('\n').filter((l) => l.startsWith('@@')),
      ['@@ -1,5 +1,5 @@', '@@ -14,5 +14,4 @@'],
    );
    assert.match(diff, /^-line 15$/m);
  });
});

describe('text helpers', () => {
  test('sliceSpan takes a multi-line span with an exclusive end', () => {
    assert.equal(sliceSpan('chain a =\n  pause 3s\n  then junk\n', { file: 'f', line: 2, column: 3, endLine: 3, endColumn: 12 }), 'pause 3s\n  then junk');
    assert.equal(sliceSpan('x', { file: 'f', line: 5, column: 1, endLine: 5, endColumn: 2 }), null);
  });

  test('table pads every column but the last', () => {
    assert.deepEqual(table([['a', 'bb', 'c'], ['ccc', 'd', '']]), ['a    bb  c', 'ccc  d']);
  });
});

describe('arguments', () => {
  test('test: defaults, every session option, and --offline', () => {
    const d = parseTestArgs(['r.rules']);
    assert.ok(d.ok);
    assert.deepEqual(d.ok ? d.value.session : null, { src: '203.0.113.7', rdns: 'mx.example.net', fcrdns: 'pass', helo: 'mx.example.net', mailFrom: 'a@example.net', rcptTo: ['b@example.com'], tls: null, authUser: null });
    const r = parseTestArgs(['--src', '2001:db8::7', '--no-rdns', '--helo', '[192.0.2.1]', '--mail-from', '', '--rcpt-to', 'a@x', '--rcpt-to', 'b@y', '--chain', 'mx', '--offline', 'r.rules']);
    assert.deepEqual(r, {
      ok: true,
      value: {
        kind: 'test',
        rulesFile: 'r.rules',
        chain: 'mx',
        session: { src: '2001:db8::7', rdns: null, fcrdns: 'fail', helo: '[192.0.2.1]', mailFrom: '', rcptTo: ['a@x', 'b@y'], tls: null, authUser: null },
        offline: true,
      },
    });
  });

  test('test: --tls alone, --tls=STRING, --tls STRING; --auth-user, which implies the default TLS', () => {
    const session = (argv: string[]) => {
      const r = parseTestArgs(argv);
      assert.ok(r.ok, r.ok ? '' : r.error);
      return { tls: r.value.session.tls, authUser: r.value.session.authUser, rulesFile: r.value.rulesFile };
    };
    const TLS13 = 'TLSv1.3:TLS_AES_256_GCM_SHA384:256';
    const TLS12 = 'TLSv1.2:ECDHE-RSA-AES128-GCM-SHA256:128';
    assert.deepEqual(session(['--tls', 'r.rules']), { tls: TLS13, authUser: null, rulesFile: 'r.rules' });
    assert.deepEqual(session(['r.rules', '--tls']), { tls: TLS13, authUser: null, rulesFile: 'r.rules' });
    assert.deepEqual(session(['--tls', '--offline', 'r.rules']), { tls: TLS13, authUser: null, rulesFile: 'r.rules' });
    assert.deepEqual(session([`--tls=${TLS12}`, 'r.rules']), { tls: TLS12, authUser: null, rulesFile: 'r.rules' });
    assert.deepEqual(session(['--tls', TLS12, 'r.rules']), { tls: TLS12, authUser: null, rulesFile: 'r.rules' });
    assert.deepEqual(session(['--auth-user', 'alice@example.com', 'r.rules']), { tls: TLS13, authUser: 'alice@example.com', rulesFile: 'r.rules' });
    assert.deepEqual(session(['--auth-user', 'alice', '--tls', TLS12, 'r.rules']), { tls: TLS12, authUser: 'alice', rulesFile: 'r.rules' });
    // After `--`, `--tls` is a file name.
    assert.deepEqual(session(['--', '--tls']), { tls: null, authUser: null, rulesFile: '--tls' });
  });

  test('test: mistakes are messages', () => {
    const msg = (argv: string[]): string => {
      const r = parseTestArgs(argv);
      return r.ok ? '' : r.error;
    };
    assert.match(msg([]), /missing RULES-FILE/);
    assert.match(msg(['--src', 'mx.example.net', 'r']), /--src must be an IPv4 or IPv6 address/);
    assert.match(msg(['--fcrdns', 'maybe', 'r']), /--fcrdns must be pass, fail or error/);
    assert.match(msg(['--helo', 'a b', 'r']), /--helo needs a value without spaces/);
    assert.match(msg(['--rcpt-to', 'a|b', 'r']), /--rcpt-to/);
    assert.match(msg(['--rdns', 'x', '--no-rdns', 'r']), /contradict/);
    assert.match(msg(['--record', 'x', 'r']), /record/);
    assert.match(msg(['--tls=TLSv1.3', 'r']), /--tls takes VERSION:CIPHER:BITS as smtpd reports it \(TLSv1\.3:TLS_AES_256_GCM_SHA384:256\), not "TLSv1\.3"/);
    assert.match(msg(['--tls=a:b:c', 'r']), /--tls takes VERSION:CIPHER:BITS/);
    assert.match(msg(['--tls=TLSv1.3:A|B:256', 'r']), /--tls takes VERSION:CIPHER:BITS/);
    // Not a TLS string: the next word stays the rules file, and a second one is one too many.
    assert.match(msg(['--tls', 'TLSv1.3', 'r']), /one RULES-FILE expected, got TLSv1\.3 r/);
    assert.match(msg(['--auth-user', 'a b', 'r']), /--auth-user needs a value without spaces or "\|"/);
    assert.match(msg(['--auth-user', '', 'r']), /--auth-user needs a value/);
  });

  test('replay: transcripts, --expect, --update-expect, --online', () => {
    assert.deepEqual(parseReplayArgs(['r.rules', 'a.txt', 'b.txt', '--expect', 'e.txt']), {
      ok: true,
      value: { kind: 'replay', rulesFile: 'r.rules', chain: null, transcripts: ['a.txt', 'b.txt'], expect: 'e.txt', updateExpect: false, online: false },
    });
    const u = parseReplayArgs(['--update-expect', '--expect', 'e.txt', '--online', 'r.rules', 'a.txt']);
    assert.ok(u.ok && u.value.updateExpect && u.value.online);
    assert.match(parseReplayArgs(['r.rules']).ok ? '' : (parseReplayArgs(['r.rules']) as { error: string }).error, /missing TRANSCRIPT/);
    const noFile = parseReplayArgs(['--update-expect', 'r.rules', 'a.txt']);
    assert.ok(!noFile.ok && /needs --expect/.test(noFile.error));
  });

  test('the CLI dispatches to the tools, and --record belongs to run mode', () => {
    const t = parseCliArgs(['test', '--offline', 'r.rules']);
    assert.ok(t.ok && t.value.kind === 'test');
    const r = parseCliArgs(['replay', 'r.rules', 't.txt']);
    assert.ok(r.ok && r.value.kind === 'replay');
    assert.deepEqual(parseCliArgs(['replay', '--help']), { ok: true, value: { kind: 'help' } });
    assert.deepEqual(parseCliArgs(['--record', '/var/log/filter-rules.rec', 'r.rules']), {
      ok: true,
      value: { kind: 'run', rulesFile: 'r.rules', chain: null, logLevel: 'info', record: '/var/log/filter-rules.rec' },
    });
    const check = parseCliArgs(['check', '--record', 'x', 'r.rules']);
    assert.ok(!check.ok && /not of check/.test(check.error));
    assert.ok(!parseCliArgs(['--record', '', 'r.rules']).ok);
  });
});
