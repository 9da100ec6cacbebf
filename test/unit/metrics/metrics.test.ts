/**
 * The metrics, scraped over real HTTP from an in-process endpoint while a
 * FilterHost (FakeClock) runs sessions through hand-built rules: the
 * counters a session should move do move, gauges follow pauses and
 * sessions, series of removed steps are dropped, and a port in use is not
 * fatal.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createPauseRunnerFactory, PayOnceMemory } from '../../../src/steps/pause/run.js';
import { PolicyError } from '../../../src/policy/errors.js';
import { stateless } from '../../../src/steps/service.js';
import { FilterHost } from '../../../src/runtime/host.js';
import { RecordingLogger, silentLogger } from '../../../src/support/log.js';
import { FilterMetrics } from '../../../src/metrics/filter-metrics.js';
import { startMetrics, type RunningMetrics } from '../../../src/metrics/index.js';
import { formatListenAddress, parseListenAddress } from '../../../src/metrics/listen-address.js';
import { startMetricsServer } from '../../../src/metrics/server.js';
import { FakeClock } from '../../../src/support/clock.js';
import { parseCliArgs } from '../../../src/cli/args.js';
import type { CompiledStep } from '../../../src/model/plan.js';
import type { FilterDecision } from '../../../src/model/decision.js';
import type { DecisionEvent, StepRanEvent } from '../../../src/runtime/events.js';
import { chain, facts, line, pause, reject, result, rules, settle, SID, SID2, SMTPD_68_CONFIG, testServices, when, FILE } from '../runtime/helpers.js';

/** `step` decided `sent` at helo, as requests.ts tells it. */
function decided(step: CompiledStep, sent: FilterDecision): DecisionEvent {
  const evaluation = { kind: 'decide', decision: sent, step, fault: null, faults: [], addHeaders: [], detail: {}, dryRuns: [], facts: facts(), stepMs: null, deferred: null } as const;
  return { type: 'decision', sessionId: SID, client: '192.0.2.1', request: 'helo', phase: 'helo', kind: 'decide', sent, note: null, evaluation, ms: 1 };
}

interface Scrape {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

function get(port: number, path = '/metrics', headers: Record<string, string> = {}): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of the sample `name{labels}` (labels: a subset that must match), or null. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const l of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(l);
    if (m === null || m[1] !== name) continue;
    const got = new Map<string, string>();
    for (const pair of (m[3] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) got.set(pair[1] ?? '', pair[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v)) return Number(m[4]);
  }
  return null;
}

const POLICY_STEP = { kind: 'policy', options: { flavor: 'postgrey', address: { kind: 'unix', path: '/run/pg.sock' }, timeoutMs: 1000 } } as const;
const GREYLIST_STEP = {
  kind: 'greylist',
  options: { delayMs: 300_000, maxAgeMs: 1, retryWindowMs: 1, autoWhitelistAfter: 5, ipv4Prefix: 24, ipv6Prefix: 64, store: 'sqlite:/x.db', header: false },
} as const;

/** A host with metrics wired the way the CLI does it, on a FakeClock. */
function rig(stepsChain = chain('main', [
  { action: pause(1000), phase: 'connect' },
  { action: reject('550 5.7.1 no thanks'), phase: 'helo', when: when.helo('bad.example') },
  { action: POLICY_STEP, phase: 'rcpt-to', onError: 'proceed' },
  { action: GREYLIST_STEP, phase: 'rcpt-to' },
]), limits: { maxSessions?: number } = {}) {
  const clock = new FakeClock();
  let host: FilterHost | null = null;
  let reloads = { applied: 0, rejected: 0 };
  const running: RunningMetrics = startMetrics({
    listen: { host: '127.0.0.1', port: 0 },
    chain: 'main',
    version: '9.9.9',
    log: silentLogger,
    defaultMetrics: false,
    sources: { sessions: () => host?.stats().sessions ?? 0, reloads: () => reloads },
  });
  const base = testServices({
    pause: stateless(createPauseRunnerFactory({ clock, log: silentLogger, watcher: null, payOnce: new PayOnceMemory(clock), events: running.metrics.pause })),
    policy: stateless((step) => ({
      step,
      run: () =>
        new Promise((_resolve, rejectRun) => clock.setTimer(40, () => rejectRun(new PolicyError('timeout', 'unix:/run/pg.sock', 'no answer')))),
    })),
    greylist: stateless((step) => ({ step, run: async () => ({ type: 'decide', decision: { type: 'reject', reply: '451 4.7.1 Greylisted' }, detail: { greylist: 'new' } }) })),
  });
  const written: string[] = [];
  const created = FilterHost.create({
    rules: rules([stepsChain]),
    chain: null,
    output: { write: (c) => (written.push(...String(c).split('\n').filter(Boolean)), true), once: () => undefined },
    clock,
    log: silentLogger,
    schedule: (fn) => fn(),
    services: base,
    events: running.metrics,
    limits,
  });
  if (!created.ok) throw new Error(created.error);
  host = created.value;
  const h = host;
  const feed = (...lines: string[]) => {
    for (const l of lines) h.feed(Buffer.from(`${l}\n`));
  };
  feed(...SMTPD_68_CONFIG);
  return {
    clock,
    host: h,
    feed,
    written,
    running,
    setReloads: (r: typeof reloads) => (reloads = r),
    port: async () => {
      const a = await running.server.ready;
      assert.ok(a, 'listening');
      return a.port;
    },
    advance: async (ms: number) => {
      clock.advance(ms);
      await settle();
    },
  };
}

describe('metrics: scraped over HTTP while sessions run', () => {
  const rigs: Array<ReturnType<typeof rig>> = [];
  after(async () => {
    for (const r of rigs) await r.running.close();
  });

  test('a session moves the decision, step, pause, policy and greylist counters', async () => {
    const r = rig();
    rigs.push(r);
    const port = await r.port();
    r.feed(line.connect(), line.request('connect', 'localhost|127.0.0.1'));
    // Paused: the gauge shows it.
    const during = await get(port);
    assert.equal(during.status, 200);
    assert.match(during.contentType, /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(during.body, 'filter_rules_paused_sessions'), 1);
    assert.equal(sample(during.body, 'filter_rules_sessions'), 1);
    await r.advance(1000);
    r.feed(line.request('ehlo', 'bad.example'));
    r.feed(line.request('ehlo', 'good.example'));
    r.feed(line.report('tx-begin', SID, 'a1b2c3d4'), line.request('mail-from', 'a@example.net'), line.request('rcpt-to', 'b@example.com'));
    // The policy server times out after 40 ms (the fake clock settles promises between steps).
    await r.advance(40);
    await r.advance(60);
    assert.ok(r.written.includes(result('ehlo', 'reject|550 5.7.1 no thanks')), r.written.join('\n'));
    assert.ok(r.written.includes(result('rcpt-to', 'reject|451 4.7.1 Greylisted')), r.written.join('\n'));

    const { body } = await get(port);
    const step = (i: number, kind: string) => ({ chain: 'main', step: String(i), kind, rule: `${FILE}:${i + 2}` });
    assert.equal(sample(body, 'filter_rules_paused_sessions'), 0);
    assert.equal(sample(body, 'filter_rules_decisions_total', { phase: 'connect', decision: 'proceed' }), 1);
    assert.equal(sample(body, 'filter_rules_decisions_total', { phase: 'ehlo', decision: 'reject' }), 1);
    assert.equal(sample(body, 'filter_rules_decisions_total', { phase: 'ehlo', decision: 'proceed' }), 1);
    assert.equal(sample(body, 'filter_rules_decisions_total', { phase: 'mail-from', decision: 'proceed' }), 1);
    assert.equal(sample(body, 'filter_rules_decisions_total', { phase: 'rcpt-to', decision: 'reject' }), 1);
    // The pause is in the connect latency.
    assert.equal(sample(body, 'filter_rules_decision_duration_seconds_bucket', { phase: 'connect', le: '0.5' }), 0);
    assert.equal(sample(body, 'filter_rules_decision_duration_seconds_bucket', { phase: 'connect', le: '1' }), 1);
    assert.equal(sample(body, 'filter_rules_decision_duration_seconds_count', { phase: 'ehlo' }), 2);
    assert.equal(sample(body, 'filter_rules_step_runs_total', step(0, 'pause')), 1);
    assert.equal(sample(body, 'filter_rules_step_runs_total', step(1, 'reject')), 1, 'ran once: its condition held once');
    assert.equal(sample(body, 'filter_rules_step_decisions_total', { ...step(1, 'reject'), decision: 'reject' }), 1);
    assert.equal(sample(body, 'filter_rules_step_decisions_total', { ...step(3, 'greylist'), decision: 'reject' }), 1);
    assert.equal(sample(body, 'filter_rules_step_errors_total', { ...step(2, 'policy'), timeout: 'false' }), 1);
    assert.equal(sample(body, 'filter_rules_pauses_total', { result: 'waited' }), 1);
    assert.equal(sample(body, 'filter_rules_policy_requests_total', { server: 'unix:/run/pg.sock', result: 'timeout' }), 1);
    assert.equal(sample(body, 'filter_rules_policy_request_duration_seconds_count', { server: 'unix:/run/pg.sock' }), 1);
    assert.equal(sample(body, 'filter_rules_policy_request_duration_seconds_sum', { server: 'unix:/run/pg.sock' }), 0.04);
    assert.equal(sample(body, 'filter_rules_greylist_checks_total', { result: 'new' }), 1);
    assert.equal(sample(body, 'filter_rules_build_info', { version: '9.9.9', chain: 'main' }), 1);
    // No process metrics when asked not to (tests); the CLI keeps them.
    assert.equal(sample(body, 'process_cpu_user_seconds_total'), null);
  });

  test('an early talker dropped by smtpd is counted; sessions gauge drops at disconnect', async () => {
    const r = rig();
    rigs.push(r);
    const port = await r.port();
    r.feed(line.connect(SID2), line.request('connect', 'localhost|127.0.0.1', SID2));
    await r.advance(1000);
    r.feed(line.report('protocol-server', SID2, '500 5.5.1 Invalid command: Pipelining not supported'), line.disconnect(SID2));
    const { body } = await get(port);
    assert.equal(sample(body, 'filter_rules_early_talkers_total', { detected_by: 'smtpd', action: 'dropped' }), 1);
    assert.equal(sample(body, 'filter_rules_sessions'), 0);
  });

  test('a full table counts its evictions; a request of an unknown session counts, with its tempfail among the decisions', async () => {
    const r = rig(undefined, { maxSessions: 1 });
    rigs.push(r);
    const port = await r.port();
    r.feed(line.connect(SID), line.connect(SID2));
    r.feed(line.request('helo', 'mx.example.net', SID));
    assert.ok(r.written.includes(result('helo', 'reject|451 4.3.0 Temporary failure, please try again later')));
    const { body } = await get(port);
    assert.equal(sample(body, 'filter_rules_sessions_evicted_total'), 1);
    assert.equal(sample(body, 'filter_rules_unknown_session_requests_total', { phase: 'helo' }), 1);
    assert.equal(sample(body, 'filter_rules_decisions_total', { phase: 'helo', decision: 'reject' }), 1);
    assert.equal(sample(body, 'filter_rules_sessions'), 1);
  });

  test('reload outcomes are mirrored from the reloader', async () => {
    const r = rig();
    rigs.push(r);
    const port = await r.port();
    r.setReloads({ applied: 2, rejected: 1 });
    const { body } = await get(port);
    assert.equal(sample(body, 'filter_rules_reloads_total', { result: 'applied' }), 2);
    assert.equal(sample(body, 'filter_rules_reloads_total', { result: 'rejected' }), 1);
    r.setReloads({ applied: 3, rejected: 1 });
    assert.equal(sample((await get(port)).body, 'filter_rules_reloads_total', { result: 'applied' }), 3);
  });

  test('OpenMetrics when the scraper asks for it; 404 elsewhere; 405 for POST', async () => {
    const r = rig();
    rigs.push(r);
    const port = await r.port();
    const om = await get(port, '/metrics', { accept: 'application/openmetrics-text; version=1.0.0,text/plain;q=0.5' });
    assert.match(om.contentType, /^application\/openmetrics-text/);
    assert.match(om.body, /# EOF\n$/);
    assert.match(om.body, /^# TYPE filter_rules_decisions counter$/m);
    assert.equal((await get(port, '/')).status, 404);
    const post = await new Promise<number>((resolve, rejectReq) => {
      const req = request({ host: '127.0.0.1', port, path: '/metrics', method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', rejectReq);
      req.end();
    });
    assert.equal(post, 405);
  });
});

describe('metrics: step series follow the rules', () => {
  test('series of steps that are gone after a reload are removed; kept steps keep counting', async () => {
    const first = chain('main', [
      { action: pause(0), phase: 'connect' },
      { action: reject('550 5.7.1 a'), phase: 'helo' },
    ]);
    const m = new FilterMetrics({ chain: 'main', version: 'x', defaultMetrics: false });
    for (const s of first.steps) {
      m.stepStarted(s);
      m.decision(decided(s, { type: 'reject', reply: '550 5.7.1 a' }));
    }
    let body = (await m.render()).body;
    assert.equal(sample(body, 'filter_rules_step_runs_total', { step: '1', rule: `${FILE}:3` }), 1);
    // The reject moved from line 3 to line 4: its old series goes, the pause's stays.
    const second = chain('main', [
      { action: pause(0), phase: 'connect' },
      { action: pause(0), phase: 'connect' },
      { action: reject('550 5.7.1 a'), phase: 'helo' },
    ]);
    m.rulesApplied(second);
    body = (await m.render()).body;
    assert.equal(sample(body, 'filter_rules_step_runs_total', { step: '1', rule: `${FILE}:3` }), null);
    assert.equal(sample(body, 'filter_rules_step_decisions_total', { step: '1', rule: `${FILE}:3` }), null);
    assert.equal(sample(body, 'filter_rules_step_runs_total', { step: '0', rule: `${FILE}:2` }), 1);
    // A session still on the old rules brings it back; the next change prunes it again.
    m.stepStarted(first.steps[1] ?? assert.fail());
    assert.equal(sample((await m.render()).body, 'filter_rules_step_runs_total', { step: '1', rule: `${FILE}:3` }), 1);
    m.rulesApplied(second);
    assert.equal(sample((await m.render()).body, 'filter_rules_step_runs_total', { step: '1', rule: `${FILE}:3` }), null);
  });

  test('a private registry: two instances do not share anything, nothing leaks into the global one', async () => {
    const client = (await import('prom-client')).default;
    const a = new FilterMetrics({ chain: 'a', version: 'x', defaultMetrics: false });
    const b = new FilterMetrics({ chain: 'b', version: 'x', defaultMetrics: false });
    a.pause.skipped?.(chain('a', [{ action: pause(1), phase: 'connect' }]).steps[0] ?? assert.fail());
    assert.equal(sample((await a.render()).body, 'filter_rules_pauses_total', { result: 'paid' }), 1);
    assert.equal(sample((await b.render()).body, 'filter_rules_pauses_total', { result: 'paid' }), null);
    assert.doesNotMatch(await client.register.metrics(), /filter_rules_/);
  });
});

describe('metrics: each kind’s own series, from the steps’ runs (step-metrics.ts)', () => {
  test('policy: latency and failure kind per server (other for an error without a kind); greylist: the result; spf: the result per identity; other kinds add nothing', async () => {
    const steps = chain('main', [
      { action: POLICY_STEP, phase: 'rcpt-to' },
      { action: GREYLIST_STEP, phase: 'rcpt-to' },
      { action: reject('550 5.7.1 a'), phase: 'rcpt-to' },
      { action: { kind: 'spf', options: { checkHelo: true, timeoutMs: 5000 } }, phase: 'mail-from' },
    ]).steps;
    const [policyStep, greylistStep, rejectStep, spfStep] = [steps[0] ?? assert.fail(), steps[1] ?? assert.fail(), steps[2] ?? assert.fail(), steps[3] ?? assert.fail()];
    const m = new FilterMetrics({ chain: 'main', version: 'x', defaultMetrics: false });
    const ran = (step: CompiledStep, ms: number, result: StepRanEvent['result']): void => m.stepRan({ type: 'step-ran', sessionId: SID, request: 'rcpt-to', step, ms, result });
    ran(policyStep, 250, { ok: true, outcome: { type: 'continue' } });
    ran(policyStep, 1000, { ok: false, error: 'no answer', errorKind: 'timeout' });
    ran(policyStep, 5, { ok: false, error: 'bug', errorKind: null });
    ran(greylistStep, 3, { ok: true, outcome: { type: 'continue', detail: { greylist: 'pass' } } });
    ran(greylistStep, 3, { ok: true, outcome: { type: 'continue' } });
    ran(greylistStep, 3, { ok: false, error: 'store down', errorKind: null });
    ran(rejectStep, 0, { ok: true, outcome: { type: 'decide', decision: { type: 'reject', reply: '550 5.7.1 a' } } });
    ran(spfStep, 4, { ok: true, outcome: { type: 'continue', detail: { spf: 'fail', domain: 'example.com', lookups: 0, 'spf-helo': 'pass', 'helo-domain': 'mx.example.com' } } });
    ran(spfStep, 4, { ok: true, outcome: { type: 'continue', detail: { spf: 'fail', domain: 'example.com', lookups: 0 } } });
    ran(spfStep, 1, { ok: true, outcome: { type: 'continue', detail: { spf: 'skipped' } } });
    ran(spfStep, 9, { ok: false, error: 'bug', errorKind: null });
    const body = (await m.render()).body;
    const server = 'unix:/run/pg.sock';
    assert.equal(sample(body, 'filter_rules_policy_requests_total', { server, result: 'answered' }), 1);
    assert.equal(sample(body, 'filter_rules_policy_requests_total', { server, result: 'timeout' }), 1);
    assert.equal(sample(body, 'filter_rules_policy_requests_total', { server, result: 'other' }), 1);
    assert.equal(sample(body, 'filter_rules_policy_request_duration_seconds_sum', { server }), 1.255);
    assert.equal(sample(body, 'filter_rules_greylist_checks_total', { result: 'pass' }), 1);
    assert.equal(sample(body, 'filter_rules_greylist_checks_total', { result: 'other' }), 1);
    assert.equal(sample(body, 'filter_rules_greylist_checks_total', { result: 'error' }), 1);
    assert.equal(sample(body, 'filter_rules_spf_checks_total', { identity: 'mailfrom', result: 'fail' }), 2);
    assert.equal(sample(body, 'filter_rules_spf_checks_total', { identity: 'helo', result: 'pass' }), 1);
    assert.equal(sample(body, 'filter_rules_spf_checks_total', { identity: 'mailfrom', result: 'skipped' }), 1);
    assert.equal(sample(body, 'filter_rules_spf_checks_total', { identity: 'mailfrom', result: 'error' }), 1);
    // Runs are not step runs: those count when a step starts (stepStarted).
    assert.equal(sample(body, 'filter_rules_step_runs_total', { kind: 'reject' }), null);
  });
});

describe('metrics: the DNS lists’ series, by display name (never the zone)', () => {
  test('lookups by result, errors by kind, latency, and `up` following the list’s health; a list no longer named loses its `up`', async () => {
    const m = new FilterMetrics({ chain: 'main', version: 'x', defaultMetrics: false });
    const d = m.dnsLists;
    d.health?.('zen', 'up');
    d.looked?.('zen', 'listed', null, 0.02);
    d.looked?.('zen', 'clear', null, 0);
    d.looked?.('zen', 'error', 'list-refused', 0.01);
    d.looked?.('zen', 'error', 'timeout', 2);
    let body = (await m.render()).body;
    assert.equal(sample(body, 'filter_rules_dns_list_up', { list: 'zen' }), 1);
    assert.equal(sample(body, 'filter_rules_dns_list_lookups_total', { list: 'zen', result: 'listed' }), 1);
    assert.equal(sample(body, 'filter_rules_dns_list_lookups_total', { list: 'zen', result: 'error' }), 2);
    assert.equal(sample(body, 'filter_rules_dns_list_errors_total', { list: 'zen', error: 'list-refused' }), 1);
    assert.equal(sample(body, 'filter_rules_dns_list_errors_total', { list: 'zen', error: 'timeout' }), 1);
    assert.equal(sample(body, 'filter_rules_dns_list_lookup_duration_seconds_count', { list: 'zen' }), 4);
    assert.equal(sample(body, 'filter_rules_dns_list_lookup_duration_seconds_sum', { list: 'zen' }), 2.03);
    d.health?.('zen', 'degraded');
    body = (await m.render()).body;
    assert.equal(sample(body, 'filter_rules_dns_list_up', { list: 'zen' }), 0);
    d.forgotten?.('zen');
    assert.equal(sample((await m.render()).body, 'filter_rules_dns_list_up', { list: 'zen' }), null);
  });
});

describe('metrics endpoint: binding', () => {
  test('a port in use is logged, not thrown; the filter goes on', async () => {
    const log = new RecordingLogger();
    const render = async () => ({ contentType: 'text/plain', body: '' });
    const first = startMetricsServer({ listen: { host: '127.0.0.1', port: 0 }, render, log });
    const bound = await first.ready;
    assert.ok(bound);
    const second = startMetricsServer({ listen: { host: '127.0.0.1', port: bound.port }, render, log });
    assert.equal(await second.ready, null);
    assert.ok(log.records.some((r) => r.level === 'error' && r.fields['err'] === 'EADDRINUSE'), JSON.stringify(log.records));
    await second.close();
    await first.close();
  });
});

describe('--metrics address', () => {
  test('a bare port binds loopback; host:port, [v6]:port', () => {
    assert.deepEqual(parseListenAddress('9464'), { ok: true, value: { host: '127.0.0.1', port: 9464 } });
    assert.deepEqual(parseListenAddress('0.0.0.0:9464'), { ok: true, value: { host: '0.0.0.0', port: 9464 } });
    assert.deepEqual(parseListenAddress('[::1]:9464'), { ok: true, value: { host: '::1', port: 9464 } });
    assert.deepEqual(parseListenAddress('localhost:1'), { ok: true, value: { host: 'localhost', port: 1 } });
    assert.equal(formatListenAddress({ host: '::1', port: 9464 }), '[::1]:9464');
  });

  test('mistakes come back as messages', () => {
    for (const bad of ['', 'x', ':9464', '127.0.0.1:', '127.0.0.1:70000', '::1:9464', '[nope]:1', 'a b:1']) {
      const r = parseListenAddress(bad);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.match(r.error, /--metrics/);
    }
  });
});

describe('--metrics on the command line', () => {
  test('off unless given; parsed into the run command', () => {
    const off = parseCliArgs(['r.rules']);
    assert.ok(off.ok && off.value.kind === 'run' && off.value.metrics === undefined);
    const on = parseCliArgs(['--metrics', '9464', '--chain', 'mx', 'r.rules']);
    assert.ok(on.ok && on.value.kind === 'run');
    assert.deepEqual(on.value.metrics, { host: '127.0.0.1', port: 9464 });
  });

  test('a bad address, or --metrics with check, is a usage mistake', () => {
    const bad = parseCliArgs(['--metrics', '127.0.0.1', 'r.rules']);
    assert.ok(!bad.ok && /--metrics 127\.0\.0\.1: the port must be/.test(bad.error));
    const check = parseCliArgs(['check', '--metrics', '9464', 'r.rules']);
    assert.ok(!check.ok && /not of check/.test(check.error));
  });
});
