/**
 * Concurrency: how many sessions of one key (a client address or network)
 * are open at once. Each session is a member with its own expiry rather than
 * a bare count, so the count heals itself: a release that never came (a
 * filter killed, a lost link-disconnect) is an orphan that expires on its
 * own, a release never takes the count below zero, and a second release of
 * the same session changes nothing.
 *
 * Pure: the stores keep the members and run `admit` in their transaction.
 */

/** One open session: who holds it, and when it is forgotten if never released. */
export interface Member {
  readonly id: string;
  readonly expiresAt: number;
}

export interface ConcurrencySpec {
  /** Sessions allowed at once. */
  readonly max: number;
  /** A member not released by then is an orphan: forgotten. */
  readonly orphanAfterMs: number;
}

export type Admission =
  | { readonly allowed: true; readonly count: number }
  | { readonly allowed: false; readonly count: number };

/** Live members at `now`. */
export const live = (members: readonly Member[], now: number): Member[] => members.filter((m) => m.expiresAt > now);

/**
 * Admit session `id` at `now` if fewer than `max` others are live. The
 * result's members are what to store (live ones only; `id` added when allowed).
 * A session already a member is admitted again (its expiry renewed).
 */
export function admit(
  spec: ConcurrencySpec,
  members: readonly Member[],
  id: string,
  now: number,
): { readonly admission: Admission; readonly members: Member[] } {
  const others = live(members, now).filter((m) => m.id !== id);
  if (others.length >= spec.max) return { admission: { allowed: false, count: others.length }, members: others };
  const kept = [...others, { id, expiresAt: now + spec.orphanAfterMs }];
  return { admission: { allowed: true, count: kept.length }, members: kept };
}

/** Release session `id`: the live members without it (never fewer than none). */
export function release(members: readonly Member[], id: string, now: number): Member[] {
  return live(members, now).filter((m) => m.id !== id);
}
