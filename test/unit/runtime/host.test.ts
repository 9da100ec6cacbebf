import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StepOutcome } from '../../../src/model/runner.js';
import type { StepServices } from '../../../src/steps/service.js';
import {
  accept,
  chain,
  dataline,
  disconnect,
  fakePolicy,
  HostHarness,
  junk,
  line,
  pause,
  policy,
  reject,
  result,
  rules,
  settle,
  SID,
  SID2,
  TOKEN,
  testServices,
  when,
} from './helpers.js';

const id = (n: number) => (0x3689fe0000000000n + BigInt(n)).toString(16).padStart(16, '0');
const TEMPFAIL_451 = 'reject|451 4.3.0 Temporary failure, please try again later';

describe('host: handshake', () => {
  test('answers config|ready with registrations; data-line only when the rules need it', () => {
    const h = new HostHarness(rules([chain('main', [])]), { handshake: null });
    assert.deepEqual(h.feed('config|smtpd-version|6.8.0p2', 'config|subsystem|smtp-in'), [], 'nothing before config|ready');
    const out = h.feed('config|ready');
    assert.equal(out.at(-1), 'register|ready');
    assert.ok(out.includes('register|filter|smtp-in|connect'));
    assert.ok(!out.includes('register|filter|smtp-in|data-line'));
    const withData = new HostHarness(rules([chain('main', [])], true), { handshake: null });
    assert.ok(withData.feed('config|ready').includes('register|filter|smtp-in|data-line'));
  });

  test('logs smtpd version, protocol (from the first line on 6.8), registrations and the chain', () => {
    const h = new HostHarness(rules([chain('main', [{ action: pause(1000), phase: 'connect' }])]));
    const reg = h.log.records.find((r) => r.msg === 'registered with smtpd');
    assert.equal(reg?.fields.smtpdVersion, '6.8.0p2');
    assert.equal(reg?.fields.chain, 'main');
    assert.deepEqual(reg?.fields.steps, ['#0 pause at connect (/etc/mail/test.rules:2)']);
    h.feed(line.connect());
    assert.equal(h.log.records.find((r) => r.msg === 'protocol version')?.fields.protocol, '0.6');
    assert.equal(h.host.stats().protocol, '0.6');
  });

  test('7.6+: the protocol comes from config|protocol', () => {
    const h = new HostHarness(rules([chain('main', [])]), {
      handshake: ['config|smtpd-version|7.6.0', 'config|protocol|0.7', 'config|subsystem|smtp-in', 'config|ready'],
    });
    assert.equal(h.host.stats().protocol, '0.7');
  });

  test('a request before the handshake finished is not answered (that would be fatal)', () => {
    const h = new HostHarness(rules([chain('main', [])]), { handshake: null });
    assert.deepEqual(h.feed(line.request('connect', 'localhost|127.0.0.1')), []);
  });
});

describe('host: decisions', () => {
  test('phases without steps, and phases rules never use, proceed at once', () => {
    const h = new HostHarness(rules([chain('main', [{ action: reject('550 5.7.1 no'), phase: 'rcpt-to', when: when.rcpt('deny@x') }])]));
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('connect', 'localhost|127.0.0.1')), [result('connect', 'proceed')]);
    assert.deepEqual(h.feed(line.request('ehlo', 'x')), [result('ehlo', 'proceed')]);
    assert.deepEqual(h.feed(`filter|0.6|1|smtp-in|rset|${SID}|1a9c37fc5c0df599|`), [`filter-result|${SID}|1a9c37fc5c0df599|proceed`]);
    assert.deepEqual(h.feed(line.request('rcpt-to', 'deny@x')), [result('rcpt-to', 'reject|550 5.7.1 no')]);
  });

  test('reject at connect is sent as disconnect', () => {
    const h = new HostHarness(rules([chain('main', [{ action: reject('554 5.7.1 go away'), phase: 'connect' }])]));
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('connect', 'localhost|127.0.0.1')), [result('connect', 'disconnect|554 5.7.1 go away')]);
    const logged = h.log.records.find((r) => r.msg === 'decision');
    assert.equal(logged?.fields.decision, 'disconnect');
    assert.equal(logged?.fields.note, 'reject at connect sent as disconnect');
  });

  test('junk at commit is never sent: proceed and a log line', () => {
    const h = new HostHarness(rules([chain('main', [{ action: junk, phase: 'commit' }])]));
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('commit')), [result('commit', 'proceed')]);
    assert.ok(h.log.records.some((r) => r.fields.note === 'junk is impossible at commit; proceeded instead'));
  });

  test('one log line per decision that is not a plain proceed: session, phase, client, rule, decision, ms', () => {
    const h = new HostHarness(
      rules([chain('main', [{ action: reject('550 5.7.1 bare IP'), phase: 'helo', when: when.helo('[192.0.2.1]') }])]),
    );
    h.feed(line.connect(SID, '127.0.0.6:4000'));
    h.feed(line.request('ehlo', 'fine.example'));
    h.feed(line.request('ehlo', '[192.0.2.1]'));
    const decisions = h.log.records.filter((r) => r.msg === 'decision');
    assert.equal(decisions.length, 1);
    const f = decisions[0]?.fields ?? {};
    assert.equal(f.session, SID);
    assert.equal(f.phase, 'ehlo');
    assert.equal(f.client, '127.0.0.6:4000');
    assert.equal(f.rule, '/etc/mail/test.rules:2');
    assert.equal(f.decision, 'reject');
    assert.equal(f.reply, '550 5.7.1 bare IP');
    assert.equal(typeof f.ms, 'number');
  });
});

describe('host: accept scopes', () => {
  const steps = [
    { action: accept, phase: 'connect' as const, when: when.src('127.0.0.5') },
    { action: accept, phase: 'mail-from' as const, when: when.mailFrom('friend@example.net') },
    { action: accept, phase: 'rcpt-to' as const, when: when.rcpt('postmaster@localhost') },
    { action: reject('550 5.7.1 no helo'), phase: 'helo' as const, when: when.helo('bad') },
    { action: reject('550 5.7.1 no rcpt'), phase: 'rcpt-to' as const },
    { action: reject('451 4.7.1 no data'), phase: 'data' as const },
  ];

  test('accept at connect covers the whole session', () => {
    const h = new HostHarness(rules([chain('main', steps)]));
    h.feed(line.connect(SID, '127.0.0.5:1000'));
    assert.deepEqual(h.feed(line.request('connect', 'localhost|127.0.0.5')), [result('connect', 'proceed')]);
    assert.deepEqual(h.feed(line.request('ehlo', 'bad')), [result('ehlo', 'proceed')]);
    assert.deepEqual(h.feed(line.request('rcpt-to', 'x@localhost')), [result('rcpt-to', 'proceed')]);
    assert.deepEqual(h.feed(line.request('data')), [result('data', 'proceed')]);
    assert.equal(h.log.records.filter((r) => r.fields.decision === 'accept').length, 1, 'one line for the accept itself');
  });

  test('accept at mail-from covers that transaction only (until tx-reset / the next MAIL FROM)', () => {
    const h = new HostHarness(rules([chain('main', steps)]));
    h.feed(line.connect());
    h.feed(line.request('mail-from', 'friend@example.net'));
    assert.deepEqual(h.feed(line.request('rcpt-to', 'x@localhost')), [result('rcpt-to', 'proceed')]);
    assert.deepEqual(h.feed(line.request('data')), [result('data', 'proceed')]);
    h.feed(line.report('tx-reset', SID, '89fe53ce'));
    h.feed(line.request('mail-from', 'stranger@example.net'));
    assert.deepEqual(h.feed(line.request('rcpt-to', 'x@localhost')), [result('rcpt-to', 'reject|550 5.7.1 no rcpt')]);
    // And a new MAIL FROM without a tx-reset in between ends the scope too.
    h.feed(line.request('mail-from', 'friend@example.net'));
    h.feed(line.request('mail-from', 'stranger@example.net'));
    assert.deepEqual(h.feed(line.request('rcpt-to', 'x@localhost')), [result('rcpt-to', 'reject|550 5.7.1 no rcpt')]);
  });

  test('accept at rcpt-to covers that recipient only', () => {
    const h = new HostHarness(rules([chain('main', steps)]));
    h.feed(line.connect());
    h.feed(line.request('mail-from', 'stranger@example.net'));
    assert.deepEqual(h.feed(line.request('rcpt-to', 'postmaster@localhost')), [result('rcpt-to', 'proceed')]);
    assert.deepEqual(h.feed(line.request('rcpt-to', 'x@localhost')), [result('rcpt-to', 'reject|550 5.7.1 no rcpt')]);
    assert.deepEqual(h.feed(line.request('data')), [result('data', 'reject|451 4.7.1 no data')]);
  });
});

describe('host: pause', () => {
  test('the connect answer waits for the pause; other sessions are not held up', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: pause(3000), phase: 'connect', when: when.src('192.0.2.9') }])]));
    h.feed(line.connect(SID, '192.0.2.9:1000'), line.connect(SID2, '192.0.2.10:1000'));
    assert.deepEqual(h.feed(line.request('connect', 'x|192.0.2.9', SID)), []);
    assert.deepEqual(h.feed(line.request('connect', 'x|192.0.2.10', SID2)), [result('connect', 'proceed', SID2)]);
    assert.deepEqual(await h.advance(2999), []);
    assert.deepEqual(await h.advance(1), [result('connect', 'proceed', SID)]);
    assert.deepEqual(await h.advance(60_000), [], 'exactly one answer');
  });

  test('10,000 paused sessions at once, each released on time', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: pause(3000), phase: 'connect' }])]));
    const N = 10_000;
    const connectedAt = new Map<string, number>();
    // Sessions arrive over one second (10 per ms); every one is paused at the same time.
    for (let i = 0; i < N; i++) {
      if (i > 0 && i % 10 === 0) h.clock.advance(1);
      h.feed(line.connect(id(i), `192.0.2.${i % 250}:${1000 + (i % 5000)}`));
      assert.deepEqual(h.feed(line.request('connect', `x|192.0.2.${i % 250}`, id(i))), []);
      connectedAt.set(id(i), h.clock.monotonic());
    }
    assert.equal(h.host.stats().pending, N);
    const answeredAt = new Map<string, number>();
    for (let t = 0; t <= 4100; t++) {
      for (const out of await h.advance(1)) {
        const sid = out.split('|')[1] as string;
        assert.equal(answeredAt.has(sid), false, `second answer for ${sid}`);
        answeredAt.set(sid, h.clock.monotonic());
        assert.equal(out, result('connect', 'proceed', sid));
      }
    }
    assert.equal(answeredAt.size, N);
    for (const [sid, at] of connectedAt) assert.equal(answeredAt.get(sid), at + 3000, sid);
    assert.equal(h.host.stats().pending, 0);
  });

  test('a disconnect during the pause: no answer ever, timers gone', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: pause(3000), phase: 'connect' }])]));
    const idle = h.host.stats().timers;
    h.feed(line.connect());
    h.feed(line.request('connect', 'localhost|127.0.0.1'));
    assert.ok(h.host.stats().timers > idle);
    await h.advance(1000);
    h.feed(line.disconnect());
    await settle();
    assert.deepEqual(await h.advance(10_000), []);
    assert.equal(h.host.stats().pending, 0);
    assert.equal(h.host.stats().timers, idle, 'pause, step deadline and watchdog timers are all cancelled');
  });

  test('session id reused after a disconnect mid-pause: only the new session is answered', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: pause(3000), phase: 'connect' }])]));
    h.feed(line.connect());
    h.feed(line.request('connect', 'localhost|127.0.0.1'));
    await h.advance(2000);
    h.feed(line.disconnect());
    h.feed(line.connect());
    h.feed(line.request('connect', 'localhost|127.0.0.1'));
    assert.deepEqual(await h.advance(1000), [], 'the first session’s pause would have ended here');
    assert.deepEqual(await h.advance(2000), [result('connect', 'proceed')]);
  });
});

describe('host: faults never become 5xx or silence', () => {
  test('a policy step with no implementation answers per on-error, with a log', () => {
    const h = new HostHarness(
      rules([chain('main', [{ action: policy(), phase: 'rcpt-to' }, { action: policy(), phase: 'mail-from', onError: 'proceed' }])]),
    );
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('mail-from', 'a@x')), [result('mail-from', 'proceed')]);
    assert.deepEqual(h.feed(line.request('rcpt-to', 'b@x')), [result('rcpt-to', TEMPFAIL_451)]);
    assert.ok(h.log.records.some((r) => r.level === 'error' && /policy steps are not available/.test(r.msg ?? '')));
  });

  test('a policy server that never answers: the step deadline answers the tempfail', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: policy(2000), phase: 'rcpt-to' }])]), {
      services: fakePolicy(() => new Promise<StepOutcome>(() => {})),
    });
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('rcpt-to', 'b@x')), []);
    assert.deepEqual(await h.advance(2999), []);
    assert.deepEqual(await h.advance(1), [result('rcpt-to', TEMPFAIL_451)]);
    assert.deepEqual(await h.advance(60_000), []);
    assert.ok(h.log.records.some((r) => r.msg === 'step failed' && r.fields.timedOut === true));
  });

  test('an invalid decision from a step becomes the fallback, never an invalid line', () => {
    const h = new HostHarness(rules([chain('main', [{ action: policy(), phase: 'rcpt-to' }])]), {
      services: fakePolicy(() => ({ type: 'decide', decision: { type: 'reject', reply: '250 this is not a refusal' } })),
    });
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('rcpt-to', 'b@x')), [result('rcpt-to', TEMPFAIL_451)]);
  });

  test('a connect request for a session never seen connecting is judged on the request; later phases of unknown ones tempfail', () => {
    const h = new HostHarness(rules([chain('main', [{ action: disconnect('421 4.7.0 not you'), phase: 'connect', when: when.src('192.0.2.66') }, { action: reject('550 5.7.1 no'), phase: 'helo' }])]));
    assert.deepEqual(h.feed(line.request('connect', '<unknown>|192.0.2.66')), [result('connect', 'disconnect|421 4.7.0 not you')]);
    assert.deepEqual(h.feed(line.request('helo', 'x', SID2)), [result('helo', TEMPFAIL_451, SID2)]);
    assert.equal(h.log.records.filter((r) => /link-connect was not seen|unknown session/.test(r.msg ?? '')).length, 2);
  });

  test('garbage, truncated, invalid UTF-8 and multi-megabyte lines are logged and survived', () => {
    const h = new HostHarness(rules([chain('main', [])]), { limits: { maxLineBytes: 100_000 } });
    h.feed('garbage', '', 'report|0.6', 'filter|0.6|1|smtp-in|connect|nothex|1a9c37f7cd0c06a5|x', 'config|ready');
    h.feedBytes(Buffer.concat([Buffer.from('report|0.6|1|smtp-in|link-connect|'), Buffer.from([0xff, 0xfe, 0x0a])]));
    h.feedBytes(Buffer.concat([Buffer.alloc(5 * 1024 * 1024, 0x7c), Buffer.from('\n')]));
    h.feed('hello|world');
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('connect', 'localhost|127.0.0.1')), [result('connect', 'proceed')]);
    assert.ok(h.log.records.some((r) => r.msg === 'malformed input line ignored'));
    assert.ok(h.log.records.some((r) => r.msg === 'input line too long; dropped'));
    assert.ok(h.log.records.some((r) => r.msg === 'unknown input line ignored'));
    for (const r of h.log.records) assert.ok(JSON.stringify(r.fields).length < 2000, 'no huge line is logged whole');
  });

  test('a flood of garbage is rate-limited in the log', () => {
    const h = new HostHarness(rules([chain('main', [])]));
    for (let i = 0; i < 1000; i++) h.feed(`garbage ${i}`);
    const warned = h.log.records.filter((r) => r.msg === 'malformed input line ignored').length;
    assert.ok(warned <= 20, `${warned} warnings`);
  });
});

describe('host: data-line', () => {
  const addHeader = fakePolicy(() => ({ type: 'continue', addHeaders: ['X-Greylist: delayed 300 seconds by test'] }));

  test('headers from steps go first, every line is echoed as received, the final dot once', () => {
    const h = new HostHarness(rules([chain('main', [{ action: policy(), phase: 'rcpt-to' }])], true), { services: addHeader });
    h.feed(line.connect());
    h.feed(line.request('mail-from', 'a@x'));
    assert.deepEqual(h.feed(line.request('rcpt-to', 'b@x')), [result('rcpt-to', 'proceed')]);
    h.feed(line.request('data'));
    assert.deepEqual(h.feed(line.request('data-line', 'Received: from x')), [
      dataline('X-Greylist: delayed 300 seconds by test'),
      dataline('Received: from x'),
    ]);
    assert.deepEqual(h.feed(line.request('data-line', '..leading dot')), [dataline('..leading dot')]);
    assert.deepEqual(h.feed(line.request('data-line', 'with|pipes|inside')), [dataline('with|pipes|inside')]);
    assert.deepEqual(h.feed(line.request('data-line', '')), [dataline('')]);
    assert.deepEqual(h.feed(line.request('data-line', '.')), [dataline('.')]);
    // The next message of the session gets no header (it was for that transaction).
    h.feed(line.report('tx-reset', SID, '89fe53ce'));
    h.feed(line.request('mail-from', 'a@x'));
    h.feed(line.request('data'));
    assert.deepEqual(h.feed(line.request('data-line', 'Received: from x')), [dataline('Received: from x')]);
  });

  test('every header a step adds goes through the one sanitiser: controls become spaces, a non-header is dropped, logged', () => {
    const raw = fakePolicy(() => ({ type: 'continue', addHeaders: ['X-Raw: a\x0bb\x0cc\x1bd\re\nf\x00g', 'not a header', `X-Long: ${'y'.repeat(2000)}`] }));
    const h = new HostHarness(rules([chain('main', [{ action: policy(), phase: 'rcpt-to' }])], true), { services: raw });
    h.feed(line.connect());
    h.feed(line.request('mail-from', 'a@x'));
    h.feed(line.request('rcpt-to', 'b@x'));
    h.feed(line.request('data'));
    const out = h.feed(line.request('data-line', 'Received: from x'));
    assert.deepEqual(out.slice(0, 1), [dataline('X-Raw: a b c d e f g')]);
    assert.equal(out.length, 3);
    assert.equal(out[1], dataline(`X-Long: ${'y'.repeat(990)}`), 'cut to 998 octets');
    assert.equal(out[2], dataline('Received: from x'));
    assert.ok(h.log.records.some((r) => r.level === 'error' && r.msg === 'header line dropped'));
    assert.ok(h.log.records.some((r) => r.level === 'warn' && r.msg === 'header line sanitised'));
  });

  test('8-bit lines that are not UTF-8 are echoed byte for byte', () => {
    const h = new HostHarness(rules([chain('main', [])], true));
    h.feed(line.connect());
    const body = Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0x20, 0xe9, 0x74, 0xe9]);
    const prefix = `filter|0.6|1|smtp-in|data-line|${SID}|${TOKEN['data-line']}|`;
    const before = h.raw.length;
    h.feedBytes(Buffer.concat([Buffer.from(prefix), body, Buffer.from('\n')]));
    const written = Buffer.concat(h.raw.slice(before));
    assert.deepEqual(written, Buffer.concat([Buffer.from(`filter-dataline|${SID}|${TOKEN['data-line']}|`), body, Buffer.from('\n')]));
  });

  test('without data-line registered, a header cannot be added: the step still works, a log says why', () => {
    const h = new HostHarness(rules([chain('main', [{ action: policy(), phase: 'rcpt-to' }])], false), { services: addHeader });
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('rcpt-to', 'b@x')), [result('rcpt-to', 'proceed')]);
    assert.ok(h.log.records.some((r) => /cannot add headers: data-line was not registered/.test(r.msg ?? '')));
  });

  test('a disconnect mid-stream drops the stream silently', () => {
    const h = new HostHarness(rules([chain('main', [])], true));
    h.feed(line.connect());
    h.feed(line.request('data-line', 'Received: from x'));
    assert.deepEqual(h.feed(line.disconnect()), []);
    assert.equal(h.host.stats().sessions, 0);
  });
});

describe('host: early talkers', () => {
  test('smtpd refusing a pipelining client, then link-disconnect: one log line with the address and the pause', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: pause(1000), phase: 'connect' }])]));
    h.feed(line.connect(SID, '127.0.0.7:40000'));
    h.feed(line.request('connect', 'localhost|127.0.0.7'));
    await h.advance(1000);
    h.feed(
      line.report('protocol-server', SID, '220 vm ESMTP OpenSMTPD'),
      line.report('protocol-server', SID, '500 5.5.1 Invalid command: Pipelining not supported'),
      line.disconnect(),
    );
    const talkers = h.log.records.filter((r) => r.msg === 'early talker dropped by smtpd');
    assert.equal(talkers.length, 1);
    assert.equal(talkers[0]?.fields.client, '127.0.0.7:40000');
    assert.equal(talkers[0]?.fields.paused, true);
    assert.equal(talkers[0]?.fields.session, SID);
  });

  test('an ordinary session end is not an early talker', () => {
    const h = new HostHarness(rules([chain('main', [])]));
    h.feed(line.connect(), line.report('protocol-server', SID, '221 2.0.0 Bye'), line.disconnect());
    assert.equal(h.log.records.filter((r) => r.msg === 'early talker dropped by smtpd').length, 0);
  });
});

describe('host: reload and shutdown', () => {
  test('swapRules changes new sessions only; running sessions keep their rules', () => {
    const h = new HostHarness(rules([chain('main', [])]));
    h.feed(line.connect(SID));
    const swapped = h.host.swapRules(rules([chain('main', [{ action: reject('550 5.7.1 new rules'), phase: 'helo' }])]));
    assert.deepEqual(swapped, { ok: true, value: { generation: 2, chain: 'main' } });
    h.feed(line.connect(SID2));
    assert.deepEqual(h.feed(line.request('helo', 'x', SID)), [result('helo', 'proceed', SID)]);
    assert.deepEqual(h.feed(line.request('helo', 'x', SID2)), [result('helo', 'reject|550 5.7.1 new rules', SID2)]);
  });

  test('rules without the running chain are refused, and nothing changes', () => {
    const h = new HostHarness(rules([chain('inbound', [])]));
    const swapped = h.host.swapRules(rules([chain('outbound', [{ action: junk, phase: 'helo' }])]));
    assert.equal(swapped.ok, false);
    assert.match(swapped.ok ? '' : swapped.error, /no chain named "inbound"/);
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('helo', 'x')), [result('helo', 'proceed')]);
    assert.equal(h.host.stats().generation, 1);
  });

  test('stdin EOF: pending work is dropped unanswered, timers cleared, later input ignored, services closed', async () => {
    let closed = 0;
    const h = new HostHarness(rules([chain('main', [{ action: pause(3000), phase: 'connect' }])]), {
      services: { ...testServices(), close: async () => void closed++ },
    });
    h.feed(line.connect());
    h.feed(line.request('connect', 'localhost|127.0.0.1'));
    await h.host.end();
    assert.equal(h.host.stats().timers, 0);
    assert.equal(h.host.stats().pending, 0);
    assert.equal(h.clock.pending(), 0);
    assert.deepEqual(await h.advance(5000), []);
    assert.deepEqual(h.feed(line.request('helo', 'x')), []);
    assert.equal(closed, 1);
  });

  test('services given without a kind the chain uses: the host does not start, and says which kind', () => {
    const { policy: _dropped, ...withoutPolicy } = testServices();
    const services = withoutPolicy as unknown as StepServices;
    const used = rules([chain('main', [{ action: policy(), phase: 'rcpt-to' }])]);
    assert.throws(() => new HostHarness(used, { services }), /no service for step kind policy/);
    // A chain that does not use the kind starts.
    assert.ok(new HostHarness(rules([chain('main', [{ action: pause(10), phase: 'connect' }])]), { services }));
  });

  test('several chains: the host needs a name, and runs that one', () => {
    const two = rules([chain('inbound', [{ action: junk, phase: 'helo' }]), chain('submission', [])]);
    assert.throws(() => new HostHarness(two), /2 chains/);
    const h = new HostHarness(two, { chain: 'inbound' });
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('helo', 'x')), [result('helo', 'junk')]);
  });
});
