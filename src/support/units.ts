/**
 * Durations as people write and read them: the units of the rules language
 * (`500ms`, `3s`, `5m`, `2h`, `35d`) and the short form messages use.
 */

/** Milliseconds per unit. */
export const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Human form of a duration in milliseconds, for messages. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const f = UNIT_MS[unit] ?? 1;
    if (ms >= f && ms % f === 0) return `${ms / f}${unit}`;
  }
  return `${ms}ms`;
}
