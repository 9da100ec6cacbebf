/**
 * GCRA (the generic cell rate algorithm): a token bucket kept as one number,
 * the theoretical arrival time (TAT) at which the bucket would be empty again.
 * A rate of `rate` events per `periodMs` gives an emission interval
 * I = periodMs / rate; the bucket holds `burst` events, so an event of cost c
 * at time t is allowed when max(TAT, t) + c·I − t ≤ burst·I.
 *
 * I is rarely a whole number of milliseconds (7/1m, bytes per hour), and the
 * same arithmetic must give the same answer in JavaScript, SQLite and Redis'
 * Lua (doubles), so nothing here is fractional: the TAT is kept as whole
 * milliseconds plus a remainder in 1/rate of a millisecond, and every
 * comparison is made in those units (times `rate`), relative to now.
 * Products stay below 2^53 (`checkRateSpec` refuses specs where they would not).
 *
 * Pure: the caller passes the time, the stored state, and writes back what
 * it is given. The stores run `consume` inside their own transaction.
 */

/** `rate` events per `periodMs`, and at most `burst` at once from a full bucket. */
export interface RateSpec {
  readonly rate: number;
  readonly periodMs: number;
  readonly burst: number;
}

/** The stored state of one key: TAT = tatMs + frac/rate milliseconds (0 ≤ frac < rate). */
export interface GcraState {
  readonly tatMs: number;
  readonly frac: number;
}

/**
 * `lenient` (the default): a refused event uses nothing, so a client that
 * keeps trying gets through at the rate. `strict`: a refused event fills the
 * bucket to the brim, so a client gets through again only after it has paused
 * for one emission interval.
 */
export type CountMode = 'lenient' | 'strict';

export type GcraOutcome =
  | {
      readonly allowed: true;
      /** Events of cost 1 that would still pass now. */
      readonly remaining: number;
    }
  | {
      readonly allowed: false;
      /** Milliseconds until the same event would pass (≥ 1). */
      readonly retryAfterMs: number;
    };

export interface GcraStep {
  readonly outcome: GcraOutcome;
  /** What to store (null: leave the stored state as it is). */
  readonly write: GcraState | null;
  /** When the written (or kept) state may be forgotten: the bucket is empty then. */
  readonly expiresAt: number;
}

const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/** Why a spec cannot be counted exactly, or null. The rules checker gives the same message. */
export function checkRateSpec(spec: RateSpec): string | null {
  for (const [name, v] of [
    ['rate', spec.rate],
    ['period', spec.periodMs],
    ['burst', spec.burst],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) return `the ${name} must be a whole number ≥ 1, got ${v}`;
  }
  if (spec.burst * spec.periodMs > MAX_EXACT / 4) return 'burst × period is too large to count exactly';
  if (spec.rate > 1e9) return 'the rate is too large to count exactly (at most 1000000000 per period)';
  return null;
}

/**
 * How far the TAT is ahead of `now`, in units of 1/rate ms (0 when it is in
 * the past: an empty bucket is no credit). Relative to now, so that the
 * products stay small: an epoch time in ms times a rate of bytes would not.
 */
function ahead(s: GcraState | null, now: number, rate: number): number {
  if (s === null) return 0;
  return Math.max(0, (s.tatMs - now) * rate + s.frac);
}

/** The state whose TAT is `units`/rate ms after `now`. */
function at(now: number, units: number, rate: number): GcraState {
  const frac = units % rate;
  return { tatMs: now + (units - frac) / rate, frac };
}

/**
 * Check one event of `cost` (1 for a connection, message or recipient; the
 * size for bytes) at wall time `now` (whole ms) and consume it if allowed.
 * A cost above the burst counts as the burst: such an event passes only
 * from a full bucket, and is never refused for ever.
 */
export function consume(spec: RateSpec, stored: GcraState | null, now: number, cost: number, mode: CountMode = 'lenient'): GcraStep {
  const { rate, periodMs, burst } = spec;
  const c = Math.min(Math.max(0, Math.ceil(cost)), burst);
  const capacity = burst * periodMs;
  const tat = ahead(stored, now, rate);
  const next = tat + c * periodMs;
  const excess = next - capacity;
  if (excess <= 0) {
    const state = at(now, next, rate);
    return {
      outcome: { allowed: true, remaining: Math.floor((capacity - next) / periodMs) },
      write: state,
      expiresAt: state.tatMs + 1,
    };
  }
  // Refused: the earliest t' with next − (t' − now)·rate ≤ capacity, in whole ms.
  if (mode === 'strict') {
    const full = Math.max(tat, capacity);
    const state = at(now, full, rate);
    const retryAfterMs = Math.max(1, Math.ceil((full + c * periodMs - capacity) / rate));
    return { outcome: { allowed: false, retryAfterMs }, write: state, expiresAt: state.tatMs + 1 };
  }
  const kept = at(now, tat, rate);
  return { outcome: { allowed: false, retryAfterMs: Math.max(1, Math.ceil(excess / rate)) }, write: null, expiresAt: kept.tatMs + 1 };
}

/** Events of cost 1 that would pass at `now`, without consuming (for the admin's list). */
export function remainingAt(spec: RateSpec, stored: GcraState | null, now: number): number {
  return Math.max(0, Math.floor((spec.burst * spec.periodMs - ahead(stored, now, spec.rate)) / spec.periodMs));
}
