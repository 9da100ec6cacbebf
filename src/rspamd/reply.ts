/**
 * The SMTP reply for rspamd's reject and soft reject, from its
 * `smtp_message`. Pure. The text comes from rspamd's configuration or a Lua
 * rule, so it is made safe for one reply line: CR, LF and other controls
 * become spaces, non-ASCII becomes `?`, a reply or enhanced code it starts
 * with is dropped (the class is ours: 5 for reject, 4 for soft reject, never
 * a 2xx or a 421 that would end the session), and it is cut to a bound.
 */

/** Text after the codes; a reply line stays far below smtpd's 512 octets. */
export const MAX_REPLY_TEXT = 200;

const CODES = { reject: '550 5.7.1', tempfail: '451 4.7.1' } as const;
const FALLBACK = { reject: 'Spam message rejected', tempfail: 'Try again later' } as const;

export function replyOf(kind: 'reject' | 'tempfail', smtpMessage: string | null): string {
  let text = (smtpMessage ?? '')
    .replace(/[\x00-\x1f\x7f]/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .replace(/\s+/g, ' ')
    .trim();
  // `550 5.7.1 text`, `451-text`, `5.7.1 text`: the codes are ours.
  text = text.replace(/^[2-5]\d\d(?:[ -]|$)\s*/, '').replace(/^[2-5]\.\d{1,3}\.\d{1,3}(?:\s|$)\s*/, '');
  if (text.length > MAX_REPLY_TEXT) text = text.slice(0, MAX_REPLY_TEXT).trimEnd();
  if (text === '') text = FALLBACK[kind];
  return `${CODES[kind]} ${text}`;
}
