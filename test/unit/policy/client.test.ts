import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PolicyAddress } from '../../../src/model/address.js';
import { PolicyClient, type PolicyClientOptions } from '../../../src/policy/client.js';
import type { PolicyAnswer, PolicyAttribute } from '../../../src/policy/codec.js';
import { PolicyError } from '../../../src/policy/errors.js';
import { PolicyClients } from '../../../src/policy/registry.js';
import { policyAddressesOf } from '../../../src/steps/policy/run.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger, silentLogger } from '../../../src/support/log.js';
import type { CompiledRules, CompiledStep } from '../../../src/model/plan.js';
import { FakeNetwork, flush } from './fakes.js';
import { nameAndText } from '../steps/compiled.js';

const ADDR: PolicyAddress = { kind: 'unix', path: '/run/postgrey/postgrey.sock' };
const OTHER: PolicyAddress = { kind: 'tcp', host: '127.0.0.1', port: 10023 };

function req(tag: string): PolicyAttribute[] {
  return [
    ['request', 'smtpd_access_policy'],
    ['sender', tag],
  ];
}

function setup(overrides: Partial<PolicyClientOptions> = {}) {
  const net = new FakeNetwork();
  const clock = new FakeClock();
  const log = new RecordingLogger();
  const client = new PolicyClient({ address: ADDR, connect: net.connect, clock, log, ...overrides });
  return { net, clock, log, client };
}

/** Start a query and keep its outcome inspectable without awaiting. */
function start(client: PolicyClient, tag: string, timeoutMs = 2000, signal?: AbortSignal) {
  const state: { answer?: PolicyAnswer; error?: PolicyError } = {};
  const p = client.query(req(tag), signal ? { timeoutMs, signal } : { timeoutMs }).then(
    (a) => {
      state.answer = a;
    },
    (e: PolicyError) => {
      state.error = e;
    },
  );
  return { state, done: p };
}

function lastSender(written: string[]): string | undefined {
  const m = /sender=([^\n]*)\n\n$/.exec(written.at(-1) ?? '');
  return m?.[1];
}

describe('PolicyClient: reuse and pooling', () => {
  test('sequential requests reuse one connection', async () => {
    const { net, client } = setup();
    for (const tag of ['one', 'two', 'three']) {
      const q = start(client, tag);
      await flush();
      assert.equal(net.sockets.length, 1);
      assert.equal(lastSender(net.sockets[0]!.written), tag);
      net.sockets[0]!.answer(`action=DUNNO ${tag}\n\n`);
      await q.done;
      assert.equal(q.state.answer?.action, `DUNNO ${tag}`);
    }
    assert.equal(net.sockets[0]!.written.length, 3);
    assert.deepEqual(client.stats(), { idle: 1, busy: 0, waiting: 0, consecutiveFailures: 0, backoffUntil: 0 });
  });

  test('at most maxConnections sockets; others queue and get their own answers', async () => {
    const { net, client } = setup({ maxConnections: 3 });
    const qs = Array.from({ length: 10 }, (_, i) => start(client, `r${i}`));
    await flush();
    assert.equal(net.sockets.length, 3);
    assert.equal(client.stats().waiting, 7);
    // Each server answers whatever it was last asked, echoing the sender.
    for (let round = 0; round < 10; round++) {
      for (const s of net.sockets) {
        if (s.written.length > 0 && !s.destroyed) {
          const tag = lastSender(s.written);
          const answered = qs.some((q) => q.state.answer?.action === `DUNNO ${tag}`);
          if (!answered) s.answer(`action=DUNNO ${tag}\n\n`);
        }
      }
      await flush();
    }
    await Promise.all(qs.map((q) => q.done));
    qs.forEach((q, i) => assert.equal(q.state.answer?.action, `DUNNO r${i}`));
    assert.equal(net.sockets.length, 3, 'no more sockets than the limit');
    assert.equal(client.stats().idle, 3);
  });

  test('idle sockets do not keep the process alive; busy ones do', async () => {
    const { net, client } = setup();
    const q = start(client, 'a');
    await flush();
    const s = net.sockets[0]!;
    assert.equal(s.refed, true);
    s.answer('action=DUNNO\n\n');
    await q.done;
    assert.equal(s.refed, false);
    start(client, 'b');
    await flush();
    assert.equal(s.refed, true);
  });

  test('idle connections are closed after maxIdleMs', async () => {
    const { net, clock, client } = setup({ maxIdleMs: 30_000 });
    const q = start(client, 'a');
    await flush();
    net.sockets[0]!.answer('action=DUNNO\n\n');
    await q.done;
    clock.advance(29_999);
    assert.equal(net.sockets[0]!.destroyed, false);
    clock.advance(1);
    assert.equal(net.sockets[0]!.destroyed, true);
    assert.equal(client.stats().idle, 0);
  });
});

describe('PolicyClient: deadlines', () => {
  test('a timed-out request discards its connection; the late answer reaches nobody', async () => {
    const { net, clock, client } = setup({ initialBackoffMs: 100 });
    const slow = start(client, 'slow', 2000);
    await flush();
    clock.advance(1999);
    await flush();
    assert.equal(Object.keys(slow.state).length, 0, 'still pending at 1999 ms');
    clock.advance(1);
    await slow.done;
    assert.equal(slow.state.error?.kind, 'timeout');
    assert.equal(net.sockets[0]!.destroyed, true, 'connection discarded');

    clock.advance(100); // past the backoff the timeout caused
    const next = start(client, 'next');
    await flush();
    assert.equal(net.sockets.length, 2, 'a fresh connection');
    net.sockets[0]!.emit('data', Buffer.from('action=REJECT late answer for slow\n\n'));
    net.sockets[1]!.answer('action=DUNNO for next\n\n');
    await next.done;
    assert.equal(next.state.answer?.action, 'DUNNO for next');
  });

  test('a request waiting for a connection times out without touching others', async () => {
    const { net, clock, client } = setup({ maxConnections: 1 });
    const first = start(client, 'first', 5000);
    const queued = start(client, 'queued', 1000);
    await flush();
    assert.equal(client.stats().waiting, 1);
    clock.advance(1000);
    await queued.done;
    assert.equal(queued.state.error?.kind, 'timeout');
    assert.equal(client.stats().waiting, 0);
    assert.equal(net.sockets[0]!.destroyed, false, 'the busy connection is not affected');
    assert.equal(client.stats().consecutiveFailures, 0, 'queueing is not a server failure');
    net.sockets[0]!.answer('action=DUNNO\n\n');
    await first.done;
    assert.equal(first.state.answer?.action, 'DUNNO');
  });

  test('abort on the session signal discards the connection but is no server failure', async () => {
    const { net, client } = setup();
    const ac = new AbortController();
    const q = start(client, 'a', 2000, ac.signal);
    await flush();
    ac.abort();
    await q.done;
    assert.equal(q.state.error?.kind, 'aborted');
    assert.equal(net.sockets[0]!.destroyed, true);
    assert.equal(client.stats().consecutiveFailures, 0);
    const again = start(client, 'b');
    await flush();
    assert.equal(net.sockets.length, 2, 'no backoff after an abort');
    net.sockets[1]!.answer('action=DUNNO\n\n');
    await again.done;
    assert.equal(again.state.answer?.action, 'DUNNO');
  });

  test('an already aborted signal fails at once without connecting', async () => {
    const { net, client } = setup();
    const ac = new AbortController();
    ac.abort();
    const q = start(client, 'a', 2000, ac.signal);
    await q.done;
    assert.equal(q.state.error?.kind, 'aborted');
    assert.equal(net.sockets.length, 0);
  });

  test('settled requests leave no timers behind', async () => {
    const { net, clock, client } = setup({ maxIdleMs: 1000 });
    const q = start(client, 'a');
    await flush();
    net.sockets[0]!.answer('action=DUNNO\n\n');
    await q.done;
    assert.equal(clock.pending(), 1, 'only the idle timer');
  });
});

describe('PolicyClient: failures and backoff', () => {
  test('refused connection: error, then fail-fast during backoff, doubling, reset on success', async () => {
    const { net, clock, client, log } = setup({ initialBackoffMs: 100, maxBackoffMs: 1000 });
    net.mode = 'refuse';
    const a = start(client, 'a');
    await a.done;
    assert.equal(a.state.error?.kind, 'connect');
    assert.match(a.state.error!.message, /ECONNREFUSED/);
    assert.equal(client.stats().backoffUntil, 100);

    const b = start(client, 'b');
    await b.done;
    assert.equal(b.state.error?.kind, 'unavailable');
    assert.equal(net.sockets.length, 1, 'no connection attempt during backoff');

    clock.advance(100);
    const c = start(client, 'c');
    await c.done;
    assert.equal(c.state.error?.kind, 'connect');
    assert.equal(net.sockets.length, 2);
    assert.equal(client.stats().backoffUntil, 100 + 200, 'doubled');

    clock.advance(200);
    net.mode = 'accept';
    const d = start(client, 'd');
    await flush();
    net.sockets[2]!.answer('action=DUNNO\n\n');
    await d.done;
    assert.equal(d.state.answer?.action, 'DUNNO');
    assert.equal(client.stats().consecutiveFailures, 0);
    assert.equal(client.stats().backoffUntil, 0);
    assert.ok(log.records.some((r) => r.msg === 'policy server answers again'));
  });

  test('backoff is capped', async () => {
    const { net, clock, client } = setup({ initialBackoffMs: 100, maxBackoffMs: 250 });
    net.mode = 'refuse';
    for (let i = 0; i < 6; i++) {
      const q = start(client, `q${i}`);
      await q.done;
      assert.equal(q.state.error?.kind, 'connect');
      const wait = client.stats().backoffUntil - clock.monotonic();
      assert.ok(wait <= 250, `backoff ${wait}`);
      clock.advance(wait);
    }
  });

  test('after a backoff one probe goes first; the others wait for it', async () => {
    const { net, clock, client } = setup({ initialBackoffMs: 100 });
    net.mode = 'refuse';
    await start(client, 'x').done;
    clock.advance(100);
    net.mode = 'pending';
    const qs = ['p1', 'p2', 'p3'].map((t) => start(client, t));
    await flush();
    assert.equal(net.sockets.length, 2, 'one probe connection only');
    assert.equal(client.stats().waiting, 2);
    const probe = net.sockets[1]!;
    probe.accept();
    probe.answer('action=DUNNO p1\n\n');
    net.mode = 'accept';
    await flush();
    // The probe connection serves p2; p3 gets a new connection.
    for (const s of net.sockets.slice(1)) if (!s.destroyed) s.answer(`action=DUNNO ${lastSender(s.written)}\n\n`);
    await Promise.all(qs.map((q) => q.done));
    assert.deepEqual(
      qs.map((q) => q.state.answer?.action),
      ['DUNNO p1', 'DUNNO p2', 'DUNNO p3'],
    );
  });

  test('a failing probe fails the waiting requests at once', async () => {
    const { net, clock, client } = setup({ initialBackoffMs: 100 });
    net.mode = 'refuse';
    await start(client, 'x').done;
    clock.advance(100);
    net.mode = 'pending';
    const qs = ['p1', 'p2'].map((t) => start(client, t));
    await flush();
    net.sockets[1]!.refuse();
    await Promise.all(qs.map((q) => q.done));
    assert.deepEqual(
      qs.map((q) => q.state.error?.kind),
      ['connect', 'unavailable'],
    );
  });

  test('garbage from the server: protocol error, connection discarded', async () => {
    const { net, clock, client } = setup({ initialBackoffMs: 50 });
    const q = start(client, 'a');
    await flush();
    net.sockets[0]!.answer('<html>hello</html>\n');
    await q.done;
    assert.equal(q.state.error?.kind, 'protocol');
    assert.match(q.state.error!.message, /not a name=value line/);
    assert.equal(net.sockets[0]!.destroyed, true);
    clock.advance(50);
    const r = start(client, 'b');
    await flush();
    assert.equal(net.sockets.length, 2);
    net.sockets[1]!.answer('action=DUNNO\n\n');
    await r.done;
    assert.equal(r.state.answer?.action, 'DUNNO');
  });

  test('an overlong answer is a protocol error', async () => {
    const { net, client } = setup({ maxAnswerLength: 100 });
    const q = start(client, 'a');
    await flush();
    net.sockets[0]!.answer('action=' + 'A'.repeat(200));
    await q.done;
    assert.equal(q.state.error?.kind, 'protocol');
    assert.equal(net.sockets[0]!.destroyed, true);
  });

  test('server closes in the middle of an answer', async () => {
    const { net, client } = setup();
    const q = start(client, 'a');
    await flush();
    net.sockets[0]!.answer('action=DEFER_IF_PER');
    net.sockets[0]!.hangUp();
    await q.done;
    assert.equal(q.state.error?.kind, 'closed');
    assert.match(q.state.error!.message, /middle of an answer/);
  });

  test('server closes a fresh connection before answering: closed, counted as a failure', async () => {
    const { net, client } = setup();
    const q = start(client, 'a');
    await flush();
    net.sockets[0]!.hangUp();
    await q.done;
    assert.equal(q.state.error?.kind, 'closed');
    assert.equal(client.stats().consecutiveFailures, 1);
  });

  test('a reused connection the server just dropped is retried once on a new one', async () => {
    const { net, client } = setup();
    const a = start(client, 'a');
    await flush();
    net.sockets[0]!.answer('action=DUNNO\n\n');
    await a.done;
    // The server closes the idle connection just as the next request goes out.
    const b = start(client, 'b');
    net.sockets[0]!.hangUp();
    await flush();
    assert.equal(net.sockets.length, 2);
    assert.equal(lastSender(net.sockets[1]!.written), 'b');
    net.sockets[1]!.answer('action=DUNNO again\n\n');
    await b.done;
    assert.equal(b.state.answer?.action, 'DUNNO again');
    assert.equal(client.stats().consecutiveFailures, 0);
  });

  test('an idle connection closed by the server is dropped from the pool', async () => {
    const { net, client } = setup();
    const a = start(client, 'a');
    await flush();
    net.sockets[0]!.answer('action=DUNNO\n\n');
    await a.done;
    net.sockets[0]!.hangUp();
    assert.equal(client.stats().idle, 0);
    start(client, 'b');
    await flush();
    assert.equal(net.sockets.length, 2);
    assert.equal(net.sockets[0]!.written.length, 1, 'nothing written to the dead one');
  });

  test('an answer nobody asked for ends an idle connection', async () => {
    const { net, client } = setup();
    const a = start(client, 'a');
    await flush();
    net.sockets[0]!.answer('action=DUNNO\n\n');
    await a.done;
    net.sockets[0]!.answer('action=REJECT surprise\n\n');
    assert.equal(net.sockets[0]!.destroyed, true);
    assert.equal(client.stats().idle, 0);
  });

  test('two answers to one request: the first is used, the connection discarded', async () => {
    const { net, client } = setup();
    const a = start(client, 'a');
    await flush();
    net.sockets[0]!.answer('action=DUNNO\n\naction=REJECT\n\n');
    await a.done;
    assert.equal(a.state.answer?.action, 'DUNNO');
    assert.equal(net.sockets[0]!.destroyed, true);
    assert.equal(client.stats().idle, 0);
  });

  test('overloaded: the queue is bounded', async () => {
    const { client } = setup({ maxConnections: 1, maxQueue: 2 });
    start(client, 'a');
    start(client, 'b');
    start(client, 'c');
    const d = start(client, 'd');
    await d.done;
    assert.equal(d.state.error?.kind, 'overloaded');
  });

  test('a hung server: queued requests fail as soon as the in-flight one times out', async () => {
    const { net, clock, client } = setup({ maxConnections: 1, initialBackoffMs: 1000 });
    const first = start(client, 'first', 2000);
    const queued = start(client, 'queued', 5000);
    await flush();
    clock.advance(2000);
    await Promise.all([first.done, queued.done]);
    assert.equal(first.state.error?.kind, 'timeout');
    assert.equal(queued.state.error?.kind, 'unavailable', 'did not wait out its own 5 s');
    assert.equal(net.sockets.length, 1);
  });
});

describe('PolicyClient: close and destroy', () => {
  test('close(): idle connections end now, busy ones after their answer', async () => {
    const { net, client } = setup();
    const a = start(client, 'a');
    const b = start(client, 'b');
    await flush();
    net.sockets[0]!.answer('action=DUNNO\n\n');
    await a.done;
    client.close();
    assert.equal(net.sockets[0]!.destroyed, true, 'idle one closed');
    assert.equal(net.sockets[1]!.destroyed, false, 'busy one kept');
    net.sockets[1]!.answer('action=DUNNO\n\n');
    await b.done;
    assert.equal(b.state.answer?.action, 'DUNNO');
    assert.equal(net.sockets[1]!.destroyed, true);
  });

  test('destroy(): everything pending fails with shutdown, no backoff logged', async () => {
    const { net, client, log } = setup({ maxConnections: 1 });
    const a = start(client, 'a');
    const b = start(client, 'b');
    await flush();
    client.destroy();
    await Promise.all([a.done, b.done]);
    assert.equal(a.state.error?.kind, 'shutdown');
    assert.equal(b.state.error?.kind, 'shutdown');
    assert.equal(net.live().length, 0);
    assert.ok(!log.records.some((r) => r.msg === 'policy server failed; backing off'));
    const c = start(client, 'c');
    await c.done;
    assert.equal(c.state.error?.kind, 'shutdown');
  });

  test('options are validated at construction', () => {
    const net = new FakeNetwork();
    assert.throws(
      () => new PolicyClient({ address: ADDR, connect: net.connect, clock: new FakeClock(), log: silentLogger, maxConnections: 0 }),
      /maxConnections must be a positive integer/,
    );
  });
});

describe('PolicyClients registry', () => {
  function registry() {
    const net = new FakeNetwork();
    const clock = new FakeClock();
    const clients = new PolicyClients({ connect: net.connect, clock, log: silentLogger, settings: { maxConnections: 2 } });
    return { net, clock, clients };
  }

  test('one client per address, however obtained', () => {
    const { clients } = registry();
    const a = clients.get(ADDR);
    assert.equal(clients.get({ kind: 'unix', path: '/run/postgrey/postgrey.sock' }), a);
    assert.notEqual(clients.get(OTHER), a);
    assert.deepEqual(clients.keys().sort(), ['tcp:127.0.0.1:10023', 'unix:/run/postgrey/postgrey.sock']);
  });

  test('closeUnused keeps named addresses (and their connections) and closes the rest', async () => {
    const { net, clients } = registry();
    const kept = clients.get(ADDR);
    const gone = clients.get(OTHER);
    const qa = kept.query(req('a'), { timeoutMs: 1000 });
    const qb = gone.query(req('b'), { timeoutMs: 1000 });
    await flush();
    for (const s of net.sockets) s.answer('action=DUNNO\n\n');
    await Promise.all([qa, qb]);
    clients.closeUnused(['unix:/run/postgrey/postgrey.sock']);
    assert.equal(net.socketsTo(ADDR)[0]!.destroyed, false, 'reload keeps the connection');
    assert.equal(net.socketsTo(OTHER)[0]!.destroyed, true);
    assert.deepEqual(clients.keys(), ['unix:/run/postgrey/postgrey.sock']);
    assert.notEqual(clients.get(OTHER), gone, 'asked again: a new client');
  });

  test('a hung server does not hold up another server', async () => {
    const { net, clock, clients } = registry();
    const hung = clients.get(ADDR).query(req('hung'), { timeoutMs: 2000 }).catch((e: unknown) => e);
    const fine = clients.get(OTHER).query(req('fine'), { timeoutMs: 2000 });
    await flush();
    net.socketsTo(OTHER)[0]!.answer('action=DUNNO\n\n');
    assert.equal((await fine).action, 'DUNNO');
    clock.advance(2000);
    const e = await hung;
    assert.ok(e instanceof PolicyError && e.kind === 'timeout');
  });

  test('closeAll and destroyAll', async () => {
    const { net, clients } = registry();
    const p = clients.get(ADDR).query(req('a'), { timeoutMs: 1000 }).catch((e: unknown) => e);
    await flush();
    clients.destroyAll();
    const e = await p;
    assert.ok(e instanceof PolicyError && e.kind === 'shutdown');
    assert.equal(net.live().length, 0);
    assert.deepEqual(clients.keys(), []);
    clients.get(ADDR);
    clients.closeAll();
    assert.deepEqual(clients.keys(), []);
  });

  test('policyAddressesOf lists the policy steps of every chain', () => {
    const span = { file: 'r', line: 1, column: 1, endLine: 1, endColumn: 2 };
    const step = (index: number, action: CompiledStep['action']): CompiledStep => ({
      index,
      action,
      ...nameAndText(action),
      phase: 'rcpt-to',
      when: null,
      whenText: null,
      span,
      onError: 'tempfail',
    });
    const steps = [
      step(0, { kind: 'pause', durationMs: 1000 }),
      step(1, { kind: 'policy', options: { flavor: 'postgrey', address: ADDR, timeoutMs: 2000 } }),
      step(2, { kind: 'policy', options: { flavor: 'policy', address: OTHER, timeoutMs: 2000 } }),
    ];
    const rules: CompiledRules = {
      chains: new Map([['c', { name: 'c', span, steps, stepsByPhase: new Map([['rcpt-to', steps]]) }]]),
      files: [],
      needsDataLine: false,
    };
    assert.deepEqual(policyAddressesOf(rules), [ADDR, OTHER]);
  });
});

describe('PolicyClient: a connector that throws', () => {
  test('is a connect failure, not a crash', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const client = new PolicyClient({
      address: ADDR,
      connect: () => {
        calls += 1;
        throw new Error('path too long');
      },
      clock,
      log: silentLogger,
    });
    const q = start(client, 'a');
    await q.done;
    assert.equal(q.state.error?.kind, 'connect');
    assert.match(q.state.error!.message, /path too long/);
    assert.equal(clock.pending(), 0, 'no timer left behind');
    assert.equal(calls, 1);
  });
});
