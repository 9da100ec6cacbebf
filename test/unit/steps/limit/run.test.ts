/**
 * The limit StepRunner: SessionFacts in, StepOutcome out, over the memory
 * counter store and a FakeClock (the exact GCRA boundaries are gcra.test's).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompiledStep, SessionFacts } from '../../../../src/model/plan.js';
import type { RulePhase } from '../../../../src/model/phases.js';
import type { StepContext, StepOutcome } from '../../../../src/model/runner.js';
import type { LimitStepOptions } from '../../../../src/steps/limit/define.js';
import { createLimitRunnerFactory, tempfailReply } from '../../../../src/steps/limit/run.js';
import { limitKeyOf } from '../../../../src/steps/limit/key.js';
import { MemoryCounterStore } from '../../../../src/store/counter-memory.js';
import { CounterStoreError } from '../../../../src/store/counter-types.js';
import { CounterStores } from '../../../../src/store/registry.js';
import { FakeClock } from '../../../../src/support/clock.js';
import { RecordingLogger } from '../../../../src/support/log.js';
import { err, ok } from '../../../../src/support/result.js';
import { nameAndText } from '../compiled.js';

const span = { file: 'rules', line: 3, column: 5, endLine: 3, endColumn: 40 };
const HOUR = 3_600_000;

const OPTIONS: LimitStepOptions = {
  rate: { count: 3, periodMs: HOUR },
  burst: 3,
  key: [{ kind: 'src', ipv4Prefix: 24, ipv6Prefix: 64 }],
  count: 'recipients',
  strict: false,
  exceeded: { action: 'reject', reply: null },
  delayMs: 10_000,
  orphanAfterMs: HOUR,
  store: 'memory:',
};

function stepWith(options: Partial<LimitStepOptions> = {}, phase: RulePhase = 'rcpt-to', dryRun = false): CompiledStep {
  const action: CompiledStep['action'] = { kind: 'limit', options: { ...OPTIONS, ...options } };
  return { index: 2, action, ...nameAndText(action), phase, when: null, whenText: null, span, onError: 'tempfail', ...(dryRun ? { dryRun } : {}) };
}

function facts(over: Partial<SessionFacts> = {}): SessionFacts {
  return {
    sessionId: 'a1b2c3d4e5f60718',
    src: '192.0.2.10',
    srcPort: 40000,
    dest: '192.0.2.1',
    destPort: 25,
    local: false,
    rdns: 'mail7.example.org',
    fcrdns: 'pass',
    helo: 'mail.example.org',
    heloMethod: 'EHLO',
    mailFrom: 'Alice@Example.org',
    rcptTo: 'bob@example.net',
    recipients: [],
    messageId: '0badcafe',
    authUser: null,
    tls: null,
    size: null,
    ...over,
  };
}

function setup(open?: ConstructorParameters<typeof CounterStores>[0]['open']) {
  const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
  const log = new RecordingLogger();
  const store = new MemoryCounterStore(1000);
  const stores = new CounterStores({ clock, log, open: open ?? (() => ok(store)) });
  const limits = createLimitRunnerFactory({ clock, log, stores, hostname: 'mx1' });
  const ctx = (f: SessionFacts, phase: RulePhase = 'rcpt-to'): StepContext => ({ facts: f, phase, request: phase, clock, signal: new AbortController().signal });
  return { clock, log, store, stores, ...limits, ctx };
}

const decision = (o: StepOutcome): unknown => (o.type === 'decide' ? o.decision : o.type);

describe('limit step runner', () => {
  test('the (N+1)th recipient of a /24 is refused with 451 and the retry-after; another network is apart; it passes again in time', async () => {
    const { factory, ctx, clock } = setup();
    const runner = factory(stepWith());
    for (let i = 0; i < 3; i++) assert.equal((await runner.run(ctx(facts({ src: `192.0.2.${10 + i}` })))).type, 'continue');
    const over = await runner.run(ctx(facts({ src: '192.0.2.99' })));
    assert.deepEqual(decision(over), { type: 'reject', reply: '451 4.7.1 Rate limit exceeded, try again in 1200 seconds' });
    assert.equal(over.detail?.['limit'], 'over');
    assert.equal((await runner.run(ctx(facts({ src: '198.51.100.1' })))).type, 'continue');
    clock.advance(1_200_000);
    assert.equal((await runner.run(ctx(facts()))).type, 'continue');
  });

  test('disconnect answers 421; a written reply is used as written', async () => {
    const { factory, ctx } = setup();
    const d = factory(stepWith({ burst: 1, exceeded: { action: 'disconnect', reply: null } }));
    await d.run(ctx(facts()));
    assert.deepEqual(decision(await d.run(ctx(facts()))), { type: 'disconnect', reply: '421 4.7.0 Too many connections, closing' });
    const t = factory(stepWith({ burst: 1, key: [], exceeded: { action: 'reject', reply: '450 4.7.1 slow down' } }));
    await t.run(ctx(facts()));
    assert.deepEqual(decision(await t.run(ctx(facts()))), { type: 'reject', reply: '450 4.7.1 slow down' });
  });

  test('tarpit waits the delay, then goes on; a dry-run tarpit does not wait', async () => {
    const { factory, ctx, clock } = setup();
    const runner = factory(stepWith({ burst: 1, exceeded: { action: 'tarpit' }, delayMs: 15_000 }));
    await runner.run(ctx(facts()));
    let done: StepOutcome | null = null;
    void Promise.resolve(runner.run(ctx(facts()))).then((o) => (done = o));
    await new Promise((r) => setImmediate(r));
    assert.equal(done, null, 'held');
    clock.advance(15_000);
    await new Promise((r) => setImmediate(r));
    assert.equal((done as StepOutcome | null)?.type, 'continue');
    const dry = factory(stepWith({ burst: 1, exceeded: { action: 'tarpit' }, key: [] }, 'rcpt-to', true));
    await dry.run(ctx(facts()));
    const o = await dry.run(ctx(facts()));
    assert.equal(o.type, 'continue');
    assert.equal(o.detail?.['limit'], 'over');
  });

  test('sessions: at most N open at once; the end of a session frees its place (once)', async () => {
    const { factory, endSession, ctx } = setup();
    const runner = factory(stepWith({ count: 'sessions', rate: { count: 2, periodMs: null } }, 'connect'));
    const at = (id: string) => ctx(facts({ sessionId: id, mailFrom: null, rcptTo: null }), 'connect');
    assert.equal((await runner.run(at('s1'))).type, 'continue');
    assert.equal((await runner.run(at('s2'))).type, 'continue');
    assert.deepEqual(decision(await runner.run(at('s3'))), { type: 'reject', reply: '451 4.7.1 Rate limit exceeded, try again later' });
    endSession('s1');
    endSession('s1');
    await new Promise((r) => setImmediate(r));
    assert.equal((await runner.run(at('s3'))).type, 'continue');
    assert.deepEqual(decision(await runner.run(at('s4'))), { type: 'reject', reply: '451 4.7.1 Rate limit exceeded, try again later' });
  });

  test('bytes cost the message size; local sessions and sessions without the key value are not limited', async () => {
    const { factory, ctx } = setup();
    const bytes = factory(stepWith({ count: 'bytes', rate: { count: 1000, periodMs: HOUR }, burst: 1000 }, 'commit'));
    assert.equal((await bytes.run(ctx(facts({ size: 600 }), 'commit'))).type, 'continue');
    assert.equal((await bytes.run(ctx(facts({ size: 600 }), 'commit'))).type, 'decide');
    const user = factory(stepWith({ burst: 1, key: [{ kind: 'auth-user' }] }));
    for (let i = 0; i < 3; i++) assert.equal((await user.run(ctx(facts()))).detail?.['limit'], 'skipped');
    const local = factory(stepWith({ burst: 1 }));
    for (let i = 0; i < 3; i++) assert.equal((await local.run(ctx(facts({ local: true, src: '' })))).type, 'continue');
  });

  test('a store that fails or cannot open throws: the runtime applies on-error', async () => {
    const { factory, ctx } = setup(() => err('counter store redis://x: cannot connect'));
    await assert.rejects(Promise.resolve(factory(stepWith()).run(ctx(facts()))), /cannot connect/);
    const failing = new MemoryCounterStore();
    failing.consume = () => Promise.reject(new CounterStoreError('memory:', 'boom'));
    const s2 = setup(() => ok(failing));
    await assert.rejects(Promise.resolve(s2.factory(stepWith()).run(s2.ctx(facts()))), /counter store memory:: boom/);
  });
});

describe('limit keys', () => {
  test('parts are lowercased, grouped and joined; a value cannot forge another part', () => {
    const f = facts({ mailFrom: '<Alice@Example.ORG>', helo: 'X|Y Z' });
    assert.equal(
      limitKeyOf('p', [{ kind: 'src', ipv4Prefix: 24, ipv6Prefix: 64 }, { kind: 'sender-domain' }, { kind: 'rdns' }, { kind: 'helo' }], f, null),
      'p|192.0.2.0/24|example.org|example.org|x_y_z',
    );
    assert.equal(limitKeyOf('p', [{ kind: 'src', ipv4Prefix: 32, ipv6Prefix: 48 }], facts({ src: '2001:db8:1:2::5' }), null), 'p|2001:db8:1::/48');
    assert.equal(limitKeyOf('p', [{ kind: 'recipient-domain' }], f, 'Bob@Example.NET'), 'p|example.net');
    assert.equal(limitKeyOf('p', [], f, null), 'p');
    assert.equal(limitKeyOf('p', [{ kind: 'rdns' }], facts({ rdns: null }), null), 'p|unknown');
  });

  test('the default tempfail reply says when to come back, in whole seconds', () => {
    assert.equal(tempfailReply(null, 1), '451 4.7.1 Rate limit exceeded, try again in 1 seconds');
    assert.equal(tempfailReply(null, 120_000), '451 4.7.1 Rate limit exceeded, try again in 120 seconds');
    assert.equal(tempfailReply('451 4.7.1 mine', 5), '451 4.7.1 mine');
  });
});
