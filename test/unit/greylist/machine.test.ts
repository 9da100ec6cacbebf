/**
 * The state machine, driven by a FakeClock through a minimal in-test store
 * (two maps), so each test reads like a postgrey session log.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AUTO_WHITELIST_COUNT_INTERVAL_MS,
  decide,
  type ClientRecord,
  type GreylistPolicy,
  type TripletRecord,
  type Verdict,
} from '../../../src/greylist/machine.js';
import { buildTriplet, type Triplet } from '../../../src/greylist/triplet.js';
import { FakeClock } from '../../../src/support/clock.js';

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** postgrey's defaults: --delay 300, --retry-window 2 (days), --max-age 35, --auto-whitelist-clients 5. */
const DEFAULTS: GreylistPolicy = { delayMs: 5 * MIN, retryWindowMs: 2 * DAY, maxAgeMs: 35 * DAY, autoWhitelistAfter: 5 };

class Harness {
  readonly clock = new FakeClock();
  readonly triplets = new Map<string, TripletRecord>();
  readonly clients = new Map<string, ClientRecord>();
  constructor(
    readonly policy: GreylistPolicy = DEFAULTS,
    readonly prefixes = { ipv4Prefix: 24, ipv6Prefix: 64 },
  ) {}

  triplet(src: string, mailFrom: string, rcptTo: string): Triplet {
    const t = buildTriplet({ src, mailFrom, rcptTo }, this.prefixes);
    if (!t.ok) throw new Error(t.error);
    return t.value;
  }

  check(src: string, mailFrom = 'alice@example.org', rcptTo = 'bob@example.net'): Verdict {
    const t = this.triplet(src, mailFrom, rcptTo);
    const now = this.clock.now();
    const d = decide(this.policy, now, { triplet: this.triplets.get(t.key) ?? null, client: this.clients.get(t.client) ?? null });
    if (d.triplet) this.triplets.set(t.key, d.triplet);
    if (d.client) this.clients.set(t.client, d.client);
    return d.verdict;
  }

  /** Greylist a fresh triplet from `src` and let it pass after the delay. */
  passNew(src: string, n: number): Verdict {
    this.check(src, `s${n}@example.org`, `r${n}@example.net`);
    this.clock.advance(this.policy.delayMs);
    return this.check(src, `s${n}@example.org`, `r${n}@example.net`);
  }
}

const action = (v: Verdict): string => (v.action === 'greylist' ? `greylist:${v.reason}` : `pass:${v.reason}`);

describe('greylist state machine', () => {
  test('first sight → greylisted for the whole delay', () => {
    const h = new Harness();
    const t0 = h.clock.now();
    assert.deepEqual(h.check('192.0.2.1'), { action: 'greylist', reason: 'new', retryInMs: 5 * MIN, firstSeen: t0 });
  });

  test('early retry → still greylisted, with the time left, first-seen kept', () => {
    const h = new Harness();
    const t0 = h.clock.now();
    h.check('192.0.2.1');
    h.clock.advance(2 * MIN);
    assert.deepEqual(h.check('192.0.2.1'), { action: 'greylist', reason: 'early-retry', retryInMs: 3 * MIN, firstSeen: t0 });
    h.clock.advance(3 * MIN - 1);
    assert.deepEqual(h.check('192.0.2.1'), { action: 'greylist', reason: 'early-retry', retryInMs: 1, firstSeen: t0 });
  });

  test('retry once the delay is over → passes ("delayed", for the X-Greylist header), then "known"', () => {
    const h = new Harness();
    h.check('192.0.2.1');
    h.clock.advance(7 * MIN);
    assert.deepEqual(h.check('192.0.2.1'), { action: 'pass', reason: 'delayed', delayedMs: 7 * MIN, clientCount: 1 });
    h.clock.advance(1 * DAY);
    assert.deepEqual(h.check('192.0.2.1'), { action: 'pass', reason: 'known' });
  });

  test('records: a pending triplet lives until first-seen + retry-window, a passed one max-age after last seen', () => {
    const h = new Harness();
    const t0 = h.clock.now();
    h.check('192.0.2.1');
    const key = h.triplet('192.0.2.1', 'alice@example.org', 'bob@example.net').key;
    assert.deepEqual(h.triplets.get(key), { firstSeen: t0, lastSeen: t0, passed: false, expiresAt: t0 + 2 * DAY });
    h.clock.advance(MIN);
    h.check('192.0.2.1');
    assert.deepEqual(h.triplets.get(key), { firstSeen: t0, lastSeen: t0 + MIN, passed: false, expiresAt: t0 + 2 * DAY });
    h.clock.advance(5 * MIN);
    h.check('192.0.2.1');
    assert.deepEqual(h.triplets.get(key), { firstSeen: t0, lastSeen: t0 + 6 * MIN, passed: true, expiresAt: t0 + 6 * MIN + 35 * DAY });
  });

  test('first retry after the retry window → treated as new', () => {
    const h = new Harness();
    h.check('192.0.2.1');
    h.clock.advance(2 * DAY + 1);
    const restart = h.clock.now();
    assert.deepEqual(h.check('192.0.2.1'), { action: 'greylist', reason: 'new', retryInMs: 5 * MIN, firstSeen: restart });
    h.clock.advance(5 * MIN);
    assert.equal(action(h.check('192.0.2.1')), 'pass:delayed');
  });

  test('early retries do not extend the retry window (it counts from first sight)', () => {
    const h = new Harness({ ...DEFAULTS, delayMs: 3 * DAY });
    h.check('192.0.2.1');
    h.clock.advance(1 * DAY);
    assert.equal(action(h.check('192.0.2.1')), 'greylist:early-retry');
    h.clock.advance(1 * DAY + 1);
    assert.equal(action(h.check('192.0.2.1')), 'greylist:new');
  });

  test('a passed triplet expires max-age after it was last seen → new again', () => {
    const h = new Harness();
    h.passNew('192.0.2.1', 0);
    h.clock.advance(35 * DAY);
    assert.equal(action(h.check('192.0.2.1', 's0@example.org', 'r0@example.net')), 'pass:known');
    h.clock.advance(35 * DAY + 1);
    assert.equal(action(h.check('192.0.2.1', 's0@example.org', 'r0@example.net')), 'greylist:new');
  });

  test('delay 0 → the first sight passes', () => {
    const h = new Harness({ ...DEFAULTS, delayMs: 0 });
    assert.deepEqual(h.check('192.0.2.1'), { action: 'pass', reason: 'delayed', delayedMs: 0, clientCount: 1 });
  });

  describe('network grouping', () => {
    test('IPv4: hosts of one /24 share triplets, other networks do not', () => {
      const h = new Harness();
      h.check('192.0.2.1');
      h.clock.advance(5 * MIN);
      assert.equal(action(h.check('192.0.2.200')), 'pass:delayed');
      assert.equal(action(h.check('192.0.3.1')), 'greylist:new');
    });

    test('IPv6: hosts of one /64 share triplets', () => {
      const h = new Harness();
      h.check('2001:db8:a:b::1');
      h.clock.advance(5 * MIN);
      assert.equal(action(h.check('2001:db8:a:b:ffff:1:2:3')), 'pass:delayed');
      assert.equal(action(h.check('2001:db8:a:c::1')), 'greylist:new');
    });

    test('IPv4-mapped IPv6 continues the IPv4 triplet', () => {
      const h = new Harness();
      h.check('192.0.2.1');
      h.clock.advance(5 * MIN);
      assert.equal(action(h.check('::ffff:192.0.2.9')), 'pass:delayed');
    });

    test('configurable prefixes: /32 and /128 mean per host', () => {
      const h = new Harness(DEFAULTS, { ipv4Prefix: 32, ipv6Prefix: 128 });
      h.check('192.0.2.1');
      h.check('2001:db8::1');
      h.clock.advance(5 * MIN);
      assert.equal(action(h.check('192.0.2.2')), 'greylist:new');
      assert.equal(action(h.check('2001:db8::2')), 'greylist:new');
      assert.equal(action(h.check('192.0.2.1')), 'pass:delayed');
    });
  });

  test('sender normalization: list bounces with fresh VERP numbers are one triplet', () => {
    const h = new Harness();
    h.check('192.0.2.1', 'list-bounces-1001@lists.example');
    h.clock.advance(5 * MIN);
    assert.equal(action(h.check('192.0.2.1', 'list-bounces-1002@lists.example')), 'pass:delayed');
    assert.equal(action(h.check('192.0.2.1', 'list+1003@lists.example')), 'greylist:new');
  });

  test('the null sender is a sender like any other', () => {
    const h = new Harness();
    assert.equal(action(h.check('192.0.2.1', '')), 'greylist:new');
    h.clock.advance(5 * MIN);
    assert.equal(action(h.check('192.0.2.1', '')), 'pass:delayed');
    assert.equal(action(h.check('192.0.2.1', 'someone@example.org')), 'greylist:new');
  });

  describe('client auto-whitelist (postgrey --auto-whitelist-clients)', () => {
    test('after 5 first passes an hour apart, every new triplet from that client passes', () => {
      const h = new Harness();
      for (let i = 1; i <= 5; i++) {
        const v = h.passNew('203.0.113.5', i);
        assert.deepEqual(v, { action: 'pass', reason: 'delayed', delayedMs: 5 * MIN, clientCount: i });
        h.clock.advance(HOUR);
      }
      assert.deepEqual(h.check('203.0.113.5', 'brand-new@example.com', 'x@example.net'), {
        action: 'pass',
        reason: 'auto-whitelist',
        clientCount: 6,
      });
      // The auto-whitelist pass does not touch the triplet table.
      assert.equal(h.triplets.has(h.triplet('203.0.113.5', 'brand-new@example.com', 'x@example.net').key), false);
    });

    test('passes within the same hour count once', () => {
      const h = new Harness();
      assert.equal(h.passNew('203.0.113.5', 1).action === 'pass' && h.clients.get('203.0.113.5')?.count, 1);
      h.clock.advance(AUTO_WHITELIST_COUNT_INTERVAL_MS - 5 * MIN - 1);
      assert.deepEqual(h.passNew('203.0.113.5', 2), { action: 'pass', reason: 'delayed', delayedMs: 5 * MIN, clientCount: null });
      h.clock.advance(1);
      assert.deepEqual(h.passNew('203.0.113.5', 3), { action: 'pass', reason: 'delayed', delayedMs: 5 * MIN, clientCount: 2 });
    });

    test('repeat deliveries of an already passed triplet do not count', () => {
      const h = new Harness();
      h.passNew('203.0.113.5', 1);
      for (let i = 0; i < 10; i++) {
        h.clock.advance(2 * HOUR);
        assert.equal(action(h.check('203.0.113.5', 's1@example.org', 'r1@example.net')), 'pass:known');
      }
      assert.equal(h.clients.get('203.0.113.5')?.count, 1);
    });

    test('the whitelist is per client address, and IPv4-mapped counts as the IPv4 client', () => {
      const h = new Harness({ ...DEFAULTS, autoWhitelistAfter: 2 });
      h.passNew('203.0.113.5', 1);
      h.clock.advance(HOUR);
      h.passNew('::ffff:203.0.113.5', 2);
      h.clock.advance(HOUR);
      assert.equal(action(h.check('203.0.113.5', 'n@example.org', 'n@example.net')), 'pass:auto-whitelist');
      assert.equal(action(h.check('203.0.113.6', 'n@example.org', 'm@example.net')), 'greylist:new');
    });

    test('a whitelisted client is refreshed hourly and lapses max-age after its last refresh', () => {
      const h = new Harness({ ...DEFAULTS, autoWhitelistAfter: 1 });
      h.passNew('203.0.113.5', 1);
      const counted = h.clock.now();
      h.clock.advance(30 * MIN);
      assert.deepEqual(h.check('203.0.113.5', 'a@x.example', 'b@y.example'), { action: 'pass', reason: 'auto-whitelist', clientCount: 1 });
      assert.equal(h.clients.get('203.0.113.5')?.lastSeen, counted);
      h.clock.advance(30 * MIN);
      assert.deepEqual(h.check('203.0.113.5', 'a@x.example', 'b@y.example'), { action: 'pass', reason: 'auto-whitelist', clientCount: 2 });
      h.clock.advance(35 * DAY);
      assert.equal(action(h.check('203.0.113.5', 'c@x.example', 'd@y.example')), 'pass:auto-whitelist');
      h.clock.advance(35 * DAY + 1);
      assert.equal(action(h.check('203.0.113.5', 'e@x.example', 'f@y.example')), 'greylist:new');
    });

    test('0 disables it: no client records at all', () => {
      const h = new Harness({ ...DEFAULTS, autoWhitelistAfter: 0 });
      for (let i = 1; i <= 8; i++) {
        assert.deepEqual(h.passNew('203.0.113.5', i), { action: 'pass', reason: 'delayed', delayedMs: 5 * MIN, clientCount: null });
        h.clock.advance(HOUR);
      }
      assert.equal(h.clients.size, 0);
      assert.equal(action(h.check('203.0.113.5', 'new@x.example', 'y@y.example')), 'greylist:new');
    });
  });

  test('a first-seen in the future (another host with a fast clock) is taken as now', () => {
    const h = new Harness();
    const key = h.triplet('192.0.2.1', 'alice@example.org', 'bob@example.net').key;
    const now = h.clock.now();
    h.triplets.set(key, { firstSeen: now + HOUR, lastSeen: now + HOUR, passed: false, expiresAt: now + HOUR + 2 * DAY });
    assert.deepEqual(h.check('192.0.2.1'), { action: 'greylist', reason: 'new', retryInMs: 5 * MIN, firstSeen: now });
  });
});
