/**
 * The greylisting state machine, postgrey's semantics (smtpd_access_policy),
 * as a pure function over the two stored records a decision reads.
 *
 * Every store runs exactly this read-decide-write atomically: SQLite inside a
 * transaction calling `decide`, Redis in a Lua script that mirrors it line by
 * line (src/store/redis-script.ts). The shared store contract tests and a
 * property test against this function keep the two in step.
 *
 * Times are wall-clock milliseconds. Decisions, as in postgrey:
 *  - client auto-whitelisted (count ≥ N, N > 0) → pass, triplet untouched;
 *    the client's last-seen is refreshed at most once per hour.
 *  - triplet unknown → greylist ("new"); first-seen = now.
 *  - triplet not yet passed and first seen more than retry-window ago → it
 *    starts over ("new"); otherwise retry before first-seen + delay → greylist
 *    ("early-retry"), after → pass ("delayed", worth an X-Greylist header).
 *  - triplet passed before → pass ("known").
 *  - every look-up that reaches the triplet records last-seen = now.
 *  - a triplet's first pass counts one delivery for its client (at most one
 *    per hour, like postgrey); at N the client is auto-whitelisted.
 *  - expiry: a passed triplet and a client live until max-age after their
 *    last update; a triplet that never passed lives until first-seen +
 *    retry-window (postgrey's nightly maintenance rules, applied exactly here).
 *
 * test/integration/greylist/postgrey-differential.test.ts feeds a seeded
 * stream to this machine (through the step and SQLite) and to a real
 * postgrey and requires the same decision each time. Where we differ on
 * purpose (README, "Built-in greylisting"):
 *  - "passed" is stored. postgrey re-derives it from the stored times
 *    (last - first >= delay), so a first-seen in the future (clock set back,
 *    skewed MX hosts) or a longer delay after a config change greylists a
 *    passed triplet again; here it stays passed.
 *  - expiry is applied at each look-up; postgrey's clean-up runs at night
 *    (02:00-07:00, once a day), so it may keep an entry up to a day longer.
 *  - milliseconds, not postgrey's whole seconds: a retry passes once the
 *    delay has fully elapsed (postgrey may pass one up to a second early).
 */

export interface GreylistPolicy {
  readonly delayMs: number;
  readonly retryWindowMs: number;
  readonly maxAgeMs: number;
  /** Passes before a client is auto-whitelisted; 0 disables the auto-whitelist. */
  readonly autoWhitelistAfter: number;
}

/** Postgrey counts at most one successful delivery per client per hour. */
export const AUTO_WHITELIST_COUNT_INTERVAL_MS = 3_600_000;

export interface TripletRecord {
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** The triplet has passed greylisting once; it passes from now on until it expires. */
  readonly passed: boolean;
  /** Last instant the record is valid (inclusive). */
  readonly expiresAt: number;
}

export interface ClientRecord {
  /** Counted deliveries (and, once whitelisted, hourly sightings, as in postgrey). */
  readonly count: number;
  readonly lastSeen: number;
  readonly expiresAt: number;
}

export type Verdict =
  | {
      readonly action: 'greylist';
      /** `new`: first seen now (or started over); `early-retry`: seen before, delay not over. */
      readonly reason: 'new' | 'early-retry';
      /** Time until the triplet would pass. Always > 0. */
      readonly retryInMs: number;
      readonly firstSeen: number;
    }
  | {
      readonly action: 'pass';
      /** First pass after waiting; `delayedMs` is how long the sender was held. */
      readonly reason: 'delayed';
      readonly delayedMs: number;
      /** The client's delivery count after this pass, or null when it was not counted (hourly limit, AWL off). */
      readonly clientCount: number | null;
    }
  | { readonly action: 'pass'; readonly reason: 'known' }
  | { readonly action: 'pass'; readonly reason: 'auto-whitelist'; readonly clientCount: number };

export interface StoredState {
  readonly triplet: TripletRecord | null;
  readonly client: ClientRecord | null;
}

export interface Decision {
  readonly verdict: Verdict;
  /** New triplet record to store, or null to leave it as it is. */
  readonly triplet: TripletRecord | null;
  /** New client record to store, or null to leave it as it is. */
  readonly client: ClientRecord | null;
}

function live<T extends { readonly expiresAt: number }>(record: T | null, now: number): T | null {
  return record !== null && record.expiresAt >= now ? record : null;
}

export function decide(policy: GreylistPolicy, now: number, stored: StoredState): Decision {
  const awl = policy.autoWhitelistAfter;
  const client = awl > 0 ? live(stored.client, now) : null;

  if (client !== null && client.count >= awl) {
    const refresh = now >= client.lastSeen + AUTO_WHITELIST_COUNT_INTERVAL_MS || client.lastSeen > now;
    const count = refresh ? client.count + 1 : client.count;
    return {
      verdict: { action: 'pass', reason: 'auto-whitelist', clientCount: count },
      triplet: null,
      client: refresh ? { count, lastSeen: now, expiresAt: now + policy.maxAgeMs } : null,
    };
  }

  const known = live(stored.triplet, now);
  let firstSeen = now;
  let passedBefore = false;
  if (known !== null) {
    firstSeen = known.firstSeen;
    passedBefore = known.passed;
    // postgrey's retry-window rule. A record this old has also expired (its
    // expiresAt is firstSeen + retryWindow), so this only restates it here.
    if (!passedBefore && now - firstSeen > policy.retryWindowMs) firstSeen = now;
    // Clock skew between MX hosts sharing a store: never trust a future first-seen.
    if (firstSeen > now) firstSeen = now;
  }
  const waited = now - firstSeen;
  const remaining = policy.delayMs - waited;
  const passed = passedBefore || remaining <= 0;
  const triplet: TripletRecord = {
    firstSeen,
    lastSeen: now,
    passed,
    expiresAt: passed ? now + policy.maxAgeMs : firstSeen + policy.retryWindowMs,
  };

  if (!passed) {
    return {
      verdict: { action: 'greylist', reason: firstSeen === now ? 'new' : 'early-retry', retryInMs: remaining, firstSeen },
      triplet,
      client: null,
    };
  }
  if (passedBefore) return { verdict: { action: 'pass', reason: 'known' }, triplet, client: null };

  let newClient: ClientRecord | null = null;
  if (awl > 0 && (client === null || now >= client.lastSeen + AUTO_WHITELIST_COUNT_INTERVAL_MS)) {
    newClient = { count: (client?.count ?? 0) + 1, lastSeen: now, expiresAt: now + policy.maxAgeMs };
  }
  return {
    verdict: { action: 'pass', reason: 'delayed', delayedMs: waited, clientCount: newClient?.count ?? null },
    triplet,
    client: newClient,
  };
}
