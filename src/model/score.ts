/**
 * A session's score (issue 12): one part for the session and one for the
 * current transaction, which resets at RSET and at a new MAIL. Positive is
 * bad. `score` steps and the weights of DNS lists add to it; each adder (a
 * step, keyed by the caller) counts at most once per session, or once per
 * transaction for the transaction part. The `score` condition reads the
 * total, and a decision's log line shows the breakdown.
 *
 * Points are kept as whole thousandths, so that 0.1 + 0.2 is 0.3 and a
 * threshold of 0.3 is met: a sum of decimals in floating point is not.
 * Mutable, like SessionDnsLists: what one step adds, the next step of the
 * same request sees.
 */
import type { RulePhase } from './phases.js';

/** Thousandths: the precision of a score's points (`score +1.125`). */
export const SCORE_SCALE = 1000;

export type ScoreScope = 'session' | 'transaction';

export interface ScorePart {
  /** What the log line names it by: a `score` step's label, a DNS list's name. */
  readonly label: string;
  /** In thousandths (SCORE_SCALE). */
  readonly milli: number;
  readonly scope: ScoreScope;
}

/** What conditions and log lines read. */
export interface ScoreFacts {
  /** The session's part plus the transaction's, as a number (`2.5`). */
  total(): number;
  /** Every addition, session part first, each in the order it was added. */
  parts(): readonly ScorePart[];
}

/** Points as written in a log line: `+3`, `-1.5`, `+0.125`. */
export function formatPoints(milli: number): string {
  return `${milli < 0 ? '-' : '+'}${formatScore(Math.abs(milli))}`;
}

/** A total as written in a log line: `7`, `-0.5`, `2.25`. */
export function formatScore(milli: number): string {
  const sign = milli < 0 ? '-' : '';
  const abs = Math.abs(milli);
  const whole = Math.floor(abs / SCORE_SCALE);
  const frac = abs % SCORE_SCALE;
  if (frac === 0) return `${sign}${whole}`;
  return `${sign}${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}`;
}

/** `7 (zen +3, no-rdns +2, helo-literal +2)`; `0` with no parts. */
export function scoreBreakdown(score: ScoreFacts): string {
  const parts = score.parts();
  const total = parts.reduce((sum, p) => sum + p.milli, 0);
  if (parts.length === 0) return formatScore(total);
  return `${formatScore(total)} (${parts.map((p) => `${p.label} ${formatPoints(p.milli)}`).join(', ')})`;
}

export class SessionScore implements ScoreFacts {
  private readonly session = new Map<string, ScorePart>();
  private readonly transaction = new Map<string, ScorePart>();

  /**
   * Adds `milli` under `key` (one adder, e.g. one step) unless that key has
   * counted already in this scope; true when it counted now.
   */
  add(key: string, label: string, milli: number, scope: ScoreScope): boolean {
    const parts = scope === 'session' ? this.session : this.transaction;
    if (parts.has(key)) return false;
    parts.set(key, { label, milli, scope });
    return true;
  }

  /** At RSET and at a new MAIL: the transaction's part is gone, the session's stays. */
  resetTransaction(): void {
    this.transaction.clear();
  }

  totalMilli(): number {
    let sum = 0;
    for (const p of this.session.values()) sum += p.milli;
    for (const p of this.transaction.values()) sum += p.milli;
    return sum;
  }

  total(): number {
    return this.totalMilli() / SCORE_SCALE;
  }

  parts(): readonly ScorePart[] {
    return [...this.session.values(), ...this.transaction.values()];
  }
}

/** Steps at connect and helo add to the session's part; from mail-from on, to the transaction's. */
export function scoreScopeAt(phase: RulePhase): ScoreScope {
  return phase === 'connect' || phase === 'helo' ? 'session' : 'transaction';
}
