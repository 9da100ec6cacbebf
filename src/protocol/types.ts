/**
 * The OpenSMTPD filter protocol as values: every line smtpd sends us
 * (InputLine) and every line we may send (OutputLine). Parsing lives in
 * parse.ts, serialising and validation in format.ts; nothing here does I/O.
 * Field order and quirks follow /work/shared/protocol.md (§2, §4, §5).
 */
import type { FilterDecision } from '../model/decision.js';
import type { FilterPhase, ReportEventName } from '../model/phases.js';

/** `config|KEY|VALUE` during the handshake (keys are open-ended: unknown ones are kept, then ignored). */
export interface ConfigLine {
  readonly kind: 'config';
  readonly key: string;
  readonly value: string;
}

/** `config|ready`: the end of the configuration block. */
export interface ConfigReadyLine {
  readonly kind: 'config-ready';
}

/** Fields every `report|` and `filter|` line starts with. */
export interface Envelope {
  /** Protocol version from field 2: `0.6` (smtpd 6.7–7.3), `0.7` (7.4+), or a future one. */
  readonly version: string;
  /** Seconds since the epoch with microseconds, as smtpd stamped the line. */
  readonly timestamp: number;
  /** `smtp-in` for incoming sessions; `smtp-out` for relays (we never register those). */
  readonly subsystem: string;
  /** 16 lowercase hex digits, echoed as received. */
  readonly sessionId: string;
}

/** The payload of a report event, one variant per event of protocol.md §4. */
export type ReportEvent =
  | {
      readonly type: 'link-connect';
      /** PTR name; null when there is none (smtpd's `<unknown>`, or an empty field). */
      readonly rdns: string | null;
      /** `pass`, `fail` or `error`. */
      readonly fcrdns: string;
      /** The client, from `a.b.c.d:port`, `[v6]:port` or `unix:/path` (see parseEndpoint). */
      readonly src: Endpoint;
      /** Our side of the connection, in the same forms. */
      readonly dest: Endpoint;
      /** `src` as smtpd wrote it (`127.0.0.1:5000`, `unix:/…`), for logs. */
      readonly srcText: string;
    }
  | { readonly type: 'link-greeting'; readonly hostname: string }
  | { readonly type: 'link-identify'; readonly method: string; readonly identity: string }
  | { readonly type: 'link-tls'; readonly tls: string }
  /** 0.6 sends `username|result` (username may contain `|`), 0.7 `result|username`; both end up here. */
  | { readonly type: 'link-auth'; readonly username: string; readonly result: string }
  | { readonly type: 'link-disconnect' }
  /** The man page calls msgid optional; 6.8 always prints it. */
  | { readonly type: 'tx-reset'; readonly messageId: string | null }
  | { readonly type: 'tx-begin'; readonly messageId: string }
  | { readonly type: 'tx-mail'; readonly messageId: string; readonly result: string; readonly address: string }
  | { readonly type: 'tx-rcpt'; readonly messageId: string; readonly result: string; readonly address: string }
  | { readonly type: 'tx-envelope'; readonly messageId: string; readonly envelopeId: string }
  | { readonly type: 'tx-data'; readonly messageId: string; readonly result: string }
  | { readonly type: 'tx-commit'; readonly messageId: string; readonly size: number }
  | { readonly type: 'tx-rollback'; readonly messageId: string }
  | { readonly type: 'protocol-client'; readonly command: string }
  | { readonly type: 'protocol-server'; readonly response: string }
  | { readonly type: 'filter-report'; readonly filterKind: string; readonly name: string; readonly message: string }
  | {
      readonly type: 'filter-response';
      /** Note smtpd's names here: `connected` for connect, `tls` for starttls. */
      readonly phase: string;
      readonly response: string;
      readonly param: string | null;
    }
  | { readonly type: 'timeout' };

export type ReportEventType = ReportEvent['type'];

export interface ReportLine extends Envelope {
  readonly kind: 'report';
  readonly event: ReportEvent;
}

/** `filter|VERSION|TS|SUBSYSTEM|PHASE|SESSION|TOKEN|PARAM`: needs exactly one answer. */
export interface FilterRequestLine extends Envelope {
  readonly kind: 'filter';
  readonly phase: FilterPhase;
  /**
   * Identifies the chain entry, not the request: the same token recurs across
   * sessions and within one. Pending work is keyed by (sessionId, token).
   */
  readonly token: string;
  /** Everything after the token, `|` included; "" for phases without a parameter. */
  readonly param: string;
}

/**
 * A line that is well formed as far as we can tell but names something this
 * version does not know (a future event or phase, another message type).
 * Kept so the host can log it and, for a filter request, still answer it.
 */
export interface UnknownLine {
  readonly kind: 'unknown';
  /** The first field (`report`, `filter`, or something new). */
  readonly type: string;
  /** The event or phase name, when the line had one. */
  readonly name: string | null;
  /** Present when the line looked like a filter request: it still needs an answer. */
  readonly request: { readonly sessionId: string; readonly token: string; readonly version: string } | null;
  readonly line: string;
}

export type InputLine = ConfigLine | ConfigReadyLine | ReportLine | FilterRequestLine | UnknownLine;

/** Why a line could not be parsed. `line` is shortened for logging. */
export interface ParseProblem {
  readonly reason: string;
  readonly line: string;
}

/** A link-connect address split into its parts. */
export interface Endpoint {
  /** IP address without brackets or port; "" for the local socket. */
  readonly address: string;
  readonly port: number | null;
  /** True for `unix:/path` (smtpd's local enqueue socket). */
  readonly local: boolean;
}

/**
 * `filter|…|connect|…|rdns|src`, parsed like link-connect's fields: src is an
 * address without port (`127.0.0.1`, `[::1]`), or `local` for the local socket.
 */
export interface ConnectParam {
  /** null when smtpd said `<unknown>` (or sent nothing). */
  readonly rdns: string | null;
  /** Never has a port: the request does not carry one. */
  readonly src: Endpoint;
  /** `src` as smtpd wrote it, for logs. */
  readonly srcText: string;
}

/** Lines we send. Built by the runtime, validated and serialised by format.ts only. */
export type OutputLine =
  | { readonly kind: 'register-filter'; readonly subsystem: 'smtp-in'; readonly phase: FilterPhase }
  | { readonly kind: 'register-report'; readonly subsystem: 'smtp-in'; readonly event: ReportEventName }
  | { readonly kind: 'register-ready' }
  | {
      readonly kind: 'filter-result';
      readonly sessionId: string;
      readonly token: string;
      /** The phase of the request being answered: validation depends on it (no junk at commit, …). */
      readonly phase: FilterPhase;
      readonly decision: FilterDecision;
    }
  | {
      readonly kind: 'filter-dataline';
      readonly sessionId: string;
      readonly token: string;
      readonly line: string;
      /**
       * How `line` maps to bytes. Lines that were not valid UTF-8 are carried as
       * latin1 strings (one char per byte) so the echo is byte-exact; see line-reader.ts.
       */
      readonly encoding: 'utf8' | 'latin1';
    };
