/**
 * The one wiring of the step services (issue 11 plan §2.4): a service for
 * every catalogued kind, stand-ins through `replace`, `--offline` stubs for
 * the external kinds, `retain` and `close` reaching each service, and the
 * built-in services of a host made without any.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRulesSource } from '../../../src/dsl/index.js';
import type { CompiledRules, CompiledStep, StepKind } from '../../../src/model/plan.js';
import type { StepContext } from '../../../src/model/runner.js';
import { KINDS } from '../../../src/steps/catalogue.js';
import { StepUnavailableError, type StepService } from '../../../src/steps/service.js';
import { createServices, hostDefaultServices, SERVICES } from '../../../src/steps/services.js';
import { MemoryGreylistStore } from '../../../src/store/memory.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger } from '../../../src/support/log.js';
import { ok } from '../../../src/support/result.js';
import { facts } from '../runtime/helpers.js';

const ALL_KINDS = `chain a =
    pause 1s
    then accept when src ~ /^10\\./
    then reject "550 5.7.1 no" at helo when helo ~ /^x$/
    then disconnect "421 4.7.0 bye" when rdns ~ /^y$/
    then junk when rdns ~ /^z$/
    then postgrey unix:/run/postgrey.sock
    then greylist store "sqlite:/var/lib/filter-rules/a.db"
`;

function compiled(source: string): CompiledRules {
  const r = compileRulesSource(source, 'services.rules', { readFile: () => '' });
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map((d) => d.message).join('\n'));
  return r.rules;
}

function stepsOf(rules: CompiledRules): CompiledStep[] {
  return [...rules.chains.values()].flatMap((c) => [...c.steps]);
}

const ctx = (clock: FakeClock): StepContext => ({ facts: facts({ rcptTo: 'bob@example.org' }), phase: 'rcpt-to', request: 'rcpt-to', clock, signal: new AbortController().signal });

/** A stand-in that notes what the services asked of it. */
function noting(kind: StepKind, calls: string[]): StepService<never> {
  return {
    factory: (step) => ({ step, run: () => ({ type: 'continue' }) }),
    retain: () => void calls.push(`retain ${kind}`),
    close: async () => void calls.push(`close ${kind}`),
  };
}

describe('step services', () => {
  test('one service per catalogued kind, and only external ones ask another process or a store', () => {
    assert.deepEqual(Object.keys(SERVICES), Object.keys(KINDS));
    for (const [kind, spec] of Object.entries(SERVICES)) assert.equal(spec.kind, kind);
    assert.deepEqual(
      Object.values(SERVICES)
        .filter((s) => s.external)
        .map((s) => s.kind),
      ['policy', 'greylist', 'dnsbl', 'spf', 'rspamd'],
    );
  });

  test('retain and close reach every service once, in catalogue order; replace puts a stand-in in', async () => {
    const calls: string[] = [];
    const replace = Object.fromEntries(Object.keys(KINDS).map((k) => [k, noting(k as StepKind, calls)]));
    const services = createServices({ clock: new FakeClock(), log: new RecordingLogger(), platform: 'test' }, { replace });
    services.retain(compiled(ALL_KINDS));
    await services.close();
    const order = Object.keys(KINDS);
    assert.deepEqual(calls, [...order.map((k) => `retain ${k}`), ...order.map((k) => `close ${k}`)]);
  });

  test('the greylist service opens the stores the rules name at retain; offline, nothing is opened and the step goes on', async () => {
    const clock = new FakeClock();
    const opened: string[] = [];
    const deps = {
      clock,
      log: new RecordingLogger(),
      platform: 'test',
      greylist: { open: (url: string) => (opened.push(url), ok(new MemoryGreylistStore())) },
    };
    const rules = compiled(ALL_KINDS);
    const online = createServices(deps);
    online.retain(rules);
    assert.deepEqual(opened, ['sqlite:/var/lib/filter-rules/a.db']);
    await online.close();

    opened.length = 0;
    const offline = createServices(deps, { offline: true });
    offline.retain(rules);
    const runs = stepsOf(rules)
      .filter((s) => s.action.kind === 'policy' || s.action.kind === 'greylist')
      .map((s) => (offline[s.action.kind] as StepService).factory(s).run(ctx(clock)));
    assert.deepEqual(runs, [
      { type: 'continue', detail: { offline: true } },
      { type: 'continue', detail: { offline: true } },
    ]);
    assert.deepEqual(opened, []);
    await offline.close();
  });

  test('a host without services: the kinds without I/O run, policy and greylist are unavailable', () => {
    const clock = new FakeClock();
    const services = hostDefaultServices(clock, new RecordingLogger());
    for (const step of stepsOf(compiled(ALL_KINDS))) {
      const factory = (services[step.action.kind] as StepService).factory;
      if (SERVICES[step.action.kind].external) assert.throws(() => factory(step), StepUnavailableError);
      else assert.equal(factory(step).step, step);
    }
  });
});
