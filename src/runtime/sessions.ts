/**
 * Per-session state, built from report events, and the facts a request is
 * judged on. Reports about a command arrive AFTER our answer to it
 * (protocol.md §4 ordering), so the facts for a request take the command's
 * own argument from the request (HELO name, MAIL FROM, RCPT TO) and
 * everything earlier from the reports.
 *
 * The table is bounded (exact LRU with a cap, no idle expiry): a flood of
 * connects without disconnects cannot grow memory without bound, and a
 * client that is merely quiet (NOOPs, which smtpd does not report) keeps its
 * facts until link-disconnect. A session that falls out is unknown
 * afterwards: its requests still get answers, a tempfail (see requests.ts),
 * never a judgement without its facts.
 */
import type { SessionFacts } from '../dsl/plan.js';
import type { FilterPhase, RulePhase } from '../protocol/phases.js';
import type { ConnectParam, ReportEvent } from '../protocol/types.js';
import type { Clock } from '../support/clock.js';
import type { ActivePlan } from './plan.js';

/** smtpd's reply when a client sent more than one line at once (protocol.md §7.2). */
export const PIPELINING_REFUSED = '500 5.5.1 Invalid command: Pipelining not supported';

export class Session {
  src = '';
  srcPort: number | null = null;
  dest = '';
  destPort: number | null = null;
  local = false;
  rdns: string | null = null;
  fcrdns: string | null = null;
  /** The source as smtpd wrote it, for logs (link-connect's `127.0.0.1:5000`, `unix:/…`; a connect request's `local`). */
  srcText = '';

  helo: string | null = null;
  heloMethod: 'HELO' | 'EHLO' | null = null;
  tls: string | null = null;
  /**
   * Did TLS come before any HELO (an smtps listener: true) or HELO before any
   * TLS (a plain listener: false)? Null until one of them was reported.
   * See smtps-check.ts.
   */
  implicitTls: boolean | null = null;
  authUser: string | null = null;

  /** The current transaction, from tx-begin to tx-reset. */
  messageId: string | null = null;
  mailFrom: string | null = null;
  recipients: string[] = [];
  /** Bytes of the message as streamed through data-line (lines + CRLF), when data-line is registered. */
  messageBytes: number | null = null;

  /** `accept` at connect/helo: every later request of the session proceeds. */
  acceptedSession = false;
  /** `accept` at mail-from (or data): the rest of this transaction proceeds. */
  acceptedTransaction = false;

  /** Header lines to add to every message of the session (from connect/helo steps). */
  sessionHeaders: string[] = [];
  /** Header lines to add to the current message (from mail-from/rcpt-to/data steps). */
  transactionHeaders: string[] = [];
  /** True between the first data-line of a message and our final `.`. */
  streaming = false;

  /** A pause step ran in this session (for the early-talker log line). */
  paused = false;
  /** smtpd refused a pipelining client (early talker). */
  pipeliningRefused = false;

  constructor(
    readonly id: string,
    /** The rules version this session runs under until it ends. */
    readonly plan: ActivePlan,
  ) {}

  /** Where the client is, for logs. */
  get client(): string {
    return this.srcText !== '' ? this.srcText : this.local ? 'local' : this.src;
  }

  applyReport(event: ReportEvent): void {
    switch (event.type) {
      case 'link-connect':
        this.srcText = event.srcText;
        this.src = event.src.address;
        this.srcPort = event.src.port;
        this.local = event.src.local;
        this.dest = event.dest.address;
        this.destPort = event.dest.port;
        this.rdns = event.rdns;
        this.fcrdns = event.fcrdns;
        return;
      case 'link-identify':
        this.implicitTls ??= false;
        this.helo = event.identity;
        this.heloMethod = event.method === 'HELO' || event.method === 'EHLO' ? event.method : null;
        return;
      case 'link-tls':
        this.implicitTls ??= true;
        this.tls = event.tls;
        return;
      case 'link-auth':
        this.authUser = event.result === 'pass' ? event.username : null;
        return;
      case 'tx-begin':
        this.messageId = event.messageId;
        this.recipients = [];
        return;
      case 'tx-mail':
        if (event.result === 'ok') this.mailFrom = event.address;
        return;
      case 'tx-rcpt':
        if (event.result === 'ok') this.recipients.push(event.address);
        return;
      case 'tx-reset':
        this.endTransaction();
        return;
      case 'protocol-server':
        if (event.response.startsWith(PIPELINING_REFUSED)) this.pipeliningRefused = true;
        return;
      case 'tx-envelope':
      case 'tx-data':
      case 'tx-commit':
      case 'tx-rollback':
      case 'link-greeting':
      case 'link-disconnect':
      case 'protocol-client':
      case 'filter-report':
      case 'filter-response':
      case 'timeout':
        return;
    }
  }

  /** For a session first seen through its connect request: what the request tells (no port, dest or fcrdns). */
  applyConnectParam(connect: ConnectParam): void {
    this.srcText = connect.srcText;
    this.src = connect.src.address;
    this.local = connect.src.local;
    this.rdns = connect.rdns;
  }

  /** State changes a request implies before it is judged. */
  beginRequest(phase: RulePhase, param: string): void {
    if (phase === 'mail-from') {
      // A new MAIL FROM starts a new transaction scope, even if tx-reset was missed.
      this.endTransaction();
      this.mailFrom = param;
    } else if (phase === 'data') {
      this.messageBytes = null;
    }
  }

  isAccepted(phase: RulePhase): boolean {
    if (this.acceptedSession) return true;
    return this.acceptedTransaction && phase !== 'connect' && phase !== 'helo' && phase !== 'mail-from';
  }

  /** Record an `accept` at `phase`. rcpt-to accepts only that recipient: nothing to remember. */
  accept(phase: RulePhase): void {
    switch (phase) {
      case 'connect':
      case 'helo':
        this.acceptedSession = true;
        return;
      case 'mail-from':
      case 'data':
        this.acceptedTransaction = true;
        return;
      case 'rcpt-to':
      case 'commit':
        return;
    }
  }

  /** Headers to insert at the top of the message now starting; transaction headers are used up. */
  takeHeaders(): string[] {
    const headers = [...this.sessionHeaders, ...this.transactionHeaders];
    this.transactionHeaders = [];
    return headers;
  }

  facts(phase: RulePhase, request: FilterPhase, param: string): SessionFacts {
    const atHelo = phase === 'helo';
    return {
      sessionId: this.id,
      src: this.src,
      srcPort: this.srcPort,
      dest: this.dest,
      destPort: this.destPort,
      local: this.local,
      rdns: this.rdns,
      fcrdns: this.fcrdns,
      helo: atHelo ? param : this.helo,
      heloMethod: atHelo ? (request === 'ehlo' ? 'EHLO' : 'HELO') : this.heloMethod,
      mailFrom: phase === 'mail-from' ? param : this.mailFrom,
      rcptTo: phase === 'rcpt-to' ? param : null,
      recipients: this.recipients.slice(),
      messageId: this.messageId,
      authUser: this.authUser,
      tls: this.tls,
      size: phase === 'commit' ? this.messageBytes : null,
    };
  }

  private endTransaction(): void {
    this.messageId = null;
    this.mailFrom = null;
    this.recipients = [];
    this.acceptedTransaction = false;
    this.transactionHeaders = [];
    this.streaming = false;
  }
}

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
