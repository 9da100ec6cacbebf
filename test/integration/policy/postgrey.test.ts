/**
 * The policy step against REAL postgrey 1.37 on unix sockets: greylisting
 * and the X-Greylist header after the delay, a crashed server, a hung one
 * (SIGSTOP) next to a healthy one, and recovery after a restart.
 * Needs root and the postgrey package; skipped otherwise.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyRunnerFactory } from '../../../src/steps/policy/run.js';
import type { StepContext, StepOutcome, StepRunner } from '../../../src/model/runner.js';
import type { CompiledStep, SessionFacts } from '../../../src/model/plan.js';
import type { PolicyAddress } from '../../../src/model/address.js';
import type { PolicyConnector } from '../../../src/policy/connection.js';
import { PolicyError } from '../../../src/policy/errors.js';
import { netConnector } from '../../../src/policy/net.js';
import { PolicyClients } from '../../../src/policy/registry.js';
import { systemClock } from '../../../src/support/clock.js';
import { RecordingLogger } from '../../../src/support/log.js';
import { waitFor } from '../../e2e/harness/wait.js';
import { Postgrey, postgreyUnavailable, sessionFacts } from './postgrey.js';
import { nameAndText } from '../../unit/steps/compiled.js';

const skip = postgreyUnavailable();

const span = { file: 'rules', line: 1, column: 1, endLine: 1, endColumn: 2 };
function step(address: PolicyAddress, timeoutMs: number): CompiledStep {
  const action: CompiledStep['action'] = { kind: 'policy', options: { flavor: 'postgrey', address, timeoutMs } };
  return {
    index: 0,
    action,
    ...nameAndText(action),
    phase: 'rcpt-to',
    when: null,
    whenText: null,
    span,
    onError: 'tempfail',
  };
}

function run(runner: StepRunner, facts: SessionFacts): Promise<StepOutcome> {
  const ctx: StepContext = { facts, phase: 'rcpt-to', request: 'rcpt-to', clock: systemClock, signal: new AbortController().signal };
  return Promise.resolve(runner.run(ctx));
}

async function timed<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown; ms: number }> {
  const t0 = performance.now();
  try {
    const value = await p;
    return { value, ms: performance.now() - t0 };
  } catch (error) {
    return { error, ms: performance.now() - t0 };
  }
}

describe('policy step with real postgrey', { skip: skip ?? false }, () => {
  let a: Postgrey;
  let b: Postgrey;
  let connects = 0;
  const counting: PolicyConnector = (address) => {
    connects += 1;
    return netConnector(address);
  };
  const log = new RecordingLogger();
  const pool = new PolicyClients({
    connect: counting,
    clock: systemClock,
    log,
    settings: { maxConnections: 4, initialBackoffMs: 50, maxBackoffMs: 200 },
  });
  const factory = createPolicyRunnerFactory({ clock: systemClock, log, pool });
  let addrA: PolicyAddress;
  let addrB: PolicyAddress;

  before(async () => {
    [a, b] = await Promise.all([Postgrey.start(1), Postgrey.start(1)]);
    addrA = { kind: 'unix', path: a.socket };
    addrB = { kind: 'unix', path: b.socket };
  });

  after(async () => {
    pool.destroyAll();
    await Promise.all([a?.dispose(), b?.dispose()]);
  });

  test('first triplet is greylisted (4xx), then passes with X-Greylist after the delay', { timeout: 20_000 }, async () => {
    const runner = factory(step(addrA, 2000));
    const facts = sessionFacts({ mailFrom: 'first@sender.example', rcptTo: 'bob@rcpt.example' });
    const first = await run(runner, facts);
    // DEFER_IF_PERMIT arms a deferral; with nothing after it in the phase, it is the answer.
    assert.ok(first.type === 'arm' && first.deferral.when === 'if-permit', JSON.stringify(first));
    // postgrey adds DSN 4.2.0 because we send etrn_domain like Postfix does.
    assert.equal(first.deferral.reply, '450 4.2.0 Greylisted, see http://postgrey.schweikert.ch/help/rcpt.example.html');
    assert.match(String(first.detail?.['answer']), /^DEFER_IF_PERMIT 4\.2\.0 Greylisted/);

    // The client retries; postgrey's own --delay=1 has to pass (whole seconds).
    const retryFacts = sessionFacts({ mailFrom: 'first@sender.example', rcptTo: 'bob@rcpt.example' });
    const passed = await waitFor(
      async () => {
        const out = await run(runner, retryFacts);
        return out.type === 'continue' && out;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'the retried triplet to pass greylisting' },
    );
    assert.equal(passed.addHeaders?.length, 1);
    assert.match(passed.addHeaders[0]!, /^X-Greylist: delayed [0-9]+ seconds by postgrey-1\.37 at filter-rules-test; /);

    // Same transaction, same triplet again: postgrey says DUNNO (header only once per instance).
    const again = await run(runner, retryFacts);
    assert.deepEqual(again.type === 'continue' ? again.addHeaders : 'not continue', undefined);
    assert.ok(log.records.some((r) => r.msg === 'policy answer' && typeof r.fields['latencyMs'] === 'number'));
  });

  test('a whitelisted client gets DUNNO: continue', { timeout: 10_000 }, async () => {
    const out = await run(factory(step(addrA, 2000)), sessionFacts({ rdns: 'lists.debian.org', mailFrom: 'w@debian.org' }));
    assert.deepEqual(out.type === 'continue' ? [out.type, out.addHeaders] : out, ['continue', undefined]);
  });

  test('hostile HELO/sender with newlines cannot inject attributes into postgrey', { timeout: 10_000 }, async () => {
    // If the newline went through, postgrey would see recipient=whitelisted@... or a second request.
    const out = await run(
      factory(step(addrA, 2000)),
      sessionFacts({ helo: 'evil\nclient_name=lists.debian.org', mailFrom: 'x@evil.example\n\nrequest=smtpd_access_policy' }),
    );
    assert.ok(out.type === 'arm', 'still greylisted: the forged client_name did not count');
    assert.match(a.stderr, /sender=x@evil\.example\?\?request=smtpd_access_policy/);
  });

  test('concurrent sessions share a bounded pool of reused connections', { timeout: 20_000 }, async () => {
    const runner = factory(step(addrB, 5000));
    const before = connects;
    const outs = await Promise.all(
      Array.from({ length: 24 }, (_, i) => run(runner, sessionFacts({ mailFrom: `c${i}@sender.example`, src: `192.0.2.${100 + i}` }))),
    );
    assert.ok(outs.every((o) => o.type === 'arm'), 'all greylisted');
    const opened = connects - before;
    assert.ok(opened >= 1 && opened <= 4, `opened ${opened} connections for 24 requests`);
    const stats = pool.get(addrB).stats();
    assert.ok(stats.idle + stats.busy <= 4);
  });

  test('hung postgrey (SIGSTOP): deadline → PolicyError(timeout), while the other server keeps answering', { timeout: 20_000 }, async () => {
    a.pause();
    try {
      const hung = timed(run(factory(step(addrA, 600)), sessionFacts({ mailFrom: 'hung@sender.example' })));
      const healthy = await Promise.all(
        Array.from({ length: 5 }, (_, i) => timed(run(factory(step(addrB, 2000)), sessionFacts({ mailFrom: `h${i}@sender.example` })))),
      );
      for (const h of healthy) {
        assert.ok(h.value && h.value.type === 'arm', `healthy server answered: ${String(h.error)}`);
        assert.ok(h.ms < 600, `healthy answer took ${h.ms} ms`);
      }
      const r = await hung;
      assert.ok(r.error instanceof PolicyError && r.error.kind === 'timeout', String(r.error));
      assert.ok(r.ms >= 590 && r.ms < 1500, `timed out after ${r.ms} ms`);
      // While it stays hung, further requests fail fast or by the deadline: never later.
      const next = await timed(run(factory(step(addrA, 600)), sessionFacts()));
      assert.ok(next.error instanceof PolicyError && ['timeout', 'unavailable'].includes(next.error.kind));
      assert.ok(next.ms < 1500);
    } finally {
      a.resume();
    }
  });

  test('postgrey killed: PolicyError well within the deadline; restarted: the client recovers', { timeout: 30_000 }, async () => {
    const runner = factory(step(addrA, 2000));
    // Make sure the pool holds a live connection to it first. The hung test before this one left the pool
    // backing off from this server: probe until a query is answered rather than guess how long that lasts.
    const warm = await waitFor(() => run(runner, sessionFacts({ rdns: 'lists.debian.org' })).catch(() => null), {
      timeoutMs: 5000,
      what: 'postgrey to answer a probe query (the backoff after the hung test to run out)',
      explain: () => JSON.stringify(pool.get(addrA).stats()),
    });
    assert.equal(warm.type, 'continue');

    await a.kill();
    const dead = await timed(run(runner, sessionFacts()));
    assert.ok(dead.error instanceof PolicyError, String(dead.error));
    assert.ok(['connect', 'closed', 'unavailable'].includes(dead.error.kind), dead.error.kind);
    assert.ok(dead.ms < 1000, `failed after ${dead.ms} ms`);

    await a.launch();
    const recovered = await waitFor(
      () => run(runner, sessionFacts({ mailFrom: 'first@sender.example', rcptTo: 'bob@rcpt.example' })).catch(() => null),
      { timeoutMs: 5000, what: 'an answer again after the restart' },
    );
    // Same database: the triplet that passed in the first test is known.
    assert.ok(recovered.type === 'continue', JSON.stringify(recovered));
    assert.equal(pool.get(addrA).stats().consecutiveFailures, 0);
  });
});
