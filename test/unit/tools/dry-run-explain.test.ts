/**
 * Dry-run steps and explained decisions, end to end through the real DSL and
 * the real filter host (FakeClock, in-memory output, recording logger).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StepOutcome } from '../../../src/model/runner.js';
import { runCheck } from '../../../src/cli/commands.js';
import { diffRules } from '../../../src/reload/diff.js';
import { describeSteps } from '../../../src/runtime/plan.js';
import { compile, compileOk, onlyChain } from '../dsl/helpers.js';
import { fakePolicy, HostHarness, line, result, settle, SID } from '../runtime/helpers.js';

function host(source: string, services?: Parameters<typeof fakePolicy>[0]): HostHarness {
  return new HostHarness(compileOk(source), services === undefined ? {} : { services: fakePolicy(services) });
}

const records = (h: HostHarness, msg: string) => h.log.records.filter((r) => r.msg === msg);

describe('dry-run in the grammar and the compiler', () => {
  test('`dry-run` in front of a step marks it; other steps are not marked', () => {
    const chain = onlyChain(compileOk('chain a =\n  pause 3s\n  then dry-run reject "550 5.7.1 x" when helo ~ /^x/\n'));
    assert.deepEqual(
      chain.steps.map((s) => s.dryRun),
      [false, true],
    );
    assert.deepEqual(describeSteps(chain), ['#0 pause at connect (test.rules:2)', '#1 dry-run reject at helo when helo ~ /^x/ (test.rules:3)']);
  });

  test('`dry-run` after a step is a syntax error that says where it goes', () => {
    const r = compile('chain a =\n  reject "550 5.7.1 x" when helo ~ /^x/ dry-run\n');
    assert.equal(r.ok, false);
    const d = r.ok ? undefined : r.diagnostics[0];
    assert.equal(d?.code, 'E004');
    assert.match(d?.hint ?? '', /goes in front of the action/);
  });

  test('an unconditional dry-run reject hides nothing (no W007); a real one does', () => {
    const dry = compile('chain a =\n  dry-run reject "550 5.7.1 x"\n  then junk\n');
    assert.ok(dry.ok);
    assert.deepEqual(dry.ok ? dry.warnings.map((w) => w.code) : null, ['W005']);
    const real = compile('chain a =\n  reject "550 5.7.1 x"\n  then junk\n');
    assert.ok(real.ok && real.warnings.some((w) => w.code === 'W007'));
  });

  test('a dry-run policy step never adds headers, so it does not need data-line', () => {
    assert.equal(compileOk('chain a = dry-run postgrey unix:/run/p.sock\n').needsDataLine, false);
    assert.equal(compileOk('chain a = postgrey unix:/run/p.sock\n').needsDataLine, true);
  });

  test('check does not list a dry-run policy step among the steps that need data-line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'filter-rules-dry-check-'));
    try {
      const file = join(dir, 'r.rules');
      writeFileSync(file, 'chain a =\n  dry-run postgrey unix:/run/p.sock\n');
      let out = '';
      assert.equal(runCheck(file, null, { out: (t) => void (out += t), err: () => {} }), 0);
      assert.match(out, /#0 dry-run policy at rcpt-to/);
      assert.doesNotMatch(out, /needs? the message lines/);
      writeFileSync(file, 'chain a =\n  postgrey unix:/run/p.sock\n');
      out = '';
      runCheck(file, null, { out: (t) => void (out += t), err: () => {} });
      assert.match(out, /1 step needs the message lines/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('whenFields: the fields a condition reads, in order of first use, once each', () => {
    const chain = onlyChain(
      compileOk('chain a =\n  junk when not fcrdns and rdns ~ /x/ or helo in { a.example } or rdns ~ /y/\n  then pause 1s\n'),
    );
    assert.deepEqual(chain.steps[0]?.whenFields, ['fcrdns', 'rdns', 'helo']);
    assert.deepEqual(chain.steps[1]?.whenFields, []);
  });

  test('a reload that only adds or removes `dry-run` is a change', () => {
    const a = compileOk('chain a = reject "550 5.7.1 x" when helo ~ /^x/\n');
    const b = compileOk('chain a = dry-run reject "550 5.7.1 x" when helo ~ /^x/\n');
    const diff = diffRules(a, b);
    assert.equal(diff.chainsChanged.length, 1);
    assert.deepEqual(diff.chainsChanged[0]?.stepsChanged[0]?.fields, ['dryRun']);
    assert.match(diff.chainsChanged[0]?.stepsChanged[0]?.after ?? '', /^dry-run reject/);
  });
});

describe('dry-run at run time', () => {
  test('a dry-run reject is logged as "would reject" and the next step decides', () => {
    const h = host('chain a =\n  dry-run reject "550 5.7.1 bare IP" when helo ~ /^\\[/\n  then reject "550 5.7.1 real" when helo ~ /^\\[192/\n');
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('ehlo', '[192.0.2.1]')), [result('ehlo', 'reject|550 5.7.1 real')]);
    const [dry] = records(h, 'dry-run');
    assert.equal(dry?.level, 'info');
    assert.equal(dry?.fields.would, 'reject');
    assert.equal(dry?.fields.reply, '550 5.7.1 bare IP');
    assert.equal(dry?.fields.rule, 'test.rules:2');
    assert.equal(dry?.fields.dryRun, true);
    assert.deepEqual(dry?.fields.values, { helo: '[192.0.2.1]' });
    assert.equal(records(h, 'decision')[0]?.fields.rule, 'test.rules:3');
  });

  test('a dry-run step alone changes nothing: smtpd gets proceed', () => {
    const h = host('chain a = dry-run disconnect "421 4.7.0 go away" when mail-from ~ /^bulk@/\n');
    h.feed(line.connect());
    assert.deepEqual(h.feed(line.request('mail-from', 'bulk@example.net')), [result('mail-from', 'proceed')]);
    assert.equal(records(h, 'dry-run')[0]?.fields.would, 'disconnect');
    assert.equal(records(h, 'decision').length, 0, 'nothing was decided');
  });

  test('a dry-run pause does not wait, and does not count as a pause for early talkers', () => {
    const h = host('chain a = dry-run pause 3s\n');
    h.feed(line.connect());
    const timers = h.host.stats().timers;
    assert.deepEqual(h.feed(line.request('connect', 'localhost|127.0.0.1')), [result('connect', 'proceed')], 'answered at once');
    assert.equal(h.host.stats().timers, timers, 'no pause timer');
    const [dry] = records(h, 'dry-run');
    assert.equal(dry?.fields.would, 'pause');
    assert.equal(dry?.fields.pausedMs, 3000);
    h.feed(line.report('protocol-server', SID, '500 5.5.1 Invalid command: Pipelining not supported'), line.disconnect());
    assert.equal(records(h, 'early talker dropped by smtpd')[0]?.fields.paused, false);
  });

  test('a failing dry-run step never tempfails, whatever its on-error', async () => {
    const h = host('chain a = dry-run policy unix:/run/p.sock on-error tempfail\n', async (): Promise<StepOutcome> => {
      throw new Error('connect ENOENT /run/p.sock');
    });
    h.feed(line.connect());
    h.feed(line.request('rcpt-to', 'b@example.com'));
    assert.deepEqual(await h.advance(0), [result('rcpt-to', 'proceed')]);
    const [dry] = records(h, 'dry-run');
    assert.equal(dry?.level, 'warn');
    assert.equal(dry?.fields.would, 'error');
    assert.match(String(dry?.fields.error), /ENOENT/);
    assert.equal(records(h, 'step failed').length, 0, 'not a fault of the request');
  });

  test('a dry-run policy step is asked; its answer is logged, not sent, and its header not added', async () => {
    let asked = 0;
    const h = host('chain a = dry-run postgrey unix:/run/p.sock\n', async (): Promise<StepOutcome> => {
      asked++;
      return { type: 'decide', decision: { type: 'reject', reply: '450 4.2.0 Greylisted' }, detail: { answer: 'DEFER_IF_PERMIT Greylisted', latencyMs: 4 } };
    });
    h.feed(line.connect());
    h.feed(line.request('rcpt-to', 'b@example.com'));
    assert.deepEqual(await h.advance(0), [result('rcpt-to', 'proceed')]);
    assert.equal(asked, 1);
    const [dry] = records(h, 'dry-run');
    assert.equal(dry?.fields.would, 'reject');
    assert.equal(dry?.fields.answer, 'DEFER_IF_PERMIT Greylisted');
    assert.equal(dry?.fields.latencyMs, 4);
  });
});

describe('explained decisions', () => {
  test('the decision line names the rule, the condition and the values it read', () => {
    const h = host('list trusted = { 10.0.0.0/8 }\nchain a =\n  reject "550 5.7.1 bare IP" when helo ~ /^\\[/ and not src in trusted\n');
    h.feed(line.connect(SID, '192.0.2.7:5000'));
    h.feed(line.request('ehlo', '[192.0.2.1]'));
    const [d] = records(h, 'decision');
    assert.equal(d?.fields.rule, 'test.rules:3');
    assert.equal(d?.fields.condition, 'helo ~ /^\\[/ and not src in trusted');
    assert.deepEqual(d?.fields.values, { helo: '[192.0.2.1]', src: '192.0.2.7' });
  });

  test('at data, rcpt-to reads every accepted recipient', () => {
    const h = host('chain a = reject "550 5.7.1 no postmaster mail" when rcpt-to in { postmaster@example.com } at data\n');
    h.feed(
      line.connect(),
      line.report('tx-begin', SID, 'a3de5186'),
      line.report('tx-rcpt', SID, 'a3de5186|ok|b@example.com'),
      line.report('tx-rcpt', SID, 'a3de5186|ok|postmaster@example.com'),
    );
    assert.deepEqual(h.feed(line.request('data')), [result('data', 'reject|550 5.7.1 no postmaster mail')]);
    assert.deepEqual(records(h, 'decision')[0]?.fields.values, { 'rcpt-to': ['b@example.com', 'postmaster@example.com'] });
  });

  test('a step without a condition explains nothing more than its rule', () => {
    const h = host('chain a = junk\n');
    h.feed(line.connect());
    h.feed(line.request('connect', 'localhost|127.0.0.1'));
    const [d] = records(h, 'decision');
    assert.equal(d?.fields.rule, 'test.rules:1');
    assert.equal('condition' in (d?.fields ?? {}), false);
    assert.equal('values' in (d?.fields ?? {}), false);
  });

  test('a long client-supplied value is shortened in the log', () => {
    const h = host('chain a = reject "550 5.7.1 no" when helo ~ /^a/\n');
    h.feed(line.connect());
    h.feed(line.request('ehlo', 'a'.repeat(5000)));
    const values = records(h, 'decision')[0]?.fields.values as Record<string, string>;
    assert.ok((values.helo ?? '').length <= 201);
  });

  test('a policy decision carries the server answer, its latency and the step latency', async () => {
    const h = host('chain a = postgrey unix:/run/p.sock when not fcrdns\n', async (ctx): Promise<StepOutcome> => {
      await new Promise<void>((resolve) => ctx.clock.setTimer(7, resolve));
      return { type: 'decide', decision: { type: 'reject', reply: '450 4.2.0 Greylisted' }, detail: { answer: 'DEFER_IF_PERMIT x', latencyMs: 7 } };
    });
    h.feed(line.connect(SID, '127.0.0.1:6000', '<unknown>').replace('|pass|', '|fail|'));
    h.feed(line.request('rcpt-to', 'b@example.com'));
    await settle();
    assert.deepEqual(await h.advance(7), [result('rcpt-to', 'reject|450 4.2.0 Greylisted')]);
    const [d] = records(h, 'decision');
    assert.equal(d?.fields.answer, 'DEFER_IF_PERMIT x');
    assert.equal(d?.fields.latencyMs, 7);
    assert.equal(d?.fields.stepMs, 7);
    assert.deepEqual(d?.fields.values, { fcrdns: 'fail' });
  });
});
