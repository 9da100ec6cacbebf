/**
 * A deterministic stream of greylisting requests for the differential test
 * against postgrey: (time, client, sender, recipient), sorted by time.
 *
 * It is made of "messages": one sender, one recipient, a first attempt and up
 * to three retries, as an MTA's queue would send them (same envelope; now
 * and then from another host of the sender's pool). Times sit on a 30 s grid
 * plus retries aimed at the boundaries the decision turns on — the delay
 * (-1, 0, +1 s), the retry window (0, +1 s) — and the same second twice, so
 * the exact `>=`/`>` of each rule is exercised, and whole hours apart happen
 * often (the client auto-whitelist counts once an hour).
 *
 * Senders come in families whose raw form changes between messages while the
 * normalised one may not: case, `+extension`, VERP numbers, BATV tags in both
 * orders, upper-case `PRVS=` and upper-case tags (not BATV for postgrey),
 * non-ASCII letters (postgrey lower-cases A–Z only), the null sender. SRS
 * addresses are constant for the whole stream, as a forwarder writes them
 * within one day (the day's change is the one intended difference, tested
 * on its own). Clients: a few fixed hosts in a few /24s and /64s (they reach
 * the auto-whitelist), one-off hosts in the same networks, and IPv6 written
 * both compressed and in full.
 */
import { mulberry32 } from '../../unit/support/prng.js';

export interface StreamEvent {
  /** Epoch seconds. */
  readonly at: number;
  readonly client: string;
  readonly sender: string;
  readonly recipient: string;
  /** Which message this attempt belongs to, and its attempt number (0 first), for failure output. */
  readonly message: number;
  readonly attempt: number;
}

export interface StreamOptions {
  readonly seed: number;
  /** Epoch seconds of the first message. */
  readonly startAt: number;
  readonly messages: number;
  /** First attempts are spread over this many seconds. */
  readonly spanSeconds: number;
  readonly delaySeconds: number;
  readonly retryWindowSeconds: number;
}

type Random = () => number;

const int = (r: Random, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
function pick<T>(r: Random, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)] as T;
}

/** A BATV tag-val as senders make it: key digit, 3-digit day, 6 hex digits. */
function batvTag(r: Random): string {
  const hex = Array.from({ length: 6 }, () => '0123456789abcdef'[int(r, 0, 15)]).join('');
  return `${int(r, 0, 9)}${String(int(r, 0, 999)).padStart(3, '0')}${hex}`;
}

/** Sender families: each call is one message's raw envelope sender. */
const SENDER_FAMILIES: ReadonlyArray<(r: Random) => string> = [
  (r) => pick(r, ['alice@example.org', 'Alice@Example.ORG', 'ALICE@EXAMPLE.ORG']),
  (r) => `${pick(r, ['news', 'News'])}+${pick(r, ['weekly', 'x' + int(r, 1, 99), 'Promo'])}@${pick(r, ['lists.example', 'Lists.Example'])}`,
  (r) => `bounce-${int(r, 1, 99999)}-${int(r, 1, 9)}@lists.example`,
  (r) => `bounce.${int(r, 1, 999)}.x${int(r, 1, 9)}@lists.example`,
  (r) => `prvs=${batvTag(r)}=${pick(r, ['bob', 'Bob'])}@batv.example`,
  (r) => `prvs=${pick(r, ['bob', 'BOB'])}=${batvTag(r)}@batv.example`,
  // Upper-case prefix: not BATV for postgrey, so each tag is a new sender.
  (r) => `PRVS=${batvTag(r)}=bob@batv.example`,
  // Upper-case tag: not a tag for postgrey; a long lower-case user then looks like one.
  (r) => `prvs=${batvTag(r).toUpperCase()}=${pick(r, ['someuser1234', 'Bob'])}@batv.example`,
  // Both parts tag-like: the standard order wins.
  (r) => `prvs=${batvTag(r)}=longlocalpart@batv.example`,
  (r) => `prvs=${batvTag(r)}=a=b@batv.example`,
  (r) => pick(r, ['SRS0=Hq3x=2Q=orig.example=carol@fwd.example', 'srs0=Hq3x=2Q=orig.example=carol@fwd.example']),
  () => 'SRS1=Zz9a=fwd1.example==Hq3x=2Q=orig.example=carol@fwd2.example',
  (r) => pick(r, ['Jörg@Exämple.de', 'JÖRG@EXÄMPLE.DE', 'jörg@exämple.de']),
  (r) => `ö${int(r, 1, 99)}@exämple.de`,
  () => 'user2024@example.org',
  () => '',
  () => 'MAILER-DAEMON',
];

const RECIPIENTS: readonly string[] = ['bob@rcpt.example', 'Bob@RCPT.example', 'carol+x@rcpt.example', 'carol@rcpt.example', 'dave@rcpt.example'];

/** Networks with fixed hosts (regular senders, who reach the auto-whitelist) and room for one-off hosts. */
const POOLS: ReadonlyArray<{ readonly hosts: readonly string[]; readonly oneOff: (r: Random) => string }> = [
  { hosts: ['192.0.2.10', '192.0.2.11', '192.0.2.77'], oneOff: (r) => `192.0.2.${int(r, 100, 254)}` },
  { hosts: ['198.51.100.5'], oneOff: (r) => `198.51.100.${int(r, 100, 254)}` },
  { hosts: ['203.0.113.9', '203.0.113.10'], oneOff: (r) => `203.0.113.${int(r, 100, 254)}` },
  {
    hosts: ['2001:db8:1:1::25', '2001:db8:1:1:0:0:0:26', '2001:db8:1:1:ffff::1'],
    oneOff: (r) => `2001:db8:1:1::${int(r, 0x100, 0xffff).toString(16)}`,
  },
  { hosts: ['2001:db8:1:2::25'], oneOff: (r) => `2001:db8:1:2:${int(r, 1, 0xffff).toString(16)}::1` },
];

function clientIn(r: Random, pool: (typeof POOLS)[number]): string {
  return r() < 0.5 ? pick(r, pool.hosts) : pool.oneOff(r);
}

export function decisionStream(options: StreamOptions): StreamEvent[] {
  const r = mulberry32(options.seed);
  const { delaySeconds: delay, retryWindowSeconds: window } = options;
  const grid = 30;
  const events: Array<StreamEvent & { readonly seq: number }> = [];
  let seq = 0;
  for (let message = 0; message < options.messages; message++) {
    const pool = pick(r, POOLS);
    const client = clientIn(r, pool);
    const sender = pick(r, SENDER_FAMILIES)(r);
    const recipient = pick(r, RECIPIENTS);
    const first = options.startAt + grid * int(r, 0, Math.floor(options.spanSeconds / grid));
    const attempts = int(r, 1, 4);
    let at = first;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) {
        const target = pick(r, [
          first + int(r, 1, delay - 2),
          first + delay - 1,
          first + delay,
          first + delay + 1,
          at,
          at + grid * int(r, 1, 60),
          first + window,
          first + window + 1,
          first + 3600,
        ]);
        at = Math.max(at, target);
      }
      // A pool retries from another of its hosts now and then (why postgrey groups by network).
      const from = attempt > 0 && r() < 0.2 ? clientIn(r, pool) : client;
      events.push({ at, client: from, sender, recipient, message, attempt, seq: seq++ });
    }
  }
  events.sort((a, b) => a.at - b.at || a.seq - b.seq);
  return events.map(({ seq: _seq, ...e }) => e);
}

/** `n` raw senders drawn from the stream's families (for comparing the normalisation alone). */
export function sampleSenders(seed: number, n: number): string[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => pick(r, SENDER_FAMILIES)(r));
}
