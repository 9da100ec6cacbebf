import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionAuth } from '../../../../src/model/auth.js';
import type { SessionFacts, StepOf } from '../../../../src/model/plan.js';
import type { StepContext } from '../../../../src/model/runner.js';
import { createSpfService } from '../../../../src/steps/spf/run.js';
import { FakeClock } from '../../../../src/support/clock.js';
import { compileOk, onlyChain } from '../../dsl/helpers.js';
import { facts } from '../../runtime/helpers.js';
import { settle } from '../../dns/fake-transport.js';
import { txt, ZoneTransport, type Zone } from '../../dns/zone-transport.js';

const ZONE: Zone = {
  'pass.test': { TXT: txt('v=spf1 ip4:192.0.2.0/24 -all') },
  'fail.test': { TXT: txt('v=spf1 ip4:198.51.100.1 -all', 'unrelated text') },
  'helo.test': { TXT: txt('v=spf1 a -all'), A: ['192.0.2.7'] },
  'soft.test': { TXT: txt('v=spf1 ~all') },
  'include-broken.test': { TXT: txt('v=spf1 include:broken.test -all') },
  'include-slow.test': { TXT: txt('v=spf1 include:slow.test -all') },
};

function setup(rules: string, broken: ConstructorParameters<typeof ZoneTransport>[1] = {}) {
  const clock = new FakeClock();
  const transport = new ZoneTransport(ZONE, broken);
  const service = createSpfService({ clock, transport: () => transport, hostname: 'mx.test' });
  const [step] = onlyChain(compileOk(rules)).steps.filter((s): s is StepOf<'spf'> => s.action.kind === 'spf');
  assert.ok(step);
  const runner = service.factory(step);
  const ctx = (over: Partial<SessionFacts>): StepContext => ({
    facts: { ...facts({ src: '192.0.2.7', helo: 'helo.test', ...over }), auth: new SessionAuth() },
    phase: 'mail-from',
    request: 'mail-from',
    clock,
    signal: new AbortController().signal,
  });
  return { clock, transport, runner, ctx };
}

describe('the spf runner', () => {
  test('the sender’s domain is checked against the client address; the result is recorded and logged, never decided on', async () => {
    const { runner, ctx } = setup('chain c = spf');
    const pass = ctx({ mailFrom: 'alice@pass.test' });
    assert.deepEqual(await runner.run(pass), { type: 'continue', detail: { spf: 'pass', domain: 'pass.test', lookups: 0 } });
    assert.equal(pass.facts.auth?.spf('mailfrom'), 'pass');
    assert.equal(pass.facts.auth?.spf('helo'), null);
    const fail = ctx({ mailFrom: 'bob@FAIL.test' });
    assert.deepEqual(await runner.run(fail), { type: 'continue', detail: { spf: 'fail', domain: 'fail.test', lookups: 0 } });
    assert.equal(fail.facts.auth?.spf('mailfrom'), 'fail');
    const results = await Promise.all(['soft.test', 'nothing.test'].map(async (d) => (await runner.run(ctx({ mailFrom: `x@${d}` }))).detail?.spf));
    assert.deepEqual(results, ['softfail', 'none']);
  });

  test('the null sender is checked as postmaster@HELO; check-helo checks the HELO identity too, once when they are the same', async () => {
    const { runner, ctx, transport } = setup('chain c = spf check-helo');
    const bounce = ctx({ mailFrom: '' });
    assert.deepEqual((await runner.run(bounce)).detail, { spf: 'pass', domain: 'helo.test', lookups: 1, 'spf-helo': 'pass', 'helo-domain': 'helo.test' });
    assert.deepEqual(transport.asked, ['TXT helo.test', 'A helo.test', 'AAAA helo.test']);
    const both = ctx({ mailFrom: 'bob@fail.test' });
    assert.deepEqual((await runner.run(both)).detail, { spf: 'fail', domain: 'fail.test', lookups: 0, 'spf-helo': 'pass', 'helo-domain': 'helo.test' });
    assert.equal(both.facts.auth?.spf('mailfrom'), 'fail');
    assert.equal(both.facts.auth?.spf('helo'), 'pass');
    // An address literal is no domain: the HELO identity has no SPF record (RFC 7208 §2.3).
    const literal = ctx({ helo: '[192.0.2.7]', mailFrom: 'alice@pass.test' });
    assert.equal((await runner.run(literal)).detail?.['spf-helo'], 'none');
  });

  test('SERVFAIL inside an include is temperror (mailauth alone would go on to -all and say fail)', async () => {
    const { runner, ctx } = setup('chain c = spf', { servfail: ['broken.test'] });
    const c = ctx({ mailFrom: 'x@include-broken.test' });
    const detail = (await runner.run(c)).detail;
    assert.equal(detail?.spf, 'temperror');
    assert.match(String(detail?.reason), /DNS error \(ESERVFAIL\) when resolving broken\.test/);
  });

  test('a lookup that never answers is temperror when the check’s timeout passes, however many lookups were left', async () => {
    const { runner, ctx, clock } = setup('chain c = spf check-helo timeout 2s', { silent: ['slow.test'] });
    const c = ctx({ mailFrom: 'x@include-slow.test' });
    const outcome = Promise.resolve(runner.run(c));
    await settle();
    clock.advance(1999);
    await settle();
    let done = false;
    void outcome.then(() => (done = true));
    await settle();
    assert.equal(done, false);
    clock.advance(1);
    const detail = (await outcome).detail;
    assert.equal(detail?.spf, 'temperror');
    assert.match(String(detail?.reason), /DNS timeout/);
    // The HELO identity did not wait on the slow name.
    assert.equal(detail?.['spf-helo'], 'pass');
    assert.equal(c.facts.auth?.spf('mailfrom'), 'temperror');
  });

  test('smtpd’s local socket has no address: not checked, nothing recorded', async () => {
    const { runner, ctx, transport } = setup('chain c = spf');
    const c = ctx({ src: '', local: true, mailFrom: 'alice@pass.test' });
    assert.deepEqual(await runner.run(c), { type: 'continue', detail: { spf: 'skipped' } });
    assert.equal(c.facts.auth?.spf('mailfrom'), null);
    assert.deepEqual(transport.asked, []);
  });
});
