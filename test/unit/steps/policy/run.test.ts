import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createPolicyRunnerFactory, createPolicyService } from '../../../../src/steps/policy/run.js';
import type { StepContext, StepOutcome } from '../../../../src/model/runner.js';
import type { CompiledStep, SessionFacts } from '../../../../src/model/plan.js';
import type { PolicyAddress } from '../../../../src/model/address.js';
import type { RulePhase } from '../../../../src/model/phases.js';
import { PolicyError } from '../../../../src/policy/errors.js';
import { PolicyClients } from '../../../../src/policy/registry.js';
import { FakeClock } from '../../../../src/support/clock.js';
import { RecordingLogger } from '../../../../src/support/log.js';
import { FakeNetwork, type FakeSocket, facts, flush } from '../../policy/fakes.js';
import { nameAndText } from '../compiled.js';

const recorded = JSON.parse(
  readFileSync(new URL('../../../../../test/fixtures/policy/postgrey-1.37-answers.json', import.meta.url), 'utf8'),
) as { answers: Record<string, string> };

const ADDR: PolicyAddress = { kind: 'unix', path: '/run/postgrey/postgrey.sock' };
const span = { file: 'rules', line: 3, column: 5, endLine: 3, endColumn: 40 };

function policyStep(overrides: Partial<CompiledStep> = {}, timeoutMs = 2000): CompiledStep {
  const action: CompiledStep['action'] = { kind: 'policy', options: { flavor: 'postgrey', address: ADDR, timeoutMs } };
  return {
    index: 1,
    action,
    ...nameAndText(action),
    phase: 'rcpt-to',
    when: null,
    whenText: null,
    span,
    onError: 'tempfail',
    ...overrides,
  };
}

function setup(answer: (s: FakeSocket) => void = () => {}, timeoutMs = 2000) {
  const net = new FakeNetwork();
  const clock = new FakeClock();
  const log = new RecordingLogger();
  const pool = new PolicyClients({ connect: net.connect, clock, log });
  const factory = createPolicyRunnerFactory({ clock, log, pool });
  const runner = factory(policyStep({}, timeoutMs));
  // Answer each request as soon as it is written.
  net.onSocket = (s) => {
    const write = s.write.bind(s);
    s.write = (data: string) => {
      const r = write(data);
      queueMicrotask(() => answer(s));
      return r;
    };
    if (s.written.length > 0) queueMicrotask(() => answer(s));
  };
  const run = (f: SessionFacts = facts(), phase: RulePhase = 'rcpt-to', signal = new AbortController().signal) => {
    const ctx: StepContext = { facts: f, phase, request: phase === 'helo' ? 'ehlo' : phase, clock, signal };
    return runner.run(ctx);
  };
  return { net, clock, log, runner, run };
}

async function outcomeOf(p: StepOutcome | Promise<StepOutcome>): Promise<StepOutcome> {
  return await p;
}

describe('policy step runner', () => {
  test('first triplet (recorded DEFER_IF_PERMIT) → a 450 with the server text, armed for the rest of the phase', async () => {
    const { run, net, log } = setup((s) => s.answer(recorded.answers['first-triplet']!));
    const out = await outcomeOf(run());
    assert.deepEqual(out, {
      type: 'arm',
      deferral: { when: 'if-permit', reply: '450 4.7.1 Greylisted, see http://postgrey.schweikert.ch/help/rcpt.example.html' },
      detail: {
        policyServer: 'unix:/run/postgrey/postgrey.sock',
        answer: 'DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/rcpt.example.html',
        latencyMs: 0,
      },
    });
    const sent = net.sockets[0]!.requests()[0]!;
    assert.equal(sent.get('request'), 'smtpd_access_policy');
    assert.equal(sent.get('protocol_state'), 'RCPT');
    assert.equal(sent.get('recipient'), 'bob@rcpt.example');
    const info = log.records.find((r) => r.level === 'info' && r.msg === 'policy answer');
    assert.ok(info, 'non-DUNNO answers are logged');
    assert.equal(info.fields['latencyMs'], 0);
    assert.match(String(info.fields['answer']), /^DEFER_IF_PERMIT Greylisted/);
    assert.equal(info.fields['policyServer'], 'unix:/run/postgrey/postgrey.sock');
    assert.equal(info.fields['session'], '0123456789abcdef');
  });

  test('latency is measured on the injected clock', async () => {
    const { run, net, clock } = setup();
    const p = outcomeOf(run());
    await flush();
    clock.advance(137);
    net.sockets[0]!.answer('action=DUNNO\n\n');
    const out = await p;
    assert.equal(out.detail?.['latencyMs'], 137);
  });

  test('after the delay (recorded PREPEND) → continue with the X-Greylist header', async () => {
    const { run } = setup((s) => s.answer(recorded.answers['after-delay']!));
    const out = await outcomeOf(run());
    assert.equal(out.type, 'continue');
    assert.ok(out.type === 'continue');
    assert.deepEqual(out.addHeaders, ['X-Greylist: delayed 3 seconds by postgrey-1.37 at vm; Wed, 25 Nov 2026 20:28:14 UTC']);
  });

  test('PREPEND at commit is too late: continue without header, warned', async () => {
    const { run, log } = setup((s) => s.answer('action=PREPEND X-Test: 1\n\n'));
    const out = await outcomeOf(run(facts({ recipients: ['bob@rcpt.example'], rcptTo: null }), 'commit'));
    assert.ok(out.type === 'continue');
    assert.equal(out.addHeaders, undefined);
    assert.ok(log.records.some((r) => r.level === 'warn' && /too late/.test(r.msg ?? '')));
  });

  test('DUNNO → continue, logged at debug only', async () => {
    const { run, log } = setup((s) => s.answer(recorded.answers['whitelisted-client']!));
    const out = await outcomeOf(run());
    assert.ok(out.type === 'continue');
    assert.equal(out.addHeaders, undefined);
    assert.ok(!log.records.some((r) => r.level !== 'debug'));
  });

  test('REJECT → permanent reject; 421 → disconnect', async () => {
    const a = setup((s) => s.answer('action=REJECT no thanks\n\n'));
    const out = await outcomeOf(a.run());
    assert.ok(out.type === 'decide');
    assert.deepEqual(out.decision, { type: 'reject', reply: '550 5.7.1 no thanks' });
    const b = setup((s) => s.answer('action=421 4.7.0 too many\n\n'));
    const out2 = await outcomeOf(b.run());
    assert.ok(out2.type === 'decide');
    assert.deepEqual(out2.decision, { type: 'disconnect', reply: '421 4.7.0 too many' });
  });

  test('OK, RELAY, PERMIT and all digits → accept (Postfix: the restriction list ends with a permit)', async () => {
    for (const action of ['OK', 'RELAY whitelisted', 'permit', '1732550400']) {
      const { run, log } = setup((s) => s.answer(`action=${action}\n\n`));
      const out = await outcomeOf(run());
      assert.equal(out.type, 'accept', action);
      assert.equal(out.detail?.['answer'], action);
      assert.ok(log.records.some((r) => r.level === 'info' && r.msg === 'policy answer'), action);
    }
  });

  test('DEFER_IF_REJECT → arm: a later 5xx becomes this 450', async () => {
    const { run } = setup((s) => s.answer('action=DEFER_IF_REJECT 4.7.0 DNS lookup failed\n\n'));
    const out = await outcomeOf(run());
    assert.ok(out.type === 'arm');
    assert.deepEqual(out.deferral, { when: 'if-reject', reply: '450 4.7.0 DNS lookup failed' });
  });

  test('PREPEND with control characters → the header with spaces for them, warned', async () => {
    const { run, log } = setup((s) => s.answer('action=PREPEND X-Test: a\x0bb\x0cc\x1b[31md\x7fe\n\n'));
    const out = await outcomeOf(run());
    assert.ok(out.type === 'continue');
    assert.deepEqual(out.addHeaders, ['X-Test: a b c [31md e']);
    const w = log.records.find((r) => r.level === 'warn');
    assert.match(w?.msg ?? '', /sanitised/);
    assert.deepEqual(w?.fields['fixed'], ['controls']);
  });

  test('PREPEND whose bytes are not UTF-8 → no header (never U+FFFD in a header), warned; other actions unaffected', async () => {
    const bytes = Buffer.concat([Buffer.from('action=PREPEND X-Test: M'), Buffer.from([0xfc]), Buffer.from('ller\n\n')]);
    const { run, log } = setup((s) => s.answer(bytes));
    const out = await outcomeOf(run());
    assert.ok(out.type === 'continue');
    assert.equal(out.addHeaders, undefined);
    const w = log.records.find((r) => r.level === 'warn');
    assert.match(String(w?.fields['text']), /not valid UTF-8, ignored/);
    const reject = Buffer.concat([Buffer.from('action=REJECT M'), Buffer.from([0xfc]), Buffer.from('ller\n\n')]);
    const b = setup((s) => s.answer(reject));
    const out2 = await outcomeOf(b.run());
    assert.ok(out2.type === 'decide' && out2.decision.type === 'reject');
  });

  test('WARN → continue, logged at warn with the text', async () => {
    const { run, log } = setup((s) => s.answer('action=WARN suspicious\n\n'));
    const out = await outcomeOf(run());
    assert.equal(out.type, 'continue');
    const w = log.records.find((r) => r.level === 'warn');
    assert.equal(w?.fields['text'], 'suspicious');
  });

  test('an unknown action throws PolicyError(action) for the runtime on-error', async () => {
    const { run, log } = setup((s) => s.answer('action=reject_unknown_client_hostname\n\n'));
    await assert.rejects(outcomeOf(run()), (e: unknown) => e instanceof PolicyError && e.kind === 'action');
    assert.ok(log.records.some((r) => r.level === 'warn' && r.msg === 'policy answer not understood'));
  });

  test('an answer without action= throws PolicyError(action)', async () => {
    const { run } = setup((s) => s.answer('foo=bar\n\n'));
    await assert.rejects(outcomeOf(run()), (e: unknown) => e instanceof PolicyError && e.kind === 'action');
  });

  test('no answer within the step timeout → PolicyError(timeout), logged with latency', async () => {
    const { run, clock, log } = setup(() => {}, 1500);
    const p = outcomeOf(run());
    const settled = assert.rejects(p, (e: unknown) => e instanceof PolicyError && e.kind === 'timeout');
    await flush();
    clock.advance(1500);
    await settled;
    const w = log.records.find((r) => r.msg === 'policy request failed');
    assert.equal(w?.fields['latencyMs'], 1500);
    assert.equal(w?.fields['onError'], 'tempfail');
  });

  test('session abort → PolicyError(aborted)', async () => {
    const { run } = setup();
    const ac = new AbortController();
    const p = outcomeOf(run(facts(), 'rcpt-to', ac.signal));
    await flush();
    ac.abort();
    await assert.rejects(p, (e: unknown) => e instanceof PolicyError && e.kind === 'aborted');
  });

  test('the data phase sends DATA with the recipient count', async () => {
    const { run, net } = setup((s) => s.answer('action=DUNNO\n\n'));
    await outcomeOf(run(facts({ rcptTo: null, recipients: ['a@x.example', 'b@x.example'] }), 'data'));
    const sent = net.sockets[0]!.requests()[0]!;
    assert.equal(sent.get('protocol_state'), 'DATA');
    assert.equal(sent.get('recipient_count'), '2');
  });

  test('runners of one address share its connection (and survive a new factory, as after a reload)', async () => {
    const net = new FakeNetwork();
    const clock = new FakeClock();
    const log = new RecordingLogger();
    const pool = new PolicyClients({ connect: net.connect, clock, log });
    const ctx: StepContext = { facts: facts(), phase: 'rcpt-to', request: 'rcpt-to', clock, signal: new AbortController().signal };
    for (let i = 0; i < 3; i++) {
      const runner = createPolicyRunnerFactory({ clock, log, pool })(policyStep({ index: i }));
      const p = outcomeOf(runner.run(ctx));
      await flush();
      net.sockets[0]!.answer('action=DUNNO\n\n');
      await p;
    }
    assert.equal(net.sockets.length, 1);
  });

  test('the factory refuses other step kinds', () => {
    const { clock, log } = setup();
    const pool = new PolicyClients({ connect: new FakeNetwork().connect, clock, log });
    assert.throws(() => createPolicyRunnerFactory({ clock, log, pool })(policyStep({ action: { kind: 'junk' } })), /policy runner given a junk step/);
  });
});

describe('createPolicyService', () => {
  test('retain closes servers no rule names; close drops everything', async () => {
    const net = new FakeNetwork();
    const clock = new FakeClock();
    const service = createPolicyService({ clock, log: new RecordingLogger(), connect: net.connect });
    const other: PolicyAddress = { kind: 'tcp', host: '127.0.0.1', port: 10023 };
    const ctx: StepContext = { facts: facts(), phase: 'rcpt-to', request: 'rcpt-to', clock, signal: new AbortController().signal };
    for (const address of [ADDR, other]) {
      const runner = service.factory(policyStep({ action: { kind: 'policy', options: { flavor: 'policy', address, timeoutMs: 1000 } } }));
      const p = Promise.resolve(runner.run(ctx));
      await flush();
      net.socketsTo(address)[0]!.answer('action=DUNNO\n\n');
      await p;
    }
    const kept = policyStep();
    service.retain({
      chains: new Map([['c', { name: 'c', span, steps: [kept], stepsByPhase: new Map([['rcpt-to', [kept]]]) }]]),
      files: [],
      needsDataLine: false,
    });
    assert.deepEqual(service.clients.keys(), ['unix:/run/postgrey/postgrey.sock']);
    assert.equal(net.socketsTo(other)[0]!.destroyed, true);
    assert.equal(net.socketsTo(ADDR)[0]!.destroyed, false);
    await service.close();
    assert.equal(net.live().length, 0);
  });
});
