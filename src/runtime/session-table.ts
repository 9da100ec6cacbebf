/**
 * The table of live sessions. It is bounded (exact LRU with a cap, no idle
 * expiry): a flood of connects without disconnects cannot grow memory without
 * bound, and a client that is merely quiet (NOOPs, which smtpd does not
 * report) keeps its facts until link-disconnect. A session that falls out is
 * unknown afterwards: its requests still get answers, a tempfail (see
 * requests.ts), never a judgement without its facts.
 */
import type { Clock } from '../support/clock.js';
import type { Session } from './session.js';

export interface SessionTableOptions {
  /** Read when a session is added (for its age in logs), never per line. */
  readonly clock: Clock;
  /** Most sessions kept; when full, the least recently active one is dropped. */
  readonly maxSessions: number;
  /**
   * Called once for every session that leaves the table, whatever the reason;
   * `ageMs` is how long it was in the table.
   */
  readonly onEnd: (session: Session, reason: SessionEndReason, ageMs: number) => void;
}

/**
 * Why a session left the table. There is no idle expiry: smtpd reports
 * nothing for NOOP, RSET or HELP, so a live client can be silent (to us) for
 * as long as smtpd lets it, and forgetting it would judge its next request
 * without its facts. A session ends at link-disconnect, or when the table is
 * full.
 */
export type SessionEndReason = 'disconnect' | 'replaced' | 'evicted' | 'cleared';

/**
 * A session in the table's recency list: `prev` is the entry used less
 * recently, `next` the one used more recently.
 */
interface Entry {
  readonly session: Session;
  /** Monotonic time it was added. */
  readonly addedAt: number;
  prev: Entry | null;
  next: Entry | null;
}

/**
 * A bounded table with exact LRU eviction: a Map for lookup, and an
 * intrusive doubly-linked list through the entries for recency (head: least
 * recently active, tail: most). `get` runs for nearly every line smtpd sends,
 * so it must stay cheap: moving the entry to the end of the Map at every line
 * (delete + set) was a tenth of the filter's CPU, and reading the clock there
 * was more. Moving an entry to the tail of the list is a few pointer writes,
 * and none when it already is the tail (lines of one session come in runs).
 * The last session looked up is remembered too: hashing a fresh id string for
 * a Map lookup costs more than comparing it with the last one.
 *
 * When the table is full, the head (the session that has gone longest without
 * a line) is evicted. (An earlier "second chance" scheme evicted the newest
 * session first once every older one had been active, so a busy table lost
 * the facts of the client that had just connected.)
 *
 * Not lru-cache: its delete of the last entry clears (refills) arrays sized
 * `max`, an O(maxSessions) cost paid at every disconnect of a quiet server.
 */
export class SessionTable {
  private readonly map = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly maxSessions: number;
  private readonly onEnd: SessionTableOptions['onEnd'];
  private head: Entry | null = null;
  private tail: Entry | null = null;
  private last: Entry | null = null;

  constructor(options: SessionTableOptions) {
    if (!Number.isInteger(options.maxSessions) || options.maxSessions < 1) {
      throw new RangeError(`maxSessions must be a positive integer, got ${options.maxSessions}`);
    }
    this.clock = options.clock;
    this.maxSessions = options.maxSessions;
    this.onEnd = options.onEnd;
  }

  get size(): number {
    return this.map.size;
  }

  /** The session, marked most recently active. */
  get(id: string): Session | undefined {
    const last = this.last;
    const entry = last !== null && last.session.id === id ? last : this.map.get(id);
    if (entry === undefined) return undefined;
    if (entry !== this.tail) {
      this.unlink(entry);
      this.append(entry);
    }
    this.last = entry;
    return entry.session;
  }

  /** Add a session as the most recently active; evicts the least recently active one when full. */
  add(session: Session): void {
    const old = this.map.get(session.id);
    if (old !== undefined) {
      this.remove(old);
      this.onEnd(old.session, 'replaced', this.clock.monotonic() - old.addedAt);
    }
    const entry: Entry = { session, addedAt: this.clock.monotonic(), prev: null, next: null };
    this.map.set(session.id, entry);
    this.append(entry);
    while (this.map.size > this.maxSessions && this.head !== null) {
      const victim = this.head;
      this.remove(victim);
      this.onEnd(victim.session, 'evicted', entry.addedAt - victim.addedAt);
    }
  }

  delete(id: string): Session | undefined {
    const entry = this.map.get(id);
    if (entry === undefined) return undefined;
    this.remove(entry);
    this.onEnd(entry.session, 'disconnect', this.clock.monotonic() - entry.addedAt);
    return entry.session;
  }

  /** Session ids from the least to the most recently active (for tests and diagnostics). */
  idsByRecency(): string[] {
    const ids: string[] = [];
    for (let e = this.head; e !== null; e = e.next) ids.push(e.session.id);
    return ids;
  }

  clear(): void {
    const now = this.clock.monotonic();
    const entries = [...this.map.values()];
    this.map.clear();
    this.head = this.tail = this.last = null;
    for (const e of entries) this.onEnd(e.session, 'cleared', now - e.addedAt);
  }

  private remove(entry: Entry): void {
    this.map.delete(entry.session.id);
    this.unlink(entry);
    if (this.last === entry) this.last = null;
  }

  private unlink(entry: Entry): void {
    if (entry.prev !== null) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next !== null) entry.next.prev = entry.prev;
    else this.tail = entry.prev;
    entry.prev = entry.next = null;
  }

  private append(entry: Entry): void {
    entry.prev = this.tail;
    entry.next = null;
    if (this.tail !== null) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
  }
}
