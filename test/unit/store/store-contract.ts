/**
 * The behaviour every GreylistStore must have, as one suite that each store's
 * test file runs against its own harness (memory here, SQLite and a real
 * Redis in test/integration/store). The property test at the end compares a
 * store with the pure state machine over random histories.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decide, type ClientRecord, type GreylistPolicy, type TripletRecord, type Verdict } from '../../../src/greylist/machine.js';
import { buildTriplet, type Triplet } from '../../../src/greylist/triplet.js';
import type { ClientEntry, GreylistStore, ListPage, TripletEntry } from '../../../src/store/types.js';

export interface StoreHarness {
  /** A fresh, empty store (its own file or key prefix). */
  open(): Promise<GreylistStore>;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
export const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);

export const POLICY: GreylistPolicy = { delayMs: 5 * MIN, retryWindowMs: 2 * DAY, maxAgeMs: 35 * DAY, autoWhitelistAfter: 5 };

export function triplet(src: string, mailFrom: string, rcptTo: string): Triplet {
  const t = buildTriplet({ src, mailFrom, rcptTo }, { ipv4Prefix: 24, ipv6Prefix: 64 });
  if (!t.ok) throw new Error(t.error);
  return t.value;
}

const T = triplet('192.0.2.10', 'alice@example.org', 'bob@example.net');

/** Every client record, across pages (a SCAN page may be empty while more follow). */
export async function allClients(store: GreylistStore): Promise<ClientEntry[]> {
  const out: ClientEntry[] = [];
  let cursor: string | null = null;
  do {
    const page: ListPage<ClientEntry> = await store.listClients({ limit: 10, cursor });
    out.push(...page.items);
    cursor = page.cursor;
  } while (cursor !== null);
  return out;
}

/** Every triplet record, across pages. */
export async function allTriplets(store: GreylistStore, limit = 10): Promise<TripletEntry[]> {
  const out: TripletEntry[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: ListPage<TripletEntry> = await store.listTriplets({ limit, cursor });
    out.push(...page.items);
    cursor = page.cursor;
    assert.ok(++pages < 1000, 'paging terminates');
  } while (cursor !== null);
  return out;
}

/** Runs `body` with a fresh store and always closes it. */
async function withStore(harness: StoreHarness, body: (s: GreylistStore) => Promise<void>): Promise<void> {
  const store = await harness.open();
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

export function defineStoreContract(harness: StoreHarness): void {
  test('first sight greylists, an early retry is held with the remaining time, the retry after the delay passes', () =>
    withStore(harness, async (s) => {
      assert.deepEqual(await s.check(T, POLICY, T0), { action: 'greylist', reason: 'new', retryInMs: 5 * MIN, firstSeen: T0 });
      assert.deepEqual(await s.check(T, POLICY, T0 + MIN), {
        action: 'greylist',
        reason: 'early-retry',
        retryInMs: 4 * MIN,
        firstSeen: T0,
      });
      assert.deepEqual(await s.check(T, POLICY, T0 + 5 * MIN), {
        action: 'pass',
        reason: 'delayed',
        delayedMs: 5 * MIN,
        clientCount: 1,
      });
      assert.deepEqual(await s.check(T, POLICY, T0 + 6 * MIN), { action: 'pass', reason: 'known' });
    }));

  test('triplets are independent: another recipient or sender is new', () =>
    withStore(harness, async (s) => {
      await s.check(T, POLICY, T0);
      await s.check(T, POLICY, T0 + 10 * MIN);
      const other = triplet('192.0.2.10', 'alice@example.org', 'carol@example.net');
      assert.equal((await s.check(other, POLICY, T0 + 11 * MIN)).action, 'greylist');
      const otherSender = triplet('192.0.2.10', 'mallory@example.org', 'bob@example.net');
      assert.equal((await s.check(otherSender, POLICY, T0 + 11 * MIN)).action, 'greylist');
    }));

  test('a retry from another host of the same /24 continues the same triplet', () =>
    withStore(harness, async (s) => {
      await s.check(triplet('192.0.2.10', 'a@x.example', 'b@y.example'), POLICY, T0);
      const v = await s.check(triplet('192.0.2.200', 'a@x.example', 'b@y.example'), POLICY, T0 + 6 * MIN);
      assert.equal(v.action === 'pass' && v.reason, 'delayed');
      const far = await s.check(triplet('198.51.100.1', 'a@x.example', 'b@y.example'), POLICY, T0 + 7 * MIN);
      assert.equal(far.action, 'greylist');
    }));

  test('a first retry after the retry window starts over', () =>
    withStore(harness, async (s) => {
      await s.check(T, POLICY, T0);
      const late = T0 + 2 * DAY + 1;
      assert.deepEqual(await s.check(T, POLICY, late), { action: 'greylist', reason: 'new', retryInMs: 5 * MIN, firstSeen: late });
      const v = await s.check(T, POLICY, late + 5 * MIN);
      assert.equal(v.action === 'pass' && v.reason, 'delayed');
    }));

  test('a retry at exactly the end of the retry window still counts', () =>
    withStore(harness, async (s) => {
      await s.check(T, POLICY, T0);
      const v = await s.check(T, POLICY, T0 + 2 * DAY);
      assert.equal(v.action === 'pass' && v.reason, 'delayed');
    }));

  test('a passed triplet expires max-age after it was last seen, and each sighting extends it', () =>
    withStore(harness, async (s) => {
      await s.check(T, POLICY, T0);
      await s.check(T, POLICY, T0 + 5 * MIN); // passes
      const seen = T0 + 30 * DAY;
      assert.deepEqual(await s.check(T, POLICY, seen), { action: 'pass', reason: 'known' });
      assert.deepEqual(await s.check(T, POLICY, seen + 35 * DAY), { action: 'pass', reason: 'known' });
      const v = await s.check(T, POLICY, seen + 70 * DAY + 1);
      assert.equal(v.action === 'greylist' && v.reason, 'new');
    }));

  test('a client is auto-whitelisted after 5 passes, counted at most once per hour', () =>
    withStore(harness, async (s) => {
      const client = '203.0.113.9';
      let now = T0;
      const pass = async (i: number): Promise<Verdict> => {
        const t = triplet(client, `sender${'x'.repeat(i)}@example.org`, `rcpt${i}@example.net`);
        await s.check(t, POLICY, now);
        return s.check(t, POLICY, now + 5 * MIN);
      };
      // Two passes within the same hour count once.
      assert.deepEqual(await pass(0), { action: 'pass', reason: 'delayed', delayedMs: 5 * MIN, clientCount: 1 });
      now += 10 * MIN;
      assert.deepEqual(await pass(1), { action: 'pass', reason: 'delayed', delayedMs: 5 * MIN, clientCount: null });
      for (let i = 2; i <= 5; i++) {
        now += HOUR;
        const v = await pass(i);
        assert.equal(v.action === 'pass' && v.reason === 'delayed' && v.clientCount, i);
      }
      now += HOUR;
      const fresh = triplet(client, 'someone-new@example.com', 'rcpt-new@example.net');
      // Last counted at now - 55 min: whitelisted, not refreshed within the hour (count stays).
      assert.deepEqual(await s.check(fresh, POLICY, now), { action: 'pass', reason: 'auto-whitelist', clientCount: 5 });
      // An hour after it was last counted, a sighting refreshes it (postgrey counts it "for statistics").
      assert.deepEqual(await s.check(fresh, POLICY, now + 5 * MIN), { action: 'pass', reason: 'auto-whitelist', clientCount: 6 });
      assert.deepEqual(await s.check(fresh, POLICY, now + 6 * MIN), { action: 'pass', reason: 'auto-whitelist', clientCount: 6 });
      // The whitelist is per client address, not per network.
      const neighbour = triplet('203.0.113.10', 'someone-new@example.com', 'rcpt-new2@example.net');
      assert.equal((await s.check(neighbour, POLICY, now + 2 * MIN)).action, 'greylist');
      // It lapses max-age after the client was last counted.
      const later = now + 5 * MIN + 35 * DAY + 1;
      const lapsed = triplet(client, 'after-lapse@example.com', 'rcpt-lapse@example.net');
      assert.equal((await s.check(lapsed, POLICY, later)).action, 'greylist');
    }));

  test('autoWhitelistAfter 0 disables the client whitelist', () =>
    withStore(harness, async (s) => {
      const off: GreylistPolicy = { ...POLICY, autoWhitelistAfter: 0 };
      for (let i = 0; i < 7; i++) {
        const t = triplet('203.0.113.20', `s${'y'.repeat(i)}@example.org`, `r${i}@example.net`);
        const first = await s.check(t, off, T0 + i * 2 * HOUR);
        assert.equal(first.action, 'greylist', `triplet ${i}`);
        const v = await s.check(t, off, T0 + i * 2 * HOUR + 5 * MIN);
        assert.deepEqual(v, { action: 'pass', reason: 'delayed', delayedMs: 5 * MIN, clientCount: null });
      }
      assert.deepEqual(await allClients(s), []);
    }));

  test('the null sender is greylisted like any other sender', () =>
    withStore(harness, async (s) => {
      const bounce = triplet('192.0.2.10', '', 'bob@example.net');
      assert.equal(bounce.key, '192.0.2.0//bob@example.net');
      assert.equal((await s.check(bounce, POLICY, T0)).action, 'greylist');
      const v = await s.check(bounce, POLICY, T0 + 5 * MIN);
      assert.equal(v.action === 'pass' && v.reason, 'delayed');
    }));

  test('a first-seen in the future (clock skew between hosts) is corrected to now', () =>
    withStore(harness, async (s) => {
      await s.check(T, POLICY, T0 + 10 * MIN);
      assert.deepEqual(await s.check(T, POLICY, T0), { action: 'greylist', reason: 'new', retryInMs: 5 * MIN, firstSeen: T0 });
    }));

  test('concurrent checks of a passing triplet count exactly one first pass', () =>
    withStore(harness, async (s) => {
      await s.check(T, POLICY, T0);
      const verdicts = await Promise.all(Array.from({ length: 40 }, () => s.check(T, POLICY, T0 + 5 * MIN)));
      assert.equal(verdicts.filter((v) => v.action === 'pass' && v.reason === 'delayed').length, 1);
      assert.equal(verdicts.filter((v) => v.action === 'pass' && v.reason === 'known').length, 39);
      assert.deepEqual(
        (await allClients(s)).map((c) => [c.client, c.count]),
        [['192.0.2.10', 1]],
      );
    }));

  test('admin: list pages through every entry, delete forgets, stats count live entries', () =>
    withStore(harness, async (s) => {
      const all: Triplet[] = [];
      for (let i = 0; i < 25; i++) all.push(triplet(`198.51.${i}.1`, `s@example.org`, `r${i}@example.net`));
      for (const t of all) await s.check(t, POLICY, T0);
      for (const t of all.slice(0, 10)) await s.check(t, POLICY, T0 + 5 * MIN);

      const listed = await allTriplets(s, 7);
      assert.deepEqual(listed.map((e) => e.key).sort(), all.map((t) => t.key).sort());
      assert.equal(listed.filter((e) => e.passed).length, 10);

      const one = listed.find((e) => e.key === all[0]?.key);
      assert.deepEqual(one, {
        key: '198.51.0.0/s@example.org/r0@example.net',
        network: '198.51.0.0',
        sender: 's@example.org',
        recipient: 'r0@example.net',
        firstSeen: T0,
        lastSeen: T0 + 5 * MIN,
        passed: true,
        expiresAt: T0 + 5 * MIN + 35 * DAY,
      });

      assert.deepEqual(await s.stats(T0 + 6 * MIN), { triplets: 25, passedTriplets: 10, clients: 10 });
      // Past the retry window the 15 never-passed triplets no longer count.
      assert.deepEqual(await s.stats(T0 + 3 * DAY), { triplets: 10, passedTriplets: 10, clients: 10 });

      const first = all[0] as Triplet;
      assert.equal(await s.deleteTriplet(first.key), true);
      assert.equal(await s.deleteTriplet(first.key), false);
      assert.equal((await s.check(first, POLICY, T0 + 10 * MIN)).action, 'greylist');
      assert.equal(await s.deleteClient(first.client), true);
      assert.equal(await s.deleteClient(first.client), false);
    }));

  test('purgeExpired never removes live entries, and expired entries are gone for checks', () =>
    withStore(harness, async (s) => {
      const live = triplet('192.0.2.1', 'a@example.org', 'live@example.net');
      const stale = triplet('192.0.2.1', 'a@example.org', 'stale@example.net');
      await s.check(stale, POLICY, T0);
      await s.check(live, POLICY, T0 + 3 * DAY);
      const purged = await s.purgeExpired(T0 + 3 * DAY, 100);
      assert.ok(purged === 0 || purged === 1, `purged ${purged}`);
      const keys = (await allTriplets(s)).map((e) => e.key);
      assert.ok(keys.includes(live.key));
      if (purged === 1) assert.ok(!keys.includes(stale.key));
      assert.deepEqual(await s.stats(T0 + 3 * DAY), { triplets: 1, passedTriplets: 0, clients: 0 });
      assert.equal((await s.check(stale, POLICY, T0 + 3 * DAY)).action === 'greylist', true);
    }));

  test('a closed store rejects checks with a named error', async () => {
    const s = await harness.open();
    await s.close();
    await s.close(); // idempotent
    await assert.rejects(s.check(T, POLICY, T0), (e: unknown) => e instanceof Error && e.message.includes(s.description));
  });

  test('matches the pure state machine over random histories', async () => {
    const clients = ['192.0.2.1', '192.0.2.2', '198.51.100.7', '2001:db8::1'];
    const rcpts = ['a@x.example', 'b@x.example', 'c@y.example'];
    const steps = [0, 1000, 4 * MIN, 5 * MIN, 30 * MIN, HOUR, 1 * DAY, 2 * DAY + 1, 36 * DAY];
    const op = fc.record({
      client: fc.integer({ min: 0, max: clients.length - 1 }),
      rcpt: fc.integer({ min: 0, max: rcpts.length - 1 }),
      advance: fc.constantFrom(...steps),
      awl: fc.constantFrom(0, 2),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        const store = await harness.open();
        try {
          const modelTriplets = new Map<string, TripletRecord>();
          const modelClients = new Map<string, ClientRecord>();
          let now = T0;
          for (const o of ops) {
            now += o.advance;
            const t = triplet(clients[o.client] as string, 'sender@example.org', rcpts[o.rcpt] as string);
            const policy = { ...POLICY, autoWhitelistAfter: o.awl };
            const d = decide(policy, now, { triplet: modelTriplets.get(t.key) ?? null, client: modelClients.get(t.client) ?? null });
            if (d.triplet) modelTriplets.set(t.key, d.triplet);
            if (d.client) modelClients.set(t.client, d.client);
            assert.deepEqual(await store.check(t, policy, now), d.verdict);
          }
        } finally {
          await store.close();
        }
      }),
      { numRuns: 40 },
    );
  });
}
