/**
 * What the filter answers smtpd for one request: the decision steps produce,
 * the evaluator settles on and the protocol layer formats.
 */

/** A decision smtpd understands. `reply` is a full SMTP reply line: `4xx`/`5xx`, space, text. */
export type FilterDecision =
  | { readonly type: 'proceed' }
  | { readonly type: 'junk' }
  | { readonly type: 'reject'; readonly reply: string }
  | { readonly type: 'disconnect'; readonly reply: string }
  | { readonly type: 'rewrite'; readonly value: string };

/** The text a decision sends to the client, for log lines; null when it sends none of its own. */
export function replyOf(decision: FilterDecision): string | null {
  switch (decision.type) {
    case 'reject':
    case 'disconnect':
      return decision.reply;
    case 'rewrite':
      return decision.value;
    case 'proceed':
    case 'junk':
      return null;
  }
}
