/**
 * The Postfix SMTP access policy delegation wire format (SMTPD_POLICY_README),
 * as pure functions: no sockets, no timers.
 *
 *   request:  name=value\n ... name=value\n \n
 *   answer:   action=...\n [other=value\n ...] \n
 *
 * Values may not contain newlines (or NUL): a value that did would end the
 * attribute early and let a client-chosen HELO or address inject attributes
 * of its own (`helo_name=x\nrecipient=postmaster@...`), so encoding replaces
 * them. Answers are read incrementally, in whatever chunks the socket gives,
 * and a server that sends lines without `=` or never ends its answer is
 * reported as an error value, never thrown.
 */

/** One attribute, in wire order. */
export type PolicyAttribute = readonly [name: string, value: string];

/** A complete answer: every attribute the server sent, and the first `action` value. */
export interface PolicyAnswer {
  readonly attributes: readonly PolicyAttribute[];
  /** Null when the server ended its answer without an `action=` line. */
  readonly action: string | null;
  /**
   * Names of the attributes whose value was not valid UTF-8 (decoded with
   * U+FFFD in `attributes` and `action`); usually empty.
   */
  readonly invalidUtf8: readonly string[];
}

export type PolicyDecodeError =
  /** A line that is not `name=value` (postgrey would ignore it; Postfix fails the request). */
  | { readonly code: 'garbage'; readonly line: string }
  /** More than `maxAnswerLength` bytes without the empty line that ends an answer. */
  | { readonly code: 'too-long'; readonly length: number };

export type PolicyDecoded =
  | { readonly type: 'answer'; readonly answer: PolicyAnswer }
  | { readonly type: 'error'; readonly error: PolicyDecodeError };

/** What replaces NUL, CR and LF in request values. */
const VALUE_REPLACEMENT = '?';

/** NUL, CR and LF: the characters that would break or forge request lines. */
const UNSAFE_IN_VALUE = /[\0\r\n]/g;

const VALID_NAME = /^[A-Za-z0-9_.-]+$/;

/** A request value made safe for one line. Other characters pass unchanged. */
export function sanitizeAttributeValue(value: string): string {
  return value.replace(UNSAFE_IN_VALUE, VALUE_REPLACEMENT);
}

/**
 * Encode a request. Attribute names are ours (fixed strings), so a bad name
 * is a bug and throws; values come from SMTP clients and are sanitized.
 */
export function encodePolicyRequest(attributes: readonly PolicyAttribute[]): string {
  let out = '';
  for (const [name, value] of attributes) {
    if (!VALID_NAME.test(name)) throw new Error(`invalid policy attribute name: ${JSON.stringify(name)}`);
    out += `${name}=${sanitizeAttributeValue(value)}\n`;
  }
  return `${out}\n`;
}

export interface PolicyAnswerDecoderOptions {
  /** Cap on one answer, in bytes, counting the unfinished line. Default 8192. */
  readonly maxAnswerLength?: number;
}

export const DEFAULT_MAX_ANSWER_LENGTH = 8192;

const NO_NAMES: readonly string[] = Object.freeze([]);

/**
 * Incremental answer reader. Feed it chunks; it returns the answers (and at
 * most one error) completed by each chunk. After an error the stream is out
 * of sync for good, so the decoder stops and returns nothing more: the
 * connection must be discarded.
 *
 * Lines are split as bytes (a newline byte never occurs inside a UTF-8
 * sequence) and each line is decoded on its own, strictly first: a value
 * whose bytes are not UTF-8 is still decoded (with U+FFFD for the bad bytes,
 * so the answer can be logged and acted on), but its attribute is named in
 * `invalidUtf8`, so that a PREPEND made of such bytes is refused rather than
 * put into a header with U+FFFD in it (see action.ts).
 */
export class PolicyAnswerDecoder {
  private readonly maxAnswerLength: number;
  private readonly strict = new TextDecoder('utf-8', { fatal: true });
  private readonly lenient = new TextDecoder('utf-8');
  /** Bytes of the unfinished line (copies: callers may reuse their buffers). */
  private partial: Uint8Array[] = [];
  private partialLength = 0;
  private attributes: PolicyAttribute[] = [];
  private invalidUtf8: string[] | null = null;
  private answerLength = 0;
  private failed = false;

  constructor(options: PolicyAnswerDecoderOptions = {}) {
    const max = options.maxAnswerLength ?? DEFAULT_MAX_ANSWER_LENGTH;
    if (!Number.isInteger(max) || max < 16) throw new RangeError(`maxAnswerLength must be an integer >= 16, got ${max}`);
    this.maxAnswerLength = max;
  }

  /** True while an answer has started but not ended (bytes or attributes pending). */
  get midAnswer(): boolean {
    return !this.failed && (this.partialLength > 0 || this.attributes.length > 0);
  }

  /** True once the stream was found out of sync. */
  get hasFailed(): boolean {
    return this.failed;
  }

  push(chunk: string | Uint8Array): PolicyDecoded[] {
    if (this.failed) return [];
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const out: PolicyDecoded[] = [];
    let start = 0;
    for (;;) {
      const nl = bytes.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = bytes.subarray(start, nl);
      const line = this.partialLength === 0 ? piece : Buffer.concat([...this.partial, piece]);
      this.partial = [];
      this.partialLength = 0;
      start = nl + 1;
      const item = this.line(line);
      if (item) {
        out.push(item);
        if (item.type === 'error') return out;
      }
    }
    if (start < bytes.length) {
      this.partial.push(bytes.slice(start));
      this.partialLength += bytes.length - start;
    }
    if (this.answerLength + this.partialLength > this.maxAnswerLength) {
      out.push(this.fail({ code: 'too-long', length: this.answerLength + this.partialLength }));
    }
    return out;
  }

  private line(raw: Uint8Array): PolicyDecoded | null {
    // Tolerate CRLF, as postgrey itself does when reading requests.
    const bytes = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.subarray(0, raw.length - 1) : raw;
    if (bytes.length === 0) {
      const attributes = this.attributes;
      const invalidUtf8 = this.invalidUtf8 ?? NO_NAMES;
      this.attributes = [];
      this.invalidUtf8 = null;
      this.answerLength = 0;
      const action = attributes.find(([name]) => name === 'action');
      return { type: 'answer', answer: { attributes, action: action ? action[1] : null, invalidUtf8 } };
    }
    this.answerLength += raw.length + 1;
    if (this.answerLength > this.maxAnswerLength) {
      return this.fail({ code: 'too-long', length: this.answerLength });
    }
    let line: string;
    let valid = true;
    try {
      line = this.strict.decode(bytes);
    } catch {
      line = this.lenient.decode(bytes);
      valid = false;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) return this.fail({ code: 'garbage', line: line.slice(0, 200) });
    const name = line.slice(0, eq);
    this.attributes.push([name, line.slice(eq + 1)]);
    if (!valid) (this.invalidUtf8 ??= []).push(name);
    return null;
  }

  private fail(error: PolicyDecodeError): PolicyDecoded {
    this.failed = true;
    this.partial = [];
    this.partialLength = 0;
    this.attributes = [];
    this.invalidUtf8 = null;
    return { type: 'error', error };
  }
}

/** A short, printable rendering of a decode error for logs. */
export function describeDecodeError(error: PolicyDecodeError): string {
  switch (error.code) {
    case 'garbage':
      return `not a name=value line: ${JSON.stringify(error.line)}`;
    case 'too-long':
      return `answer longer than the cap (${error.length} bytes without an end)`;
  }
}
