/**
 * Per-session state, built from report events, and the facts a request is
 * judged on. Reports about a command arrive AFTER our answer to it
 * (protocol.md §4 ordering), so the facts for a request take the command's
 * own argument from the request (HELO name, MAIL FROM, RCPT TO) and
 * everything earlier from the reports.
 *
 * Where sessions live, and when they are forgotten: session-table.ts.
 */
import { SessionAuth } from '../model/auth.js';
import { SessionDnsLists } from '../model/dns-lists.js';
import type { MessageReadings } from '../model/message.js';
import { SessionScore } from '../model/score.js';
import type { SessionFacts } from '../model/plan.js';
import type { FilterPhase, RulePhase } from '../model/phases.js';
import type { ConnectParam, ReportEvent } from '../protocol/types.js';
import type { MessageHold } from './message-hold.js';
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
  /** True between the first data-line of a message and the client's final `.`. */
  streaming = false;
  /** The message being held for the steps that read it (message-hold.ts); null when lines are echoed. */
  hold: MessageHold | null = null;
  /** What those steps found, for commit; null when no message was held. */
  messageReadings: MessageReadings | null = null;
  /** The held message could not be written back whole: commit is tempfailed. */
  messageDamaged = false;

  /** What the DNS-list steps found, and their lookups started at connect. */
  readonly dnsLists = new SessionDnsLists();
  /** The session's score: its part, and the current transaction's, which endTransaction clears. */
  readonly score = new SessionScore();
  /** What the authentication steps found for the current transaction. */
  readonly auth = new SessionAuth();

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
      this.messageReadings = null;
      this.messageDamaged = false;
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
      dnsLists: this.dnsLists,
      ...(phase === 'commit' && this.messageReadings !== null ? { messageReadings: this.messageReadings } : {}),
      score: this.score,
      auth: this.auth,
    };
  }

  /** The session ended (or fell out of the table): a held message goes back, its readings are aborted. */
  end(): void {
    this.hold?.disconnect();
  }

  private endTransaction(): void {
    this.messageId = null;
    this.mailFrom = null;
    this.recipients = [];
    this.acceptedTransaction = false;
    this.transactionHeaders = [];
    this.streaming = false;
    this.messageReadings = null;
    this.messageDamaged = false;
    this.score.resetTransaction();
    this.auth.clear();
  }
}
