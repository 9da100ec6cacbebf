/**
 * Pure serialiser for the lines we send. It VALIDATES every line: smtpd exits
 * on the first line it dislikes (protocol.md §5.5), so an invalid line must
 * never reach stdout. Callers that get an error send `fallbackFor(...)` instead
 * (the writer does this; see writer.ts).
 */
import type { FilterDecision } from '../model/decision.js';
import { isFilterPhase, isReportEventName, type FilterPhase } from '../model/phases.js';
import { err, ok, type Result } from '../support/result.js';
import { isHex16 } from './parse.js';
import type { OutputLine } from './types.js';
import { SMTPD_RULE, tempfailDecision } from './smtpd-rules.js';

/** `[45]xy`, a space, then text without control characters (tab allowed). */
const REPLY = /^[45][0-9][0-9] [^\x00-\x08\x0a-\x1f\x7f]+$/;
/** RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including CRLF. */
const MAX_REPLY_CHARS = 510;

/** Phases where smtpd accepts `rewrite` (connect accepts it but ignores the value: never useful). */
const REWRITE_PHASES: ReadonlySet<FilterPhase> = new Set(['helo', 'ehlo', 'mail-from', 'rcpt-to', 'auth']);

const JUNK_AT_COMMIT = SMTPD_RULE['junk-at-commit'];

/** null when `reply` is a reply smtpd will send as is; otherwise why not. */
export function checkReply(reply: string): string | null {
  if (reply.length > MAX_REPLY_CHARS) return `reply longer than ${MAX_REPLY_CHARS} characters`;
  if (!REPLY.test(reply)) return 'reply must be a 4xx or 5xx code, a space and text without control characters';
  return null;
}

function checkDecision(decision: FilterDecision, phase: FilterPhase): string | null {
  if (phase === 'data-line') return 'filter-result is not allowed in the data-line phase';
  switch (decision.type) {
    case 'proceed':
      return null;
    case 'junk':
      // smtpd 6.8: fatalx("filter-reponse junk after DATA"). adaptToPhase never lets one through; this is the last guard.
      return phase === JUNK_AT_COMMIT.phase ? `junk is not allowed at ${JUNK_AT_COMMIT.phase}` : null;
    case 'reject':
    case 'disconnect':
      return checkReply(decision.reply);
    case 'rewrite':
      if (!REWRITE_PHASES.has(phase)) return `rewrite is not allowed at ${phase}`;
      if (decision.value === '' || /[\r\n\0|]/.test(decision.value)) {
        return 'rewrite value must be non-empty, without CR, LF, NUL or |';
      }
      return null;
  }
}

function decisionText(decision: FilterDecision): string {
  switch (decision.type) {
    case 'proceed':
    case 'junk':
      // Never with a parameter: `proceed|x` and `junk|x` are fatal.
      return decision.type;
    case 'reject':
    case 'disconnect':
      return `${decision.type}|${decision.reply}`;
    case 'rewrite':
      return `rewrite|${decision.value}`;
  }
}

function checkIds(sessionId: string, token: string): string | null {
  if (!isHex16(sessionId)) return 'session id is not 16 hex digits';
  if (!isHex16(token)) return 'token is not 16 hex digits';
  return null;
}

/** The line without its `\n`, or why it must not be sent. */
export function formatOutput(out: OutputLine): Result<string, string> {
  switch (out.kind) {
    case 'register-filter':
      return isFilterPhase(out.phase) ? ok(`register|filter|smtp-in|${out.phase}`) : err(`unknown phase ${out.phase}`);
    case 'register-report':
      return isReportEventName(out.event) ? ok(`register|report|smtp-in|${out.event}`) : err(`unknown event ${out.event}`);
    case 'register-ready':
      return ok('register|ready');
    case 'filter-result': {
      const problem = checkIds(out.sessionId, out.token) ?? checkDecision(out.decision, out.phase);
      if (problem !== null) return err(problem);
      return ok(`filter-result|${out.sessionId}|${out.token}|${decisionText(out.decision)}`);
    }
    case 'filter-dataline': {
      const problem = checkIds(out.sessionId, out.token);
      if (problem !== null) return err(problem);
      // A data line is echoed byte-exact, so a CR smtpd sent inside it goes back
      // unchanged; only LF (which would split the line) and NUL (which smtpd's C
      // string handling would cut at) can never be sent.
      if (/[\n\0]/.test(out.line)) return err('data line contains LF or NUL');
      return ok(`filter-dataline|${out.sessionId}|${out.token}|${out.line}`);
    }
  }
}

/**
 * What to send instead of a line that failed validation: a tempfail for a
 * filter-result, nothing for a data line (the caller logs; the stream goes on),
 * nothing for a register line (cannot happen: those are built from constants).
 */
export function fallbackFor(out: OutputLine): OutputLine | null {
  if (out.kind !== 'filter-result' || out.phase === 'data-line') return null;
  if (checkIds(out.sessionId, out.token) !== null) return null;
  return { ...out, decision: tempfailDecision(out.phase) };
}
