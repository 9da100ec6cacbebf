/**
 * The greylist StepRunner: SessionFacts in, StepOutcome out, over an
 * in-memory store and a FakeClock.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createGreylistRunnerFactory } from '../../../../src/steps/greylist/run.js';
import type { StepContext, StepOutcome } from '../../../../src/model/runner.js';
import type { CompiledStep, SessionFacts } from '../../../../src/model/plan.js';
import type { GreylistStepOptions } from '../../../../src/steps/greylist/define.js';
import type { Verdict } from '../../../../src/greylist/machine.js';
import type { RulePhase } from '../../../../src/model/phases.js';
import { MemoryGreylistStore } from '../../../../src/store/memory.js';
import { GreylistStores } from '../../../../src/store/registry.js';
import { StoreError, type GreylistStore } from '../../../../src/store/types.js';
import { FakeClock } from '../../../../src/support/clock.js';
import { RecordingLogger } from '../../../../src/support/log.js';
import { err, ok } from '../../../../src/support/result.js';
import { nameAndText } from '../compiled.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const span = { file: 'rules', line: 3, column: 5, endLine: 3, endColumn: 40 };

const OPTIONS: GreylistStepOptions = {
  delayMs: 5 * MIN,
  maxAgeMs: 35 * DAY,
  retryWindowMs: 2 * DAY,
  autoWhitelistAfter: 5,
  ipv4Prefix: 24,
  ipv6Prefix: 64,
  store: 'memory:test',
  header: true,
};

function stepWith(options: Partial<GreylistStepOptions> = {}, phase: RulePhase = 'rcpt-to'): CompiledStep {
  const action: CompiledStep['action'] = { kind: 'greylist', options: { ...OPTIONS, ...options } };
  return {
    index: 1,
    action,
    ...nameAndText(action),
    phase,
    when: null,
    whenText: null,
    span,
    onError: 'tempfail',
  };
}

function facts(over: Partial<SessionFacts> = {}): SessionFacts {
  return {
    sessionId: 'a1b2c3d4e5f60718',
    src: '192.0.2.10',
    srcPort: 40000,
    dest: '192.0.2.1',
    destPort: 25,
    local: false,
    rdns: 'mail.example.org',
    fcrdns: 'pass',
    helo: 'mail.example.org',
    heloMethod: 'EHLO',
    mailFrom: 'alice@example.org',
    rcptTo: 'bob@example.net',
    recipients: [],
    messageId: '0badcafe',
    authUser: null,
    tls: null,
    size: null,
    ...over,
  };
}

function setup(openResult?: () => ReturnType<GreylistStores['get']>) {
  const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
  const log = new RecordingLogger();
  const store = new MemoryGreylistStore('memory:test');
  const stores = new GreylistStores({ clock, log, open: openResult ?? (() => ok(store)) });
  const factory = createGreylistRunnerFactory({ clock, log, stores, hostname: 'mx1.example.net', version: '9.9.9', utcOffsetMinutes: () => 0 });
  const ctx = (f: SessionFacts, phase: RulePhase = 'rcpt-to'): StepContext => ({
    facts: f,
    phase,
    request: phase,
    clock,
    signal: new AbortController().signal,
  });
  return { clock, log, store, stores, factory, ctx };
}

const reject = (seconds: number): Extract<StepOutcome, { type: 'decide' }> => ({
  type: 'decide',
  decision: { type: 'reject', reply: `451 4.7.1 Greylisted, please try again in ${seconds} seconds` },
});

describe('greylist step runner', () => {
  test('first sight → 451 with the full delay; early retry → 451 with the rest; after the delay → continue with X-Greylist', async () => {
    const { factory, ctx, clock } = setup();
    const runner = factory(stepWith());
    const first = await runner.run(ctx(facts()));
    assert.deepEqual(first, {
      ...reject(300),
      detail: { network: '192.0.2.0', sender: 'alice@example.org', greylist: 'new', retryIn: 300 },
    });
    clock.advance(100_000);
    const early = await runner.run(ctx(facts()));
    assert.deepEqual(early, {
      ...reject(200),
      detail: { network: '192.0.2.0', sender: 'alice@example.org', greylist: 'early-retry', retryIn: 200 },
    });
    clock.advance(250_000);
    const passed = await runner.run(ctx(facts({ messageId: 'feedbeef' })));
    assert.deepEqual(passed, {
      type: 'continue',
      addHeaders: ['X-Greylist: delayed 350 seconds by filter-rules-9.9.9 at mx1.example.net; Wed, 25 Nov 2026 12:05:50 +0000'],
      detail: { network: '192.0.2.0', sender: 'alice@example.org', greylist: 'pass', delayed: 350 },
    });
    const known = await runner.run(ctx(facts({ messageId: 'feedbee2' })));
    assert.deepEqual(known, { type: 'continue', detail: { network: '192.0.2.0', sender: 'alice@example.org', greylist: 'known' } });
  });

  test('the header is added once per message, and not at all without `header`', async () => {
    const { factory, ctx, clock } = setup();
    const runner = factory(stepWith());
    await runner.run(ctx(facts({ rcptTo: 'one@example.net' })));
    await runner.run(ctx(facts({ rcptTo: 'two@example.net' })));
    clock.advance(5 * MIN);
    const one = await runner.run(ctx(facts({ rcptTo: 'one@example.net' })));
    const two = await runner.run(ctx(facts({ rcptTo: 'two@example.net' })));
    assert.equal(one.type === 'continue' && one.addHeaders?.length, 1);
    assert.equal(two.type === 'continue' && two.addHeaders, undefined);

    const quiet = factory(stepWith({ header: false }));
    await quiet.run(ctx(facts({ rcptTo: 'three@example.net', messageId: 'm2' })));
    clock.advance(5 * MIN);
    const passed = await quiet.run(ctx(facts({ rcptTo: 'three@example.net', messageId: 'm2' })));
    assert.deepEqual(passed.type === 'continue' && passed.addHeaders, undefined);
    assert.equal(passed.type === 'continue' && passed.detail?.greylist, 'pass');
  });

  test('sessions on the local socket are not greylisted and do not touch the store', async () => {
    const { factory, ctx, store } = setup();
    const out = await factory(stepWith()).run(ctx(facts({ local: true, src: '', dest: '' })));
    assert.deepEqual(out, { type: 'continue', detail: { greylist: 'skipped', reason: 'local session' } });
    assert.deepEqual(await store.stats(0), { triplets: 0, passedTriplets: 0, clients: 0 });
  });

  test('no client address on a session that is not local: a failure (on-error decides), never skipped as local', async () => {
    const { factory, ctx, store } = setup();
    await assert.rejects(async () => factory(stepWith()).run(ctx(facts({ local: false, src: '' }))), /client address is unknown/);
    assert.deepEqual(await store.stats(0), { triplets: 0, passedTriplets: 0, clients: 0 });
  });

  test('moved to data, every recipient is checked; the message waits for the slowest', async () => {
    const { factory, ctx, clock } = setup();
    const runner = factory(stepWith({}, 'data'));
    const atData = (recipients: string[]) => ctx(facts({ rcptTo: null, recipients }), 'data');
    await runner.run(atData(['a@example.net']));
    clock.advance(2 * MIN);
    const both = await runner.run(atData(['a@example.net', 'b@example.net']));
    assert.equal(both.type === 'decide' && both.decision.type === 'reject' && both.decision.reply, '451 4.7.1 Greylisted, please try again in 300 seconds');
    clock.advance(5 * MIN);
    const pass = await runner.run(atData(['a@example.net', 'b@example.net']));
    assert.equal(pass.type, 'continue');
    assert.equal(pass.type === 'continue' && pass.detail?.delayed, 420);
  });

  test('at mail-from the (network, sender) pair is greylisted, with an empty recipient', async () => {
    const { factory, ctx, clock, store } = setup();
    const runner = factory(stepWith({}, 'mail-from'));
    const atMail = () => ctx(facts({ rcptTo: null, recipients: [] }), 'mail-from');
    assert.equal((await runner.run(atMail())).type, 'decide');
    clock.advance(5 * MIN);
    assert.equal((await runner.run(atMail())).type, 'continue');
    const keys = (await store.listTriplets({ limit: 10 })).items.map((e) => e.key);
    assert.deepEqual(keys, ['192.0.2.0/alice@example.org/']);
  });

  test('store failures and impossible inputs reject, so the runtime applies on-error', async () => {
    const failing = setup(() => err('greylist store sqlite:/var/lib/x.db: cannot open /var/lib/x.db: EACCES: permission denied'));
    await assert.rejects(
      Promise.resolve(failing.factory(stepWith()).run(failing.ctx(facts()))),
      /^Error: greylist store sqlite:\/var\/lib\/x\.db: cannot open \/var\/lib\/x\.db: EACCES/,
    );

    const broken = setup();
    broken.store.check = () => Promise.reject(new StoreError('memory:test', 'check failed: connection reset'));
    await assert.rejects(Promise.resolve(broken.factory(stepWith()).run(broken.ctx(facts()))), /check failed: connection reset/);

    const { factory, ctx } = setup();
    const runner = factory(stepWith());
    await assert.rejects(Promise.resolve(runner.run(ctx(facts({ mailFrom: null })))), /no envelope sender/);
    await assert.rejects(Promise.resolve(runner.run(ctx(facts({ rcptTo: null, recipients: [] }), 'data'))), /no recipient/);
    await assert.rejects(Promise.resolve(runner.run(ctx(facts({ src: 'bogus' })))), /"bogus" is not an IP address/);
  });

  test("the store gets the step's abort: a check that waits (Redis still connecting) ends with the step's deadline", async () => {
    const { factory, ctx, store } = setup();
    // A store that can only wait, as Redis does for a connection being made.
    (store as GreylistStore).check = (_t, _p, _now, options) =>
      new Promise<Verdict>((_, reject) => {
        assert.ok(options?.onAbort !== undefined, 'the step passes an abort subscription');
        options.onAbort((reason) => reject(new StoreError('memory:test', `check failed: gave up waiting: ${String(reason)}`)));
      });
    const runner = factory(stepWith());
    // With the runtime's cheap callback…
    let fire: ((reason: unknown) => void) | null = null;
    const cheap = runner.run({ ...ctx(facts()), onAbort: (l) => ((fire = l), () => (fire = null)) });
    assert.ok(fire !== null);
    (fire as (reason: unknown) => void)('step deadline of 11000 ms passed');
    await assert.rejects(Promise.resolve(cheap), /gave up waiting: step deadline of 11000 ms passed/);
    // …and with the AbortSignal alone.
    const controller = new AbortController();
    const signalled = runner.run({ ...ctx(facts()), signal: controller.signal });
    controller.abort('session gone');
    await assert.rejects(Promise.resolve(signalled), /gave up waiting: session gone/);
  });

  test('a client reaching the auto-whitelist count is logged once', async () => {
    const { factory, ctx, clock, log } = setup();
    const runner = factory(stepWith({ autoWhitelistAfter: 2 }));
    for (const rcpt of ['x@example.net', 'y@example.net']) {
      await runner.run(ctx(facts({ rcptTo: rcpt })));
      clock.advance(5 * MIN);
      await runner.run(ctx(facts({ rcptTo: rcpt })));
      clock.advance(60 * MIN);
    }
    const awl = log.records.filter((r) => r.msg === 'client auto-whitelisted');
    assert.equal(awl.length, 1);
    assert.equal(awl[0]?.fields.client, '192.0.2.10');
    const out = await runner.run(ctx(facts({ rcptTo: 'z@example.net' })));
    assert.deepEqual(out, { type: 'continue', detail: { network: '192.0.2.0', sender: 'alice@example.org', greylist: 'client-awl', clientCount: 3 } });
  });

  test('the factory refuses a step of another kind, and defaults the header version to package.json', async () => {
    const { factory, stores, clock, ctx } = setup();
    assert.throws(() => factory({ ...stepWith(), action: { kind: 'junk' } }), /is a junk step/);
    const plain = createGreylistRunnerFactory({ clock, log: new RecordingLogger(), stores, hostname: 'h', utcOffsetMinutes: () => 0 });
    const runner = plain(stepWith({ delayMs: 0 }));
    const out = await runner.run(ctx(facts({ messageId: 'v1' })));
    assert.match(out.type === 'continue' ? (out.addHeaders?.[0] ?? '') : '', /^X-Greylist: delayed 0 seconds by filter-rules-\d+\.\d+\.\d+ at h; /);
  });
});
