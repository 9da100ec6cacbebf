import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionDnsLists } from '../../../../src/model/dns-lists.js';
import { scoreBreakdown, SessionScore } from '../../../../src/model/score.js';
import type { SessionFacts, StepOf } from '../../../../src/model/plan.js';
import type { StepContext, StepOutcome } from '../../../../src/model/runner.js';
import type { RulePhase } from '../../../../src/model/phases.js';
import { createDnsblService } from '../../../../src/steps/dnsbl/run.js';
import { FakeClock } from '../../../../src/support/clock.js';
import { RecordingLogger } from '../../../../src/support/log.js';
import { compile, compileOk, onlyChain } from '../../dsl/helpers.js';
import { facts } from '../../runtime/helpers.js';
import { FakeTransport, a, settle } from '../../dns/fake-transport.js';

function setup(rules: string) {
  const clock = new FakeClock();
  const transport = new FakeTransport();
  const service = createDnsblService({ clock, transport: () => transport });
  const steps = onlyChain(compileOk(rules)).steps.filter((s): s is StepOf<'dnsbl'> => s.action.kind === 'dnsbl');
  const runners = steps.map((s) => service.factory(s));
  const ctx = (src: string, phase: RulePhase = 'connect', lists = new SessionDnsLists()): StepContext => ({
    facts: { ...facts({ src }), dnsLists: lists },
    phase,
    request: phase === 'connect' ? 'connect' : 'rcpt-to',
    clock,
    signal: new AbortController().signal,
  });
  return { clock, transport, runners, ctx };
}

const ZEN = 'chain c = dnsbl "zen.example=127.0.0.[2..11]*3 sbl=127.0.0.2 pbl=127.0.0.[10..11]" as "zen"';

describe('the dnsbl runner', () => {
  test('a listed client is refused with postscreen’s reply, disconnected at connect; the result is kept with its codes', async () => {
    const { transport, runners, ctx } = setup(ZEN);
    const [zen] = runners;
    assert.ok(zen);
    const c = ctx('192.0.2.7');
    const outcome = zen.run(c);
    await settle();
    assert.deepEqual(transport.asked.map((q) => `${q.type} ${q.name}`), ['A 7.2.0.192.zen.example']);
    transport.answer('7.2.0.192.zen.example', a(300, '127.0.0.2', '127.0.0.10'));
    const reply = '550 5.7.1 Service unavailable; client [192.0.2.7] blocked using zen';
    assert.deepEqual(await outcome, {
      type: 'decide',
      decision: { type: 'disconnect', reply },
      detail: { list: 'zen', result: 'listed', source: 'network', answer: '127.0.0.2,127.0.0.10', codes: 'sbl,pbl' },
    });
    assert.deepEqual(c.facts.dnsLists?.names('listed'), ['zen', 'zen.sbl', 'zen.pbl']);
    const later = (await zen.run(ctx('192.0.2.7', 'rcpt-to'))) as Extract<StepOutcome, { type: 'decide' }>;
    assert.deepEqual(later.decision, { type: 'reject', reply });
    assert.equal(later.detail?.source, 'cache');
  });

  test('IPv6 by nibbles, mapped IPv4 as IPv4; the local socket is not looked up', async () => {
    const { transport, runners, ctx } = setup(ZEN);
    const [zen] = runners;
    assert.ok(zen);
    void zen.run(ctx('2001:db8:1234:5678:9abc::'));
    void zen.run(ctx('::ffff:192.0.2.9'));
    assert.deepEqual(await zen.run(ctx('')), { type: 'continue', detail: { list: 'zen', result: 'skipped' } });
    await settle();
    assert.deepEqual(
      transport.asked.map((q) => q.name),
      ['0.0.0.0.0.0.0.0.0.0.0.0.c.b.a.9.8.7.6.5.4.3.2.1.8.b.d.0.1.0.0.2.zen.example', '9.2.0.192.zen.example'],
    );
  });

  test('errors never decide: 127.255.255.254, SERVFAIL, a timeout; the chain goes on and dns-error holds', async () => {
    const { clock, transport, runners, ctx } = setup(`${ZEN} timeout 1s`);
    const [zen] = runners;
    assert.ok(zen);
    const cases = ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((ip) => {
      const c = ctx(ip);
      return { c, outcome: zen.run(c) };
    });
    await settle();
    transport.answer('1.2.0.192.zen.example', a(300, '127.255.255.254'));
    transport.answer('2.2.0.192.zen.example', { kind: 'error', error: 'servfail', code: 'ESERVFAIL' });
    await settle();
    clock.advance(1000);
    const results = await Promise.all(cases.map(async ({ c, outcome }) => [(await outcome).type, (await outcome).detail?.error, c.facts.dnsLists?.names('error')]));
    assert.deepEqual(results, [
      ['continue', 'list-refused', ['zen']],
      ['continue', 'servfail', ['zen']],
      ['continue', 'timeout', ['zen']],
    ]);
  });

  test('a negative weight accepts a listed client; weight 0 only records', async () => {
    const { transport, runners, ctx } = setup('chain c = dnsbl "wl.example=127.0.[0..255].[1..3]*-2" as "dnswl" then dnsbl "bl.example*0"');
    const [wl, bl] = runners;
    assert.ok(wl && bl);
    const c = ctx('192.0.2.7');
    const w = wl.run(c);
    const b = bl.run(c);
    await settle();
    transport.answer('7.2.0.192.wl.example', a(300, '127.0.10.2'));
    transport.answer('7.2.0.192.bl.example', a(300, '127.0.0.2'));
    assert.equal((await w).type, 'accept');
    assert.equal((await b).type, 'continue');
    assert.deepEqual(c.facts.dnsLists?.names('listed'), ['dnswl', 'bl.example']);
  });

  test('a lookup started at connect is the one the step picks up, shared with other sessions of the address', async () => {
    const { transport, runners, ctx } = setup(ZEN);
    const [zen] = runners;
    assert.ok(zen?.startEarly);
    const first = ctx('192.0.2.7');
    const second = ctx('192.0.2.7');
    zen.startEarly(first.facts);
    zen.startEarly(first.facts);
    zen.startEarly(second.facts);
    await settle();
    assert.equal(transport.asked.length, 1, 'one query for the address');
    transport.answer('7.2.0.192.zen.example', { kind: 'nxdomain' });
    const [one, two] = await Promise.all([zen.run(first), zen.run(second)]);
    assert.deepEqual([one.detail?.source, two.detail?.source], ['network', 'shared']);
    assert.equal(transport.asked.length, 0);
  });

  test('a listing adds the weight to the score, once per session; an error adds nothing; score-only decides nothing', async () => {
    const { transport, runners, ctx } = setup(
      'chain c = dnsbl "zen.example=127.0.0.[2..11]*3" as "zen" score-only then dnsbl "wl.example=127.0.[0..255].[1..3]*-2" as "dnswl" score-only then dnsbl "bad.example*2" as "bad" score-only',
    );
    const [zen, wl, bad] = runners;
    assert.ok(zen && wl && bad);
    const score = new SessionScore();
    const c = { ...ctx('192.0.2.7'), facts: { ...ctx('192.0.2.7').facts, score } };
    const outcomes = [zen.run(c), wl.run(c), bad.run(c)];
    await settle();
    transport.answer('7.2.0.192.zen.example', a(300, '127.0.0.2'));
    transport.answer('7.2.0.192.wl.example', a(300, '127.0.10.2'));
    transport.answer('7.2.0.192.bad.example', { kind: 'error', error: 'servfail', code: 'ESERVFAIL' });
    assert.deepEqual((await Promise.all(outcomes)).map((o) => o.type), ['continue', 'continue', 'continue']);
    assert.equal(scoreBreakdown(score), '1 (zen +3, dnswl -2)');
    // The step again (a later phase of the session): the cache answers, the score stays.
    await zen.run(c);
    assert.equal(score.total(), 1);
  });

  test('without score-only a listing both scores and decides; a dry-run step neither adds nor (in the evaluator) decides', async () => {
    const { transport, runners, ctx } = setup('chain c = dnsbl "zen.example*3" as "zen" then dry-run dnsbl "zen.example*3" as "zen2"');
    const [zen, dry] = runners;
    assert.ok(zen && dry);
    const score = new SessionScore();
    const c = { ...ctx('192.0.2.7'), facts: { ...ctx('192.0.2.7').facts, score } };
    const o = zen.run(c);
    const d = dry.run(c);
    await settle();
    transport.answer('7.2.0.192.zen.example', a(300, '127.0.0.2'));
    assert.equal((await o).type, 'decide');
    assert.equal((await d).type, 'decide');
    assert.equal(scoreBreakdown(score), '3 (zen +3)');
  });

  test('domain lists: the HELO name, the FCrDNS-verified rDNS name, the sender domain; literals and the rest skipped', async () => {
    const { transport, runners, ctx } = setup(
      'chain c = dnsbl "dbl.example=127.0.1.[2..99]*2" as "dbl-helo" lookup helo at helo score-only\n' +
        'then dnsbl "dbl.example=127.0.1.[2..99]" as "dbl-rdns" lookup rdns\n' +
        'then dnsbl "dbl.example=127.0.1.[2..99]*3" as "dbl-from" lookup mail-from at mail-from score-only',
    );
    const [helo, rdns, from] = runners;
    assert.ok(helo && rdns && from);
    const at = (facts: Partial<SessionFacts>, phase: RulePhase = 'helo'): StepContext => {
      const base = ctx('192.0.2.7', phase);
      return { ...base, facts: { ...base.facts, ...facts } };
    };
    const skipped = async (run: Promise<StepOutcome> | StepOutcome) => (await run).detail?.skipped;
    assert.equal(await skipped(helo.run(at({ helo: '[192.0.2.7]' }))), 'address-literal');
    assert.equal(await skipped(helo.run(at({ helo: '192.0.2.7' }))), 'bare-ip');
    assert.equal(await skipped(helo.run(at({ helo: 'localhost' }))), 'malformed');
    assert.equal(await skipped(rdns.run(at({ rdns: 'mx.example.net', fcrdns: 'fail' }, 'connect'))), 'no-fcrdns');
    assert.equal(await skipped(from.run(at({ mailFrom: '' }, 'mail-from'))), 'empty');
    assert.equal(transport.asked.length, 0, 'nothing was asked');

    const score = new SessionScore();
    const c = at({ helo: 'Mail.Example.COM', rdns: 'mx.bücher.example', fcrdns: 'pass', mailFrom: 'alice@Spam.Example', score }, 'helo');
    const outcomes = [helo.run(c), rdns.run(c), from.run({ ...c, phase: 'mail-from' })];
    await settle();
    assert.deepEqual(transport.asked.map((q) => q.name).sort(), ['mail.example.com.dbl.example', 'mx.xn--bcher-kva.example.dbl.example', 'spam.example.dbl.example']);
    transport.answer('mail.example.com.dbl.example', a(300, '127.0.1.2'));
    transport.answer('mx.xn--bcher-kva.example.dbl.example', a(300, '127.0.1.255'));
    transport.answer('spam.example.dbl.example', a(300, '127.0.1.3'));
    const [h, r, f] = await Promise.all(outcomes);
    assert.equal(h?.type, 'continue');
    assert.equal(r?.detail?.result, 'error', '127.0.1.255 from a domain list is an error');
    assert.equal(f?.type, 'continue');
    assert.equal(scoreBreakdown(score), '5 (dbl-helo +2, dbl-from +3)');
    // The next transaction: another sender is asked; the same one again counts again (transaction scope).
    score.resetTransaction();
    const next = from.run({ ...c, facts: { ...c.facts, mailFrom: 'bob@other.example' }, phase: 'mail-from' });
    await settle();
    assert.deepEqual(transport.asked.map((q) => q.name), ['other.example.dbl.example']);
    transport.answer('other.example.dbl.example', { kind: 'nxdomain' });
    assert.equal((await next).detail?.result, 'clear');
    assert.equal(scoreBreakdown(score), '2 (dbl-helo +2)');
  });

  test('E078: a name looked up before smtpd has told it', () => {
    const r = compile('chain c = dnsbl "dbl.example" lookup helo\nthen dnsbl "dbl.example" lookup mail-from at helo');
    assert.ok(!r.ok);
    assert.deepEqual(
      r.diagnostics.map((d) => `${d.code} ${d.message} (${d.hint ?? ''})`),
      [
        'E078 `lookup helo` needs the HELO name, which smtpd tells at helo; this step runs at connect (add `at helo`)',
        'E078 `lookup mail-from` needs the sender, which smtpd tells at mail-from; this step runs at helo (add `at mail-from`)',
      ],
    );
  });
});

describe('the dnsbl service: the lists’ health', () => {
  test('probes each list RFC 5782 style once the rules are current; a list answering 127.255.255.254 to everything degrades: its weight is skipped (fail open), `listed` does not see it, the metrics follow', async () => {
    const clock = new FakeClock();
    const transport = new FakeTransport();
    const log = new RecordingLogger();
    const seen: string[] = [];
    const service = createDnsblService({
      clock,
      transport: () => transport,
      log,
      health: { failuresToDegrade: 2, probeIntervalMs: 300_000, degradedProbeIntervalMs: 60_000 },
      events: { looked: (list, result, error) => seen.push(`${list} ${result} ${error ?? '-'}`), health: (list, state) => seen.push(`${list} ${state}`) },
    });
    const rules = compileOk(ZEN);
    service.retain(rules);
    await settle();
    assert.deepEqual(transport.asked.map((q) => q.name).sort(), ['1.0.0.127.zen.example', '2.0.0.127.zen.example']);
    transport.answer('2.0.0.127.zen.example', a(300, '127.255.255.254'));
    transport.answer('1.0.0.127.zen.example', a(300, '127.255.255.254'));
    await settle();
    const [step] = onlyChain(rules).steps.filter((s): s is StepOf<'dnsbl'> => s.action.kind === 'dnsbl');
    assert.ok(step);
    const zen = service.factory(step);
    const run = async (src: string): Promise<{ outcome: StepOutcome; score: SessionScore; lists: SessionDnsLists }> => {
      const score = new SessionScore();
      const lists = new SessionDnsLists();
      const c: StepContext = { facts: { ...facts({ src }), dnsLists: lists, score }, phase: 'connect', request: 'connect', clock, signal: new AbortController().signal };
      const p = zen.run(c);
      await settle();
      // A name asked before is answered from the cache.
      const q = transport.asked.at(-1);
      if (q !== undefined) transport.answer(q.name, src === '192.0.2.9' ? a(300, '127.0.0.2') : a(300, '127.255.255.254'));
      return { outcome: await p, score, lists };
    };
    // One probe round failed: not degraded yet (N = 2); a listing still counts.
    const listed = await run('192.0.2.9');
    assert.equal(listed.outcome.type, 'decide');
    assert.equal((await run('192.0.2.1')).outcome.detail?.result, 'error');
    assert.equal((await run('192.0.2.2')).outcome.detail?.result, 'error');
    assert.equal(service.health.isDegraded('address zen.example system'), true);
    const skipped = await run('192.0.2.9');
    assert.equal(skipped.outcome.type, 'continue');
    assert.equal(skipped.outcome.detail?.health, 'degraded');
    assert.equal(scoreBreakdown(skipped.score), '0');
    assert.deepEqual(skipped.lists.names('listed'), []);
    assert.deepEqual(skipped.lists.names('error'), ['zen']);
    const warnings = log.records.filter((r) => r.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.msg ?? '', /zen is degraded.*2 lookups in a row failed.*public or open resolver/);
    assert.deepEqual(seen, ['zen up', 'zen listed -', 'zen error list-refused', 'zen degraded', 'zen error list-refused', 'zen listed -']);
    // The degraded list is probed sooner; passing probes bring it back.
    clock.advance(60_000);
    await settle();
    transport.answer('2.0.0.127.zen.example', a(300, '127.0.0.2'));
    transport.answer('1.0.0.127.zen.example', { kind: 'nxdomain' });
    await settle();
    assert.equal(service.health.isDegraded('address zen.example system'), false);
    assert.equal(seen.at(-1), 'zen up');
    await service.close();
    assert.equal(clock.pending(), 0);
  });
});
