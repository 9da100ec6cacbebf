/**
 * pregreet on implicit TLS (smtps): the decision, and the pause with the real
 * socket-table watcher over a fake kernel table, on a FakeClock. During the
 * pause an smtps client's TLS ClientHello sits in the receive queue, exactly
 * like an early talker's EHLO: on an smtps port it must not count.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SMTPS_PORTS, isImplicitTls, parseSmtpsPorts } from '../../../../src/steps/pause/implicit-tls.js';
import { createPauseRunnerFactory, PayOnceMemory } from '../../../../src/steps/pause/run.js';
import type { PauseStep } from '../../../../src/steps/pause/run.js';
import type { StepContext, StepOutcome } from '../../../../src/model/runner.js';
import { FakeClock } from '../../../../src/support/clock.js';
import { RecordingLogger } from '../../../../src/support/log.js';
import type { Endpoints } from '../../../../src/support/proc-net-tcp.js';
import { SocketTableWatcher } from '../../../../src/support/proc-net-tcp-watch.js';
import { facts, settle } from '../../runtime/helpers.js';
import { FakeTables } from '../../support/fake-tables.js';
import { nameAndText } from '../compiled.js';

const REPLY = '554 5.5.1 Protocol error: data sent before the greeting';
const ESTABLISHED = 0x01;
const CLOSE_WAIT = 0x08;
/** What OpenSSL 3's ClientHello came to from swaks here (any non-zero count would do). */
const CLIENT_HELLO_BYTES = 517;

/** Connection n: client 198.51.100.n:5000n to 192.0.2.1 at the port given for it. */
function endpoints(ports: ReadonlyMap<number, number>): (n: number) => Endpoints {
  return (n) => ({ src: `198.51.100.${n}`, srcPort: 50000 + n, dest: '192.0.2.1', destPort: ports.get(n) ?? 25 });
}

function pauseStep(over: Partial<PauseStep['action']> = {}): PauseStep {
  const action: PauseStep['action'] = { kind: 'pause', durationMs: 3000, pregreet: { action: 'disconnect', reply: REPLY }, ...over };
  return {
    index: 0,
    action,
    ...nameAndText(action),
    phase: 'connect',
    when: null,
    whenText: null,
    span: { file: '/etc/mail/r.rules', line: 3, column: 5, endLine: 3, endColumn: 40 },
    onError: 'tempfail',
  };
}

function setup(ports: ReadonlyMap<number, number>, smtpsPorts?: ReadonlySet<number>) {
  const clock = new FakeClock();
  const tables = new FakeTables(endpoints(ports));
  const log = new RecordingLogger();
  const talkers: number[] = [];
  const payOnce = new PayOnceMemory(clock);
  const factory = createPauseRunnerFactory({
    clock,
    log,
    watcher: new SocketTableWatcher({ clock, read: tables.read }),
    payOnce,
    events: { earlyTalker: (_s, _a, bytes) => talkers.push(bytes) },
    ...(smtpsPorts !== undefined ? { smtpsPorts } : {}),
  });
  const ctxFor = (n: number): StepContext => {
    const e = endpoints(ports)(n);
    return { facts: facts({ ...e }), phase: 'connect', request: 'connect', clock, signal: new AbortController().signal };
  };
  return { clock, tables, log, talkers, payOnce, factory, ctxFor };
}

function start(r: StepOutcome | Promise<StepOutcome>): { outcome: StepOutcome | null } {
  const box: { outcome: StepOutcome | null } = { outcome: null };
  if (r instanceof Promise) void r.then((o) => (box.outcome = o));
  else box.outcome = r;
  return box;
}

/** Advance in watcher ticks, letting the table reads and the promise callbacks run. */
async function advance(clock: FakeClock, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 250) {
    clock.advance(Math.min(250, left));
    await settle();
  }
}

describe('implicit TLS: the decision', () => {
  test('by the listener port: 465 by default; never the local socket or an unknown port', () => {
    assert.deepEqual([...DEFAULT_SMTPS_PORTS], [465]);
    assert.equal(isImplicitTls({ local: false, destPort: 465 }, DEFAULT_SMTPS_PORTS), true);
    assert.equal(isImplicitTls({ local: false, destPort: 25 }, DEFAULT_SMTPS_PORTS), false);
    assert.equal(isImplicitTls({ local: false, destPort: 587 }, DEFAULT_SMTPS_PORTS), false);
    assert.equal(isImplicitTls({ local: true, destPort: 465 }, DEFAULT_SMTPS_PORTS), false);
    assert.equal(isImplicitTls({ local: false, destPort: null }, DEFAULT_SMTPS_PORTS), false);
    assert.equal(isImplicitTls({ local: false, destPort: 465 }, new Set()), false);
    assert.equal(isImplicitTls({ local: false, destPort: 10465 }, new Set([465, 10465])), true);
  });

  test('--smtps-ports: a comma list (sorted, repeats dropped) or none; anything else is refused', () => {
    assert.deepEqual(parseSmtpsPorts('465'), { ok: true, value: [465] });
    assert.deepEqual(parseSmtpsPorts('10465, 465,465'), { ok: true, value: [465, 10465] });
    assert.deepEqual(parseSmtpsPorts('none'), { ok: true, value: [] });
    for (const bad of ['', ' ', '0', '65536', '465,', 'smtps', '46 5', '-1', '4.65', '0x1d1']) {
      const r = parseSmtpsPorts(bad);
      assert.equal(r.ok, false, bad);
    }
  });
});

describe('pause pregreet with a ClientHello in the receive queue', () => {
  // Connection 1 goes to port 465, connection 2 to port 25; both have the same bytes queued.
  const PORTS = new Map([
    [1, 465],
    [2, 25],
  ]);

  test('on 465 the pause runs to its end and goes on; on 25 the same bytes are early talk, refused at the first read', async () => {
    const { clock, tables, talkers, factory, ctxFor, log } = setup(PORTS);
    const runner = factory(pauseStep());
    tables.rows.set(1, { st: ESTABLISHED, rx: CLIENT_HELLO_BYTES });
    tables.rows.set(2, { st: ESTABLISHED, rx: CLIENT_HELLO_BYTES });
    const smtps = start(runner.run(ctxFor(1)));
    const plain = start(runner.run(ctxFor(2)));
    await advance(clock, 250);
    assert.deepEqual(plain.outcome, {
      type: 'decide',
      decision: { type: 'disconnect', reply: REPLY },
      detail: { pregreet: 'talked', bytes: CLIENT_HELLO_BYTES, pausedMs: 250 },
    });
    assert.equal(smtps.outcome, null);
    await advance(clock, 2749);
    assert.equal(smtps.outcome, null, 'the pause itself still runs in full');
    await advance(clock, 1);
    assert.deepEqual(smtps.outcome, { type: 'continue', detail: { pausedMs: 3000, pregreet: 'implicit-tls' } });
    assert.deepEqual(talkers, [CLIENT_HELLO_BYTES], 'only the port-25 client counts as an early talker');
    const said = log.records.filter((r) => r.msg?.startsWith('pregreet is not applied on this port'));
    assert.equal(said.length, 1);
    assert.equal(said[0]?.fields['port'], 465);
  });

  test('pregreet log on 465: nothing logged or counted as early talk', async () => {
    const { clock, tables, talkers, factory, ctxFor, log } = setup(PORTS);
    tables.rows.set(1, { st: ESTABLISHED, rx: CLIENT_HELLO_BYTES });
    const box = start(factory(pauseStep({ pregreet: { action: 'log', reply: REPLY } })).run(ctxFor(1)));
    await advance(clock, 3000);
    assert.deepEqual(box.outcome, { type: 'continue', detail: { pausedMs: 3000, pregreet: 'implicit-tls' } });
    assert.deepEqual(talkers, []);
    assert.equal(log.records.filter((r) => r.msg?.startsWith('early talker')).length, 0);
  });

  test('a client on 465 that hangs up still ends the pause early', async () => {
    const { clock, tables, factory, ctxFor } = setup(PORTS);
    tables.rows.set(1, { st: ESTABLISHED, rx: CLIENT_HELLO_BYTES });
    const box = start(factory(pauseStep({ durationMs: 10_000 })).run(ctxFor(1)));
    await advance(clock, 500);
    assert.equal(box.outcome, null);
    // Gave up: its FIN behind the ClientHello.
    tables.rows.set(1, { st: CLOSE_WAIT, rx: CLIENT_HELLO_BYTES + 1 });
    await advance(clock, 250);
    assert.deepEqual(box.outcome, { type: 'continue', detail: { pause: 'client-gone', pausedMs: 750 } });
  });

  test('pay-once: waiting on 465 earns nothing (quiet cannot be seen there); credit earned on 25 is honoured on 465', async () => {
    const { clock, tables, payOnce, factory, ctxFor } = setup(PORTS);
    const runner = factory(pauseStep({ payOnceMs: 3_600_000 }));
    tables.rows.set(1, { st: ESTABLISHED, rx: CLIENT_HELLO_BYTES });
    const first = start(runner.run(ctxFor(1)));
    await advance(clock, 3000);
    assert.equal(first.outcome?.type, 'continue');
    assert.equal(payOnce.paidWithin('198.51.100.1', 3_600_000), false);
    const again = start(runner.run(ctxFor(1)));
    assert.equal(again.outcome, null, 'the next connection pays again');

    payOnce.remember('198.51.100.1', 3_600_000); // as a quiet wait on port 25 would
    const paid = start(runner.run(ctxFor(1)));
    assert.deepEqual(paid.outcome, { type: 'continue', detail: { pause: 'paid-once', pausedMs: 0 } });
  });

  test('--smtps-ports 10465: 465 is then an ordinary port, 10465 the smtps one', async () => {
    const ports = new Map([
      [1, 465],
      [3, 10465],
    ]);
    const { clock, tables, factory, ctxFor } = setup(ports, new Set([10465]));
    const runner = factory(pauseStep());
    tables.rows.set(1, { st: ESTABLISHED, rx: CLIENT_HELLO_BYTES });
    tables.rows.set(3, { st: ESTABLISHED, rx: CLIENT_HELLO_BYTES });
    const on465 = start(runner.run(ctxFor(1)));
    const on10465 = start(runner.run(ctxFor(3)));
    await advance(clock, 3000);
    assert.equal(on465.outcome?.type, 'decide');
    assert.deepEqual(on10465.outcome, { type: 'continue', detail: { pausedMs: 3000, pregreet: 'implicit-tls' } });
  });
});
