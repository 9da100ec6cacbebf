/**
 * Text from outside (a policy server's answer, a header line we refused) made
 * safe to show in a log line or an SMTP reply. Here, below every layer,
 * because the runtime's log of a dropped header and the policy client's reply
 * text both need it (the layers test: runtime/ may not import policy/).
 */

/** Printable text: controls (C0 including CR/LF, DEL, C1) become spaces, ends trimmed. */
export function printableText(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim();
}
