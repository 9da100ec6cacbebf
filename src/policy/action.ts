import { sanitizeHeaderLine, type HeaderFix } from '../support/mail-header.js';
import { printableText } from '../support/printable.js';

/**
 * What a policy server's `action=` means, following Postfix's access(5) and
 * smtpd_check.c (check_table_result), as a pure function from the action
 * text to a verdict. Keywords are case-insensitive, as in Postfix.
 *
 * | action                          | verdict → step outcome (src/steps/policy/run.ts)             |
 * |---------------------------------|--------------------------------------------------------------|
 * | DUNNO                           | dunno → continue                                             |
 * | OK, RELAY, PERMIT, all digits   | permit → accept (ends the phase; the accept scope applies)   |
 * | DEFER_IF_PERMIT text            | defer-if-permit → arm: 450 4.7.1 text if the phase permits    |
 * | DEFER_IF_REJECT text            | defer-if-reject → arm: a later 5xx becomes 450 4.7.1 text     |
 * | DEFER text                      | reject 450 4.7.1 text                                        |
 * | REJECT text                     | reject 550 5.7.1 text                                        |
 * | 4NN text / 5NN text             | reject NNN X.7.1 text (421/521: disconnect)                  |
 * | PREPEND name: value             | prepend header (sanitised, see src/support/mail-header.ts)   |
 * | WARN / INFO text                | log (warn / info) → continue                                 |
 * | HOLD DISCARD FILTER REDIRECT BCC| log at warn → continue: no OpenSMTPD filter equivalent       |
 * | anything else, empty            | invalid (the step's on-error applies)                        |
 *
 * Postfix's terms mapped onto filter-rules.
 * - A Postfix *restriction list* (smtpd_recipient_restrictions, ...) is
 *   "the steps of one phase in one chain" here: the steps the evaluator
 *   (src/runtime/evaluator.ts) runs in order for one request. Postfix's
 *   "permit" (OK) ends the list with success: here the step answers
 *   `accept`, which ends the phase with proceed, and the runtime applies
 *   accept's scope (at rcpt-to: that recipient only; at mail-from and data:
 *   the transaction, so rcpt-to steps no longer run for it; at commit: the
 *   message). So `policy … then greylist` does not greylist what the policy
 *   server whitelisted. One difference: Postfix's OK in
 *   smtpd_sender_restrictions ends only that list and the recipient list
 *   still runs; here the chain is one list across phases, and an OK at
 *   mail-from accepts the transaction like an `accept` step there does.
 * - DEFER_IF_PERMIT and DEFER_IF_REJECT arm a deferral for the rest of the
 *   phase, as Postfix's defer_if_permit / defer_if_reject state does for the
 *   rest of its restriction list. The first one of each kind is kept (as
 *   Postfix's defer_if() does). At the end of the phase:
 *     - DEFER_IF_PERMIT: if the phase would let the command through (the
 *       end of the chain, an `accept`, a policy OK, or `junk`, which passes
 *       the message), the armed `450` is answered instead; if a later step
 *       refuses (reject, disconnect, an on-error tempfail), that stands,
 *       5xx included.
 *     - DEFER_IF_REJECT: a later 5xx (reject or disconnect) becomes the
 *       armed `450 4.7.1 text`, a plain reject, as Postfix's
 *       smtpd_check_reject does; a later 4xx or a permit stands.
 *     - Both armed: the phase ends there with the DEFER_IF_PERMIT reply,
 *       as Postfix's generic_checks stops the list (nothing after could
 *       turn the outcome into a permit or a 5xx any more).
 * - Phase boundaries: armed states never outlive the phase that armed them.
 *   Postfix resets defer_if_reject at the start of every restriction list,
 *   as here. It carries defer_if_permit from the client, HELO and sender
 *   lists into the recipient list and resolves it only per recipient (and
 *   at DATA and end-of-data, where it starts afresh); here each phase is
 *   answered to smtpd on its own, so a DEFER_IF_PERMIT at mail-from is
 *   resolved at mail-from: the transaction gets the 450 at MAIL FROM
 *   instead of at each RCPT TO. The mail is deferred either way; what is
 *   lost is only that a rcpt-to step's 5xx cannot win over it (the client
 *   retries later and meets the 5xx then), which errs on the safe side.
 *   At rcpt-to, data and commit (where policy steps run by default) the
 *   behaviour is Postfix's.
 * - A `dry-run` policy step never arms anything: what it would have armed
 *   is only reported (the evaluator's dryRuns).
 *
 * Notes.
 * - Like Postfix, a text starting with an enhanced status code (`4.2.0 ...`)
 *   keeps it, with its class forced to the reply code's class; otherwise
 *   X.7.1 is added. REJECT uses 550 (Postfix's access_map_reject_code
 *   default is 554; 550 is what smtpd and most MTAs say for a refused
 *   recipient). A bare `4NN` with no text is all-numeric, hence OK, exactly
 *   as in Postfix.
 * - Reply text is made printable (controls become spaces) and the whole
 *   reply is cut to 510 characters, as Postfix does.
 * - PREPEND: the header goes through the one header sanitiser (controls
 *   other than HTAB become spaces, cut at 998 octets); a PREPEND whose
 *   bytes were not valid UTF-8 is refused with a warning instead of being
 *   added with U+FFFD in it: we cannot know what the server meant, and a
 *   header silently different from what it sent (an authentication result,
 *   say) is worse than none. The rest of the answer is unaffected.
 */

export type PolicyVerdict =
  | { readonly kind: 'dunno' }
  | { readonly kind: 'permit'; readonly keyword: string }
  | { readonly kind: 'reject'; readonly reply: string; readonly temporary: boolean; readonly keyword: string }
  | { readonly kind: 'disconnect'; readonly reply: string; readonly keyword: string }
  /** DEFER_IF_PERMIT / DEFER_IF_REJECT: `reply` is what the armed deferral answers. */
  | { readonly kind: 'defer-if-permit' | 'defer-if-reject'; readonly reply: string; readonly keyword: string }
  /** `fixed`: what the header sanitiser changed (empty when the header was clean). */
  | { readonly kind: 'prepend'; readonly header: string; readonly fixed: readonly HeaderFix[] }
  | { readonly kind: 'log'; readonly level: 'info' | 'warn'; readonly keyword: string; readonly text: string }
  | { readonly kind: 'invalid'; readonly reason: string };

export interface InterpretOptions {
  /** The action's bytes were not valid UTF-8 (PolicyAnswer.invalidUtf8 names `action`). */
  readonly invalidUtf8?: boolean;
}

/** The longest reply Postfix sends (smtpd_check_reject truncates to 510). */
export const MAX_REPLY_LENGTH = 510;

const DEFER_CODE = 450;
const REJECT_CODE = 550;

/**
 * `CODE DSN text`: DSN from the start of `text` when it has one (class forced
 * to the code's class), else `CLASS.7.1`; `fallback` when the text is empty.
 */
export function formatPolicyReply(code: number, text: string, fallback: string): string {
  const cls = String(code).charAt(0);
  const clean = printableText(text);
  const m = /^([245])\.([0-9]{1,3})\.([0-9]{1,3})(?:\s+|$)/.exec(clean);
  const dsn = m ? `${cls}.${m[2]}.${m[3]}` : `${cls}.7.1`;
  const rest = m ? clean.slice(m[0].length) : clean;
  const reply = `${code} ${dsn} ${rest === '' ? fallback : rest}`;
  return reply.length > MAX_REPLY_LENGTH ? reply.slice(0, MAX_REPLY_LENGTH) : reply;
}

const POST_QUEUE_ACTIONS = new Set(['HOLD', 'DISCARD', 'FILTER', 'REDIRECT', 'BCC']);

export function interpretPolicyAction(action: string | null, options: InterpretOptions = {}): PolicyVerdict {
  if (action === null) return { kind: 'invalid', reason: 'answer without an action= attribute' };
  const trimmed = action.trim();
  if (trimmed === '') return { kind: 'invalid', reason: 'empty action' };
  const space = trimmed.search(/[ \t]/);
  const word = space < 0 ? trimmed : trimmed.slice(0, space);
  const text = space < 0 ? '' : trimmed.slice(space).trim();
  const keyword = word.toUpperCase();

  switch (keyword) {
    case 'DUNNO':
      return { kind: 'dunno' };
    case 'OK':
    case 'RELAY':
    case 'PERMIT':
      return { kind: 'permit', keyword };
    case 'DEFER_IF_PERMIT':
      return { kind: 'defer-if-permit', reply: formatPolicyReply(DEFER_CODE, text, 'Service unavailable'), keyword };
    case 'DEFER_IF_REJECT':
      return { kind: 'defer-if-reject', reply: formatPolicyReply(DEFER_CODE, text, 'Service unavailable'), keyword };
    case 'DEFER':
      return { kind: 'reject', reply: formatPolicyReply(DEFER_CODE, text, 'Access denied'), temporary: true, keyword };
    case 'REJECT':
      return { kind: 'reject', reply: formatPolicyReply(REJECT_CODE, text, 'Access denied'), temporary: false, keyword };
    case 'WARN':
      return { kind: 'log', level: 'warn', keyword, text: printableText(text) };
    case 'INFO':
      return { kind: 'log', level: 'info', keyword, text: printableText(text) };
    case 'PREPEND': {
      if (options.invalidUtf8 === true) {
        return { kind: 'log', level: 'warn', keyword: 'PREPEND', text: `header is not valid UTF-8, ignored: ${printableText(text)}` };
      }
      const header = sanitizeHeaderLine(text);
      if (!header.ok) return { kind: 'log', level: 'warn', keyword: 'PREPEND', text: `${header.error}, ignored: ${printableText(text)}` };
      return { kind: 'prepend', header: header.value.line, fixed: header.value.fixed };
    }
    default:
      break;
  }
  if (POST_QUEUE_ACTIONS.has(keyword)) {
    return { kind: 'log', level: 'warn', keyword, text: `not supported by an OpenSMTPD filter, ignored: ${printableText(text)}` };
  }
  if (/^[0-9]+$/.test(word) && text === '') return { kind: 'permit', keyword: word };
  if (/^[45][0-9][0-9]$/.test(word) && text !== '') {
    const code = Number(word);
    const reply = formatPolicyReply(code, text, 'Access denied');
    if (code === 421 || code === 521) return { kind: 'disconnect', reply, keyword: word };
    return { kind: 'reject', reply, temporary: code < 500, keyword: word };
  }
  return { kind: 'invalid', reason: `unknown action ${JSON.stringify(printableText(trimmed).slice(0, 100))}` };
}
