/**
 * The X-Greylist header added to a message whose triplet just passed, in
 * postgrey's wording (`X-Greylist: delayed %t seconds by postgrey-%v at %h; %d`)
 * so that existing log/report scripts keep matching. The date is RFC 5322
 * (`Wed, 25 Nov 2026 12:00:00 +0000`) rather than postgrey's `%Z` zone name.
 */

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * RFC 5322 date-time for `epochMs` at a fixed UTC offset (minutes east of UTC,
 * i.e. `-new Date(ms).getTimezoneOffset()` for local time).
 */
export function formatRfc5322Date(epochMs: number, offsetMinutes: number): string {
  const d = new Date(epochMs + offsetMinutes * 60_000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const zone = `${sign}${pad2(Math.trunc(abs / 60))}${pad2(abs % 60)}`;
  return (
    `${DAYS[d.getUTCDay()] ?? ''}, ${pad2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()] ?? ''} ${d.getUTCFullYear()} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} ${zone}`
  );
}

export interface GreylistHeaderInput {
  readonly delayedMs: number;
  readonly version: string;
  readonly hostname: string;
  readonly epochMs: number;
  readonly offsetMinutes: number;
}

/** The full header line, without line ending. Seconds are whole, rounded down like postgrey's integer clock. */
export function formatGreylistHeader(input: GreylistHeaderInput): string {
  const seconds = Math.max(0, Math.floor(input.delayedMs / 1000));
  return (
    `X-Greylist: delayed ${seconds} seconds by filter-rules-${input.version} at ${input.hostname}; ` +
    formatRfc5322Date(input.epochMs, input.offsetMinutes)
  );
}

/**
 * The temporary-failure reply for a greylisted recipient. 451 rather than 450:
 * the original greylisting implementers found some large senders retry a 450
 * (read as "mailbox busy") a few times within seconds and then bounce. 4.7.1 is
 * RFC 3463's "delivery not authorized" in its temporary form. Postgrey's own
 * text names a help URL on postgrey's site, which would be wrong here.
 */
export function formatGreylistReply(retryInMs: number): string {
  const seconds = Math.max(1, Math.ceil(retryInMs / 1000));
  return `451 4.7.1 Greylisted, please try again in ${seconds} second${seconds === 1 ? '' : 's'}`;
}
