/**
 * The message of a transaction as steps that read it see it (rspamd, DKIM,
 * DMARC, ARC): its header fields, its bytes, and the header edits a step
 * asks for. The runtime holds the message (runtime/message-hold.ts, with
 * message/buffer.ts) and gives each such step a read-only view at the
 * client's final `.`. Types only.
 */
import type { Readable } from 'node:stream';
import type { StepDetail, StepOutcome } from './runner.js';

export interface HeaderField {
  /** The name as written, without the colon. */
  readonly name: string;
  /** Physical lines, the first one `Name:…`, each without CRLF. */
  readonly lines: readonly Uint8Array[];
}

/** An edit of the header block, in rspamd's milter semantics (message/edits.ts applies them). */
export type HeaderEdit =
  | { readonly type: 'remove'; readonly name: string; readonly index: number }
  | { readonly type: 'replace'; readonly name: string; readonly field: HeaderField }
  | { readonly type: 'insert'; readonly position: number; readonly field: HeaderField }
  | { readonly type: 'append'; readonly field: HeaderField };

/** The held message, read-only. */
export interface MessageView {
  /** Bytes as smtpd queues them (unstuffed lines plus CRLF), our added header lines included. */
  readonly size: number;
  /** The header block as received. */
  readonly headers: readonly HeaderField[];
  /** The message's bytes, unstuffed, lines ended by CRLF (or LF). */
  chunks(lineEnding?: '\r\n' | '\n'): Iterable<Uint8Array>;
  /** `chunks` as a stream (an HTTP request body). */
  stream(lineEnding?: '\r\n' | '\n'): Readable;
}

/** What rspamd said, for the `rspamd-*` conditions of later steps. */
/** What rspamd's `discard` and `quarantine` actions become (the rspamd step's options): junk, or a refusal with rspamd's message (or the rules' reply). */
export type CustomActionChoice = { readonly action: 'junk' } | { readonly action: 'reject'; readonly reply: string | null };

export interface RspamdVerdict {
  /** rspamd's action as it named it: `reject`, `soft reject`, `greylist`, `add header`, `rewrite subject`, `no action`, … */
  readonly action: string;
  readonly score: number;
  readonly requiredScore: number | null;
  /** The symbols that matched, by name. */
  readonly symbols: readonly string[];
}

/** What a step that read the message found: the edits it asks for and what it answers at commit. */
export interface MessageReading {
  readonly edits: readonly HeaderEdit[];
  /** Answered at commit by the step (its `run`): `continue`, `decide`, … */
  readonly outcome: StepOutcome;
  readonly rspamd?: RspamdVerdict;
}

/** The reading of one step, or why there is none (the step then answers per its on-error at commit). */
export type MessageOutcome =
  | { readonly ok: true; readonly reading: MessageReading }
  | { readonly ok: false; readonly error: string; readonly timedOut: boolean; readonly detail?: StepDetail };

/** The readings of a transaction's message, by step index; what commit's facts carry. */
export type MessageReadings = ReadonlyMap<number, MessageOutcome>;
