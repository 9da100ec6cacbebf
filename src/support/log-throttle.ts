/**
 * Keeps hostile or broken input from flooding the log: at most `limit`
 * messages per window; the rest are counted and reported once when the next
 * window opens.
 */
import type { Clock } from './clock.js';
import type { Logger } from './log.js';

export class LogThrottle {
  private windowStart = -Infinity;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly limit = 20,
    private readonly windowMs = 60_000,
  ) {}

  /** Logs unless this window's limit is reached; true when it logged. */
  warn(fields: object, msg: string): boolean {
    const now = this.clock.monotonic();
    if (now - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) {
        this.log.warn({ suppressed: this.suppressed }, 'similar warnings suppressed in the last window');
      }
      this.windowStart = now;
      this.inWindow = 0;
      this.suppressed = 0;
    }
    if (this.inWindow < this.limit) {
      this.inWindow++;
      this.log.warn(fields, msg);
      return true;
    }
    this.suppressed++;
    return false;
  }
}
