import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ListHealth, type HealthInput } from '../../../src/dns/health.js';
import { HealthMonitor, type WatchedList } from '../../../src/dns/health-monitor.js';
import type { ProbeFailure } from '../../../src/dns/health.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger } from '../../../src/support/log.js';
import { settle } from './fake-transport.js';

const SETTINGS = { failuresToDegrade: 3, probeIntervalMs: 300_000, degradedProbeIntervalMs: 60_000 };
const TIMEOUT: HealthInput = { type: 'lookup', error: { error: 'timeout', detail: 'EDEADLINE' } };
const REFUSED: HealthInput = { type: 'lookup', error: { error: 'list-refused', detail: '127.255.255.254' } };
const GOOD: HealthInput = { type: 'lookup', error: null };
const PASS: HealthInput = { type: 'probe', failure: null };

describe('a DNS list’s health (health.ts)', () => {
  test('one timeout never degrades a list; N errors in a row do, once, naming the likely cause', () => {
    const h = new ListHealth('address', SETTINGS);
    assert.equal(h.observe(TIMEOUT), null);
    assert.equal(h.observe(GOOD), null);
    assert.equal(h.observe(TIMEOUT), null);
    assert.equal(h.observe(REFUSED), null);
    assert.equal(h.state, 'up');
    const change = h.observe(REFUSED);
    assert.equal(change?.state, 'degraded');
    assert.match(change?.cause ?? '', /3 lookups in a row failed: .*public or open resolver/);
    assert.equal(h.observe(REFUSED), null, 'one change, one warning');
    assert.equal(h.state, 'degraded');
  });

  test('only a passing probe brings a degraded list back; a good lookup does not', () => {
    const h = new ListHealth('address', SETTINGS);
    for (let i = 0; i < 3; i++) h.observe(TIMEOUT);
    assert.equal(h.state, 'degraded');
    assert.equal(h.observe(GOOD), null);
    assert.equal(h.state, 'degraded');
    assert.equal(h.nextProbeInMs(), 60_000, 'a degraded list is probed sooner');
    assert.deepEqual(h.observe(PASS), { state: 'up', cause: 'the probes pass again' });
    assert.equal(h.nextProbeInMs(), 300_000);
    assert.equal(h.observe(PASS), null);
  });

  test('probes failing N times in a row degrade it, with the RFC 5782 cause; a pass between resets the count', () => {
    const h = new ListHealth('address', SETTINGS);
    const notListed: HealthInput = { type: 'probe', failure: { type: 'test-not-listed' } };
    h.observe(notListed);
    h.observe(notListed);
    h.observe(PASS);
    h.observe(notListed);
    assert.equal(h.observe(notListed), null);
    assert.match(h.observe(notListed)?.cause ?? '', /does not list its test entry 127\.0\.0\.2/);
    const d = new ListHealth('domain', SETTINGS);
    const everything: HealthInput = { type: 'probe', failure: { type: 'invalid-listed' } };
    d.observe(everything);
    d.observe(everything);
    assert.match(d.observe(everything)?.cause ?? '', /lists INVALID/);
  });

  test('fewer than 2 failures to degrade is refused: one timeout must never switch a list off', () => {
    assert.throws(() => new ListHealth('address', { ...SETTINGS, failuresToDegrade: 1 }), RangeError);
  });
});

describe('the lists’ health monitor (health-monitor.ts)', () => {
  function setup(failures: (ProbeFailure | null)[]) {
    const clock = new FakeClock();
    const log = new RecordingLogger();
    const states: string[] = [];
    let probes = 0;
    const monitor = new HealthMonitor({ clock, log, settings: SETTINGS, events: { health: (list, s) => states.push(`${list} ${s}`), forgotten: (list) => states.push(`${list} gone`) } });
    const list: WatchedList = {
      key: 'address zen.example system',
      name: 'zen',
      kind: 'address',
      probe: () => Promise.resolve(failures[probes++] ?? null),
    };
    return { clock, log, states, monitor, list, probed: () => probes };
  }

  test('probes at start and periodically on the injected clock; degraded after N failed rounds, up when one passes; one warning per change, without the zone', async () => {
    const refused: ProbeFailure = { type: 'error', error: 'list-refused', detail: '127.255.255.254' };
    const { clock, log, states, monitor, list, probed } = setup([refused, refused, refused, null]);
    monitor.watch([list]);
    await settle();
    assert.equal(probed(), 1);
    clock.advance(300_000);
    await settle();
    clock.advance(300_000);
    await settle();
    assert.equal(probed(), 3);
    assert.equal(monitor.isDegraded(list.key), true);
    clock.advance(59_999);
    await settle();
    assert.equal(probed(), 3);
    clock.advance(1);
    await settle();
    assert.equal(probed(), 4);
    assert.equal(monitor.isDegraded(list.key), false);
    assert.deepEqual(states, ['zen up', 'zen degraded', 'zen up']);
    const warnings = log.records.filter((r) => r.level === 'warn');
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]?.msg ?? '', /DNS list zen is degraded.*public or open resolver/);
    assert.doesNotMatch(JSON.stringify(log.records), /zen\.example/);
    monitor.watch([]);
    assert.deepEqual(states.at(-1), 'zen gone');
    assert.equal(clock.pending(), 0, 'a list no longer named is no longer probed');
  });

  test('lookups degrade a watched list; an unwatched one is never degraded; close stops the probes', async () => {
    const { clock, monitor, list } = setup([]);
    monitor.watch([list]);
    await settle();
    for (let i = 0; i < 3; i++) monitor.lookedUp(list.key, { error: 'servfail', detail: 'ESERVFAIL' });
    assert.equal(monitor.isDegraded(list.key), true);
    for (let i = 0; i < 3; i++) monitor.lookedUp('other', { error: 'servfail', detail: 'ESERVFAIL' });
    assert.equal(monitor.isDegraded('other'), false);
    monitor.close();
    assert.equal(clock.pending(), 0);
  });
});
