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
}

export type PolicyDecodeError =
  /** A line that is not `name=value` (postgrey would ignore it; Postfix fails the request). */
  | { readonly code: 'garbage'; readonly line: string }
  /** More than `maxAnswerLength` characters without the empty line that ends an answer. */
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
  /** Cap on one answer, in characters, counting the unfinished line. Default 8192. */
  readonly maxAnswerLength?: number;
}

export const DEFAULT_MAX_ANSWER_LENGTH = 8192;

/**
 * Incremental answer reader. Feed it chunks; it returns the answers (and at
 * most one error) completed by each chunk. After an error the stream is out
 * of sync for good, so the decoder stops and returns nothing more: the
 * connection must be discarded.
 */
export class PolicyAnswerDecoder {
  private readonly maxAnswerLength: number;
  private readonly utf8 = new TextDecoder('utf-8');
  private partial = '';
  private attributes: PolicyAttribute[] = [];
  private answerLength = 0;
  private failed = false;

  constructor(options: PolicyAnswerDecoderOptions = {}) {
    const max = options.maxAnswerLength ?? DEFAULT_MAX_ANSWER_LENGTH;
    if (!Number.isInteger(max) || max < 16) throw new RangeError(`maxAnswerLength must be an integer >= 16, got ${max}`);
    this.maxAnswerLength = max;
  }

  /** True while an answer has started but not ended (bytes or attributes pending). */
  get midAnswer(): boolean {
    return !this.failed && (this.partial !== '' || this.attributes.length > 0);
  }

  /** True once the stream was found out of sync. */
  get hasFailed(): boolean {
    return this.failed;
  }

  push(chunk: string | Uint8Array): PolicyDecoded[] {
    if (this.failed) return [];
    const text = typeof chunk === 'string' ? chunk : this.utf8.decode(chunk, { stream: true });
    const out: PolicyDecoded[] = [];
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      const line = this.partial + text.slice(start, nl);
      this.partial = '';
      start = nl + 1;
      const item = this.line(line);
      if (item) {
        out.push(item);
        if (item.type === 'error') return out;
      }
    }
    this.partial += text.slice(start);
    if (this.answerLength + this.partial.length > this.maxAnswerLength) {
      out.push(this.fail({ code: 'too-long', length: this.answerLength + this.partial.length }));
    }
    return out;
  }

  private line(raw: string): PolicyDecoded | null {
    // Tolerate CRLF, as postgrey itself does when reading requests.
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') {
      const attributes = this.attributes;
      this.attributes = [];
      this.answerLength = 0;
      const action = attributes.find(([name]) => name === 'action');
      return { type: 'answer', answer: { attributes, action: action ? action[1] : null } };
    }
    this.answerLength += raw.length + 1;
    if (this.answerLength > this.maxAnswerLength) {
      return this.fail({ code: 'too-long', length: this.answerLength });
    }
    const eq = line.indexOf('=');
    if (eq <= 0) return this.fail({ code: 'garbage', line: line.slice(0, 200) });
    this.attributes.push([line.slice(0, eq), line.slice(eq + 1)]);
    return null;
  }

  private fail(error: PolicyDecodeError): PolicyDecoded {
    this.failed = true;
    this.partial = '';
    this.attributes = [];
    return { type: 'error', error };
  }
}

/** A short, printable rendering of a decode error for logs. */
export function describeDecodeError(error: PolicyDecodeError): string {
  switch (error.code) {
    case 'garbage':
      return `not a name=value line: ${JSON.stringify(error.line)}`;
    case 'too-long':
      return `answer longer than the cap (${error.length} characters without an end)`;
  }
}
