/**
 * Hostile values inside well-formed lines (issue 6): HELO names, addresses,
 * rDNS names and message lines with `|`, CR, NUL, invalid UTF-8 and 64 KB
 * lengths; a session id reused after (and without) a disconnect; a
 * disconnect in the middle of a message; requests for sessions never
 * connected; 100,000 connects without a disconnect (memory stays bounded);
 * and a backtracking pattern against a long hostile HELO, through the host.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FilterHost } from '../../../src/runtime/host.js';
import { FakeClock } from '../../../src/support/clock.js';
import { HANDSHAKE_68, HOSTILE_BYTES, type Action } from './corpus.js';
import { compileText, CountingLogger, runConversation, settle, type RuleSet } from './harness.js';

const RULES: RuleSet = {
  name: 'hostile',
  microtaskAsync: false,
  buggy: false,
  rules: compileText(`
chain main =
    pause 1s
    then reject "550 5.7.1 nested quantifier matched" when helo ~ /^(a+)+$/
    then reject "550 5.7.1 pipe in HELO" when helo ~ /[|]/
    then disconnect "421 4.7.0 bulk" when mail-from ~ /^bulk@/
    then reject "550 5.1.1 no|such user" when rcpt-to ~ /^(nobody|x)\\|?/
    then junk when rdns ~ /(dsl|pool)[.-]/
    then policy unix:/run/none.sock timeout 1s on-error proceed
`),
};

const TOK = {
  connect: '1a9c37f7cd0c06a5',
  helo: '1a9c37f824320cc1',
  ehlo: '1a9c37f9d78d35b9',
  mail: '1a9c37fc5c0df525',
  rcpt: '1a9c37fdc8eee799',
  data: '1a9c37feaba716e8',
  line: '1a9c37ffd8d15f2f',
  commit: '1a9c3800f98076e9',
};

type Part = string | Buffer;
const join = (...parts: Part[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));

/** One complete session as smtpd 6.8 would send it, with `v` in the client-controlled places. */
function session(sid: string, v: { helo?: Part; from?: Part; rcpt?: Part; rdns?: Part; body?: readonly Part[] } = {}): Buffer[] {
  const r = (event: string, ...params: Part[]): Buffer =>
    join(`report|0.6|1795635326.076777|smtp-in|${event}|${sid}`, ...params.flatMap((p) => ['|', p]));
  const f = (phase: string, token: string, param: Part): Buffer => join(`filter|0.6|1795635326.076808|smtp-in|${phase}|${sid}|${token}|`, param);
  const body = v.body ?? ['Subject: x', '', 'hello'];
  return [
    r('link-connect', v.rdns ?? 'localhost', 'pass', '127.0.0.1:60192', '127.0.0.1:2540'),
    f('connect', TOK.connect, join(v.rdns ?? 'localhost', '|127.0.0.1')),
    r('protocol-client', join('EHLO ', v.helo ?? 'mx.example.net')),
    f('ehlo', TOK.ehlo, v.helo ?? 'mx.example.net'),
    r('link-identify', 'EHLO', v.helo ?? 'mx.example.net'),
    f('mail-from', TOK.mail, v.from ?? 'alice@example.net'),
    r('tx-begin', '89fe53ce'),
    r('tx-mail', '89fe53ce', 'ok', v.from ?? 'alice@example.net'),
    f('rcpt-to', TOK.rcpt, v.rcpt ?? 'mailtest@localhost'),
    r('tx-rcpt', '89fe53ce', 'ok', v.rcpt ?? 'mailtest@localhost'),
    f('data', TOK.data, ''),
    ...body.map((l) => f('data-line', TOK.line, l)),
    f('data-line', TOK.line, '.'),
    f('commit', TOK.commit, ''),
    r('tx-commit', '89fe53ce', '560'),
    r('tx-reset', '89fe53ce'),
    r('link-disconnect'),
  ];
}

/** Lines → actions, one line per feed, with a clock advance after every line (pauses end). */
function actions(lines: readonly Buffer[], advanceMs = 1500): Action[] {
  const out: Action[] = [];
  for (const l of [...HANDSHAKE_68.map((h) => Buffer.from(h)), ...lines]) {
    out.push({ kind: 'bytes', data: Buffer.concat([l, Buffer.from('\n')]) });
    if (advanceMs > 0) out.push({ kind: 'advance', ms: advanceMs });
  }
  return out;
}

async function run(lines: readonly Buffer[], advanceMs?: number) {
  const r = await runConversation(RULES, actions(lines, advanceMs), { oracle: true });
  assert.ok(r.oracle !== null);
  assert.deepEqual(r.oracle.violations, [], 'protocol violations');
  assert.equal(r.unterminated, '');
  const internal = r.log.errors.filter((e) => /internal error/.test(e.msg));
  assert.deepEqual(internal, [], 'internal errors');
  return r;
}

const results = (out: readonly string[], sid: string, token: string): string[] =>
  out.filter((l) => l.startsWith(`filter-result|${sid}|${token}|`)).map((l) => l.split('|').slice(3).join('|'));

const SID = '3689fe601e5436b4';
const SID2 = '3689fe69138f0c10';

describe('hostile values inside well-formed lines', () => {
  const values: [string, Part][] = [
    ['pipes', 'a|b||c|'],
    ['CR', 'mx.example.net\r'],
    ['CR inside', 'a\rb'],
    ['NUL', join('a', Buffer.from([0]), 'b')],
    ['invalid UTF-8', join('caf', Buffer.from([0xe9]), '.example')],
    ['lone continuation bytes', Buffer.from([0x80, 0x80, 0xbf])],
    ['64 KB', 'h'.repeat(64 * 1024)],
    ['64 KB with pipes', '|'.repeat(64 * 1024)],
    ['a forged answer', `x|filter-result|${SID}|${TOK.ehlo}|proceed`],
    ['a forged protocol line after LF-less CR', 'x\rfilter-result|0000000000000000|0000000000000000|proceed'],
    ...HOSTILE_BYTES.map((b, i): [string, Part] => [`bytes #${i}`, b]),
  ];

  for (const [name, v] of values) {
    test(`${name} in HELO, addresses, rDNS and message lines: one valid answer each, lines echoed byte for byte`, async () => {
      const r = await run(session(SID, { helo: v, from: v, rcpt: v, rdns: v, body: [v, join('.', v), 'tail'] }));
      for (const token of Object.values(TOK)) {
        if (token === TOK.line || token === TOK.helo) continue;
        assert.equal(results(r.output, SID, token).length, 1, `one answer for ${token}`);
      }
      const echoed = r.output
        .filter((l) => l.startsWith(`filter-dataline|${SID}|`))
        .map((l) => l.slice(`filter-dataline|${SID}|${TOK.line}|`.length))
        // The stand-in policy server sometimes asks for a header: it comes first.
        .filter((l) => !l.startsWith('X-Greylist:'));
      const raw = (typeof v === 'string' ? Buffer.from(v, 'utf8') : v).toString('latin1');
      if (raw.includes('\0')) {
        // smtpd never sends NUL (C strings): such a line is dropped, never half-sent.
        assert.deepEqual(echoed, ['tail', '.']);
      } else {
        assert.deepEqual(echoed, [raw, `.${raw}`, 'tail', '.']);
      }
    });
  }

  test('a `|` inside an address is data: the rule sees the whole address', async () => {
    const r = await run(session(SID, { rcpt: 'nobody|x@localhost' }));
    assert.deepEqual(results(r.output, SID, TOK.rcpt), ['reject|550 5.1.1 no|such user']);
  });

  test('a pattern with nested quantifiers against a 64 KB hostile HELO answers in milliseconds, through the host', async () => {
    for (const helo of ['a'.repeat(65_000), `${'a'.repeat(65_000)}!`, `${'a'.repeat(30_000)}b${'a'.repeat(30_000)}`]) {
      const clock = new FakeClock();
      const out: string[] = [];
      const created = FilterHost.create({
        rules: compileText('chain main = reject "550 5.7.1 no" when helo ~ /^(a+)+$/ or helo ~ /^(a|aa)*c$/ or helo ~ /(x+x+)+y/'),
        chain: null,
        clock,
        schedule: (fn) => fn(),
        output: { write: (c) => (out.push(String(c)), true), once: () => undefined },
      });
      assert.ok(created.ok);
      const host = created.value;
      host.feed(Buffer.from(`${HANDSHAKE_68.join('\n')}\n`));
      // A known session: an unknown one would be tempfailed without running the rules.
      host.feed(Buffer.from(`report|0.6|1|smtp-in|link-connect|${SID}|localhost|pass|127.0.0.1:60192|127.0.0.1:2540\n`));
      const started = performance.now();
      host.feed(Buffer.from(`filter|0.6|1|smtp-in|ehlo|${SID}|${TOK.ehlo}|${helo}\n`));
      const ms = performance.now() - started;
      const answer = out.join('').split('\n').filter((l) => l.startsWith('filter-result'));
      assert.deepEqual(answer, [`filter-result|${SID}|${TOK.ehlo}|${/^a+$/.test(helo) ? 'reject|550 5.7.1 no' : 'proceed'}`]);
      // A backtracking engine needs longer than the age of the universe here; RE2 needs a few ms.
      assert.ok(ms < 250, `answered in ${ms.toFixed(1)} ms`);
    }
  });
});

describe('sessions smtpd might confuse us with', () => {
  test('a session id reused after its disconnect starts clean (new facts, new answers)', async () => {
    const lines = [...session(SID, { from: 'bulk@spam.example' }), ...session(SID, { from: 'alice@example.net' })];
    const r = await run(lines);
    assert.deepEqual(results(r.output, SID, TOK.mail), ['disconnect|421 4.7.0 bulk', 'proceed']);
  });

  test('a session id reused WITHOUT a disconnect, while a request is open: the stale one is never answered', async () => {
    // link-connect + connect (paused 1 s), and without any time passing, the id again from the start.
    const hs = HANDSHAKE_68.map((h) => Buffer.from(h));
    const feed = (l: Buffer): Action => ({ kind: 'bytes', data: Buffer.concat([l, Buffer.from('\n')]) });
    const acts: Action[] = [...hs, ...session(SID).slice(0, 2)].map(feed);
    for (const l of session(SID)) acts.push(feed(l), { kind: 'advance', ms: 1500 });
    const r = await runConversation(RULES, acts, { oracle: true });
    assert.deepEqual(r.oracle?.violations, []);
    assert.equal(results(r.output, SID, TOK.connect).length, 1, 'only the new connect is answered');
    assert.equal(results(r.output, SID, TOK.commit).length, 1);
  });

  test('link-disconnect in the middle of a message: no answer for the rest, and the next session streams cleanly', async () => {
    const s1 = session(SID, { body: ['Subject: one', '', 'line 1', 'line 2'] });
    const cut = s1.findIndex((l) => l.toString('latin1').endsWith('|line 1'));
    const lines = [...s1.slice(0, cut + 1), Buffer.from(`report|0.6|1|smtp-in|link-disconnect|${SID}`), ...session(SID2), ...session(SID)];
    const r = await run(lines);
    const echoedS1 = r.output.filter((l) => l.startsWith(`filter-dataline|${SID}|`));
    // First session: Subject, blank, line 1; then the reused id streams its own message in full.
    assert.deepEqual(echoedS1.map((l) => l.split('|').slice(3).join('|')), ['Subject: one', '', 'line 1', 'Subject: x', '', 'hello', '.']);
    assert.equal(results(r.output, SID, TOK.commit).length, 1, 'only the second message is committed');
    assert.equal(results(r.output, SID2, TOK.commit).length, 1);
  });

  test('a session never seen in link-connect is judged from its connect request on', async () => {
    const lines = session(SID, { helo: 'aaaa' }).filter((l) => !l.toString('latin1').includes('|link-connect|'));
    const r = await run(lines);
    assert.deepEqual(results(r.output, SID, TOK.ehlo), ['reject|550 5.7.1 nested quantifier matched']);
    assert.equal(r.log.counts.get('connect request for a session whose link-connect was not seen; judged on the request'), 1);
  });

  test('requests of a session never connected at all are tempfailed, not judged without its facts', async () => {
    const lines = session(SID, { helo: 'aaaa' }).filter((l) => !/\|link-connect\||\|connect\|/.test(l.toString('latin1')));
    const r = await run(lines);
    const tempfail = 'reject|451 4.3.0 Temporary failure, please try again later';
    for (const token of [TOK.ehlo, TOK.mail, TOK.rcpt]) assert.deepEqual(results(r.output, SID, token), [tempfail], token);
    // No step runs at data or commit in these rules: nothing missing could change their answers.
    assert.deepEqual(results(r.output, SID, TOK.data), ['proceed']);
    assert.deepEqual(results(r.output, SID, TOK.commit), ['proceed']);
    // Its message lines are still echoed (smtpd would only send them after a 354, but never swallow one).
    assert.ok(r.output.includes(`filter-dataline|${SID}|${TOK.line}|.`));
    assert.ok((r.log.counts.get('request for an unknown session (evicted from a full session table, or never seen connecting); answered with a tempfail, no rule ran') ?? 0) >= 1);
  });

  test('a disconnect for a session never connected, and reports before any connect, change nothing', async () => {
    const lines = [
      Buffer.from(`report|0.6|1|smtp-in|link-disconnect|${SID2}`),
      Buffer.from(`report|0.6|1|smtp-in|tx-mail|${SID2}|89fe53ce|ok|x@y`),
      Buffer.from(`report|0.6|1|smtp-in|link-identify|${SID2}|EHLO|x`),
      ...session(SID),
    ];
    await run(lines);
  });
});

function gcFunction(): () => void {
  setFlagsFromString('--expose_gc');
  return runInNewContext('gc') as () => void;
}

interface Flood {
  readonly host: FilterHost;
  readonly clock: FakeClock;
  readonly log: CountingLogger;
  answers: number;
}

function floodHost(rulesText: string): Flood {
  const clock = new FakeClock();
  const log = new CountingLogger();
  const flood = { clock, log, answers: 0 } as Flood;
  const created = FilterHost.create({
    rules: compileText(rulesText),
    chain: null,
    clock,
    log,
    output: {
      write: (c) => {
        const s = String(c);
        for (let i = s.indexOf('filter-result|'); i >= 0; i = s.indexOf('filter-result|', i + 1)) flood.answers++;
        return true;
      },
      once: () => undefined,
    },
    schedule: (fn) => fn(),
  });
  assert.ok(created.ok);
  Object.assign(flood, { host: created.value });
  flood.host.feed(Buffer.from(`${HANDSHAKE_68.join('\n')}\n`));
  return flood;
}

/** `n` sessions connecting (link-connect + connect request), none disconnecting. */
function connect(host: FilterHost, from: number, n: number): void {
  const BATCH = 1000;
  for (let b = from; b < from + n; b += BATCH) {
    const lines: string[] = [];
    for (let i = b; i < Math.min(b + BATCH, from + n); i++) {
      const sid = (0x5000000000000000n + BigInt(i)).toString(16);
      const ip = `198.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      lines.push(
        `report|0.6|1795635326.076777|smtp-in|link-connect|${sid}|<unknown>|fail|${ip}:4${i % 10000}|127.0.0.1:25`,
        `filter|0.6|1795635326.076808|smtp-in|connect|${sid}|${TOK.connect}|<unknown>|${ip}`,
      );
    }
    host.feed(Buffer.from(`${lines.join('\n')}\n`));
  }
}

describe('a flood of connects without disconnects', () => {
  test('100,000 sessions that never disconnect: all answered, the table capped at 50,000, memory bounded', { timeout: 120_000 }, async (t) => {
    const gc = gcFunction();
    const f = floodHost('list trusted = { 10.0.0.0/8 }\nchain main = accept when src in trusted then junk when rdns ~ /(dsl|pool)[.-]/ then reject "550 5.7.1 no" at helo when helo ~ /^x/');
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const rss0 = process.memoryUsage().rss;
    connect(f.host, 0, 100_000);
    assert.equal(f.answers, 100_000, 'every connect answered');
    const stats = f.host.stats();
    assert.equal(stats.sessions, 50_000, 'the session table keeps the 50,000 most recent');
    gc();
    const heap = process.memoryUsage().heapUsed - heap0;
    const rss = process.memoryUsage().rss - rss0;
    t.diagnostic(`100,000 connects, no disconnect: heap +${(heap / 1e6).toFixed(1)} MB, RSS +${(rss / 1e6).toFixed(1)} MB, ${stats.sessions} sessions kept`);
    // About 0.7 KB per remembered session; more connects do not add to it.
    assert.ok(heap < 120e6, `heap grew by ${(heap / 1e6).toFixed(1)} MB`);
    connect(f.host, 100_000, 50_000);
    gc();
    const heap2 = process.memoryUsage().heapUsed - heap0;
    assert.ok(heap2 < heap * 1.25 + 5e6, `another 50,000 connects grew the heap from ${(heap / 1e6).toFixed(1)} to ${(heap2 / 1e6).toFixed(1)} MB`);
    assert.ok((f.log.counts.get('session table full; least recently active session forgotten') ?? 0) >= 1, 'eviction was logged (throttled)');
    await f.host.end();
  });

  test('20,000 connects paused at once: every one answered when the pause ends, memory per open request bounded and given back', { timeout: 120_000 }, async (t) => {
    const gc = gcFunction();
    const f = floodHost('chain main = pause 3s then junk when rdns ~ /(dsl|pool)[.-]/');
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const N = 20_000;
    connect(f.host, 0, N);
    assert.equal(f.host.stats().pending, N);
    assert.equal(f.answers, 0);
    gc();
    const perRequest = (process.memoryUsage().heapUsed - heap0) / N;
    f.clock.advance(3000);
    await settle();
    assert.equal(f.answers, N, 'every paused connect answered');
    assert.equal(f.host.stats().pending, 0);
    assert.equal(f.host.stats().timers, 0, 'no timer is left (the host has none of its own)');
    gc();
    const left = (process.memoryUsage().heapUsed - heap0) / N;
    t.diagnostic(`paused connects: ${perRequest.toFixed(0)} bytes of heap per open request, ${left.toFixed(0)} per session once answered`);
    // Measured ~6.4 KB (two AbortSignals, promise chains, timer); a generous bound catches a leak or a blow-up.
    assert.ok(perRequest < 12_000, `${perRequest.toFixed(0)} bytes per paused request`);
    assert.ok(left < 2_000, `${left.toFixed(0)} bytes per session left after the answers`);
    await f.host.end();
  });
});
