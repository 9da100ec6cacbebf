/**
 * What a policy server's `action=` means, following Postfix's access(5) and
 * smtpd_check.c (check_table_result), as a pure function from the action
 * text to a verdict. Keywords are case-insensitive, as in Postfix.
 *
 * | action                         | verdict                                        |
 * |--------------------------------|------------------------------------------------|
 * | DUNNO                          | dunno (go on)                                  |
 * | OK, RELAY, PERMIT, all digits  | permit (go on; see note)                       |
 * | DEFER_IF_PERMIT text           | reject 450 4.7.1 text                          |
 * | DEFER text                     | reject 450 4.7.1 text                          |
 * | REJECT text                    | reject 550 5.7.1 text                          |
 * | 4NN text / 5NN text            | reject NNN X.7.1 text (421/521: disconnect)    |
 * | PREPEND name: value            | prepend header                                 |
 * | WARN / INFO text               | log (warn / info), go on                       |
 * | DEFER_IF_REJECT text           | log, go on (see note)                          |
 * | HOLD DISCARD FILTER REDIRECT BCC| log at warn, go on: no OpenSMTPD equivalent    |
 * | anything else, empty           | invalid (the step's on-error applies)          |
 *
 * Notes.
 * - Postfix's OK ends the restriction list it appears in; here a chain goes
 *   on, which is what postgrey-style servers mean by it in practice (they
 *   return DUNNO anyway) and keeps later `reject` steps effective.
 * - DEFER_IF_REJECT defers only if a *later* restriction rejects. Nothing
 *   here can turn a later reject into a deferral, so it is logged and the
 *   chain goes on (the later step's own decision stands).
 * - Like Postfix, a text starting with an enhanced status code (`4.2.0 ...`)
 *   keeps it, with its class forced to the reply code's class; otherwise
 *   X.7.1 is added. REJECT uses 550 (Postfix's access_map_reject_code
 *   default is 554; 550 is what smtpd and most MTAs say for a refused
 *   recipient). A bare `4NN` with no text is all-numeric, hence OK, exactly
 *   as in Postfix.
 * - Reply text is made printable (controls become spaces) and the whole
 *   reply is cut to 510 characters, as Postfix does.
 */

export type PolicyVerdict =
  | { readonly kind: 'dunno' }
  | { readonly kind: 'permit'; readonly keyword: string }
  | { readonly kind: 'reject'; readonly reply: string; readonly temporary: boolean; readonly keyword: string }
  | { readonly kind: 'disconnect'; readonly reply: string; readonly keyword: string }
  | { readonly kind: 'prepend'; readonly header: string }
  | { readonly kind: 'log'; readonly level: 'info' | 'warn'; readonly keyword: string; readonly text: string }
  | { readonly kind: 'invalid'; readonly reason: string };

/** The longest reply Postfix sends (smtpd_check_reject truncates to 510). */
export const MAX_REPLY_LENGTH = 510;

const DEFER_CODE = 450;
const REJECT_CODE = 550;

/** Printable text: controls (including CR/LF) become spaces, ends trimmed. */
export function printableText(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
}

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

/** `Name: value` on one line, Name printable ASCII without colon or space (RFC 5322 field name). */
const HEADER = /^[\x21-\x39\x3b-\x7e]+:[^\r\n]*$/;

const POST_QUEUE_ACTIONS = new Set(['HOLD', 'DISCARD', 'FILTER', 'REDIRECT', 'BCC']);

export function interpretPolicyAction(action: string | null): PolicyVerdict {
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
      return { kind: 'reject', reply: formatPolicyReply(DEFER_CODE, text, 'Service unavailable'), temporary: true, keyword };
    case 'DEFER':
      return { kind: 'reject', reply: formatPolicyReply(DEFER_CODE, text, 'Access denied'), temporary: true, keyword };
    case 'REJECT':
      return { kind: 'reject', reply: formatPolicyReply(REJECT_CODE, text, 'Access denied'), temporary: false, keyword };
    case 'DEFER_IF_REJECT':
    case 'WARN':
      return { kind: 'log', level: 'warn', keyword, text: printableText(text) };
    case 'INFO':
      return { kind: 'log', level: 'info', keyword, text: printableText(text) };
    case 'PREPEND': {
      if (!HEADER.test(text)) {
        return { kind: 'log', level: 'warn', keyword: 'PREPEND', text: `not a "name: value" header, ignored: ${printableText(text)}` };
      }
      return { kind: 'prepend', header: text };
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
