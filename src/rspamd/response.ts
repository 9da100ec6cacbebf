/**
 * rspamd's /checkv2 answer (JSON) as a value: the action, the score, the
 * symbols, the SMTP message, the milter block (headers to add and remove),
 * a DKIM signature and a rewritten subject. Pure.
 *
 * The answer comes from another process: its size is bounded before it is
 * parsed (the caller stops reading past the bound), anything but an object
 * with a string `action` is an error, and unknown or ill-typed members are
 * dropped rather than trusted.
 */
import { err, ok, type Result } from '../support/result.js';

/** A header rspamd asks to add: its value, and where (`order`: milter's insheader index) when given. */
export interface AddHeader {
  readonly name: string;
  readonly value: string;
  readonly order: number | null;
}

export interface RspamdAnswer {
  readonly action: string;
  readonly score: number;
  readonly requiredScore: number | null;
  readonly symbols: readonly string[];
  /** `messages.smtp_message`, as sent (sanitised where it is used). */
  readonly smtpMessage: string | null;
  readonly subject: string | null;
  readonly addHeaders: readonly AddHeader[];
  /** Name → index (0 all, N the Nth, -N the Nth from the end). */
  readonly removeHeaders: readonly { readonly name: string; readonly index: number }[];
  readonly dkimSignatures: readonly string[];
  readonly skipped: boolean;
}

/** Answers bigger than this are errors (a normal one is a few KiB; thousands of symbols, a few hundred). */
export const MAX_ANSWER_BYTES = 1024 * 1024;

const MAX_SYMBOLS = 1000;
const MAX_HEADERS = 200;

export function parseAnswer(body: Uint8Array, maxBytes = MAX_ANSWER_BYTES): Result<RspamdAnswer, string> {
  if (body.length > maxBytes) return err(`answer of more than ${maxBytes} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8'));
  } catch (error) {
    return err(`answer is not JSON: ${error instanceof Error ? error.message.slice(0, 100) : 'parse error'}`);
  }
  if (!isObject(json)) return err('answer is not a JSON object');
  if (typeof json['error'] === 'string') return err(`rspamd error: ${json['error'].slice(0, 200)}`);
  const action = json['action'];
  if (typeof action !== 'string' || action === '') return err('answer has no action');
  const messages = isObject(json['messages']) ? json['messages'] : {};
  const milter = isObject(json['milter']) ? json['milter'] : {};
  return ok({
    action: action.slice(0, 100),
    score: finite(json['score']) ?? 0,
    requiredScore: finite(json['required_score']),
    symbols: isObject(json['symbols']) ? Object.keys(json['symbols']).slice(0, MAX_SYMBOLS) : [],
    smtpMessage: typeof messages['smtp_message'] === 'string' ? messages['smtp_message'] : null,
    subject: typeof json['subject'] === 'string' ? json['subject'] : null,
    addHeaders: addHeadersOf(milter['add_headers']),
    removeHeaders: removeHeadersOf(milter['remove_headers']),
    dkimSignatures: stringsOf(json['dkim-signature']),
    skipped: json['is_skipped'] === true,
  });
}

/** `{NAME: "v" | {value, order} | [either…]}`, as rspamd's milter reads it. */
function addHeadersOf(raw: unknown): AddHeader[] {
  if (!isObject(raw)) return [];
  const out: AddHeader[] = [];
  for (const [name, spec] of Object.entries(raw)) {
    for (const one of Array.isArray(spec) ? spec : [spec]) {
      if (out.length >= MAX_HEADERS) return out;
      if (typeof one === 'string') out.push({ name, value: one, order: null });
      else if (isObject(one) && typeof one['value'] === 'string') {
        const order = finite(one['order']);
        out.push({ name, value: one['value'], order: order === null ? null : Math.trunc(order) });
      }
    }
  }
  return out;
}

function removeHeadersOf(raw: unknown): { name: string; index: number }[] {
  if (!isObject(raw)) return [];
  const out: { name: string; index: number }[] = [];
  for (const [name, index] of Object.entries(raw)) {
    const n = finite(index);
    if (n !== null && out.length < MAX_HEADERS) out.push({ name, index: Math.trunc(n) });
  }
  return out;
}

function stringsOf(raw: unknown): string[] {
  if (typeof raw === 'string') return [raw];
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string').slice(0, MAX_HEADERS);
  return [];
}

function finite(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
