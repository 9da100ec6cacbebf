/**
 * What we tell a policy server about a session: the attributes Postfix's
 * smtpd sends (smtpd_check.c, check_policy_service), named and filled the way
 * Postfix fills them, built from SessionFacts and the rule phase. Pure.
 *
 * Every attribute is always present, empty (or 0) when unknown: postgrey
 * answers nothing without `request=` and DUNNO when client_address,
 * client_name, sender or recipient are absent.
 */
import type { SessionFacts } from '../model/plan.js';
import type { RulePhase } from '../model/phases.js';
import { parseTlsString } from '../model/tls.js';
import type { PolicyAttribute } from './codec.js';

/** Postfix's protocol_state for a rule phase (HELO/EHLO follow the command the client used). */
export function protocolState(phase: RulePhase, facts: SessionFacts): string {
  switch (phase) {
    case 'connect':
      return 'CONNECT';
    case 'helo':
      return facts.heloMethod === 'EHLO' ? 'EHLO' : 'HELO';
    case 'mail-from':
      return 'MAIL';
    case 'rcpt-to':
      return 'RCPT';
    case 'data':
      return 'DATA';
    case 'commit':
      return 'END-OF-MESSAGE';
  }
}

/** Moved to model/tls.ts (the condition fields read it too); re-exported for the policy request's callers and tests. */
export { parseTlsString, type TlsParams } from '../model/tls.js';

/**
 * Identifies one transaction for the server (postgrey adds its X-Greylist
 * header once per instance). smtpd's message id exists from tx-begin on, so
 * it is the same for every recipient and for data/commit of one message.
 * At mail-from no message id exists yet: that request gets `SESSION.0`.
 */
export function policyInstance(facts: SessionFacts): string {
  return `${facts.sessionId}.${facts.messageId ?? '0'}`;
}

export interface PolicyRequestOptions {
  /** Sent as `policy_context` (Postfix 3.1+), empty by default. */
  readonly policyContext?: string;
}

/**
 * The request attributes for one step run, in Postfix's order.
 *
 * - Sessions on smtpd's local socket (`local`: no client address) are
 *   described as Postfix describes non-network clients: localhost /
 *   127.0.0.1. A session that is not local but has no address throws: an
 *   empty client_address is never sent (postgrey fails to parse it), and
 *   such a client is never passed off as 127.0.0.1.
 * - client_name is the forward-confirmed name (`unknown` unless fcrdns said
 *   pass); reverse_client_name is the PTR name, `unknown` without one.
 * - recipient is the recipient being decided at rcpt-to; at data and commit
 *   it is set only when exactly one recipient was accepted, and
 *   recipient_count is non-zero only there (as in Postfix).
 */
export function buildPolicyRequest(
  facts: SessionFacts,
  phase: RulePhase,
  options: PolicyRequestOptions = {},
): PolicyAttribute[] {
  const local = facts.local;
  if (!local && facts.src === '') {
    // Never describe a remote client as 127.0.0.1 (policy servers whitelist
    // that), nor send an empty client_address (postgrey cannot parse it). The
    // runtime turns the throw into the step's on-error decision.
    throw new Error('policy request: the client address is unknown (and the session is not local)');
  }
  const clientAddress = local ? '127.0.0.1' : facts.src;
  const clientName = local ? 'localhost' : facts.fcrdns === 'pass' && facts.rdns ? facts.rdns : 'unknown';
  const reverseName = local ? 'localhost' : (facts.rdns ?? 'unknown');
  const afterData = phase === 'data' || phase === 'commit';
  const recipient =
    phase === 'rcpt-to' ? (facts.rcptTo ?? '') : afterData && facts.recipients.length === 1 ? (facts.recipients[0] ?? '') : '';
  const tls = facts.tls === null ? null : parseTlsString(facts.tls);
  return [
    ['request', 'smtpd_access_policy'],
    ['protocol_state', protocolState(phase, facts)],
    ['protocol_name', facts.heloMethod === 'EHLO' ? 'ESMTP' : 'SMTP'],
    ['client_address', clientAddress],
    ['client_name', clientName],
    ['client_port', String(local ? 0 : (facts.srcPort ?? 0))],
    ['reverse_client_name', reverseName],
    ['server_address', local ? '127.0.0.1' : facts.dest],
    ['server_port', String(local ? 0 : (facts.destPort ?? 0))],
    ['helo_name', facts.helo ?? ''],
    ['sender', facts.mailFrom ?? ''],
    ['recipient', recipient],
    ['recipient_count', String(afterData ? facts.recipients.length : 0)],
    ['queue_id', facts.messageId ?? ''],
    ['instance', policyInstance(facts)],
    ['size', String(facts.size ?? 0)],
    // Sent empty by Postfix outside ETRN. postgrey keys a workaround on its
    // presence: greylisting text gets DSN 4.2.0 (some Exchange versions
    // treat 4.7.1 as permanent), exactly what it does behind Postfix.
    ['etrn_domain', ''],
    ['stress', ''],
    ['sasl_method', ''],
    ['sasl_username', facts.authUser ?? ''],
    ['sasl_sender', ''],
    ['ccert_subject', ''],
    ['ccert_issuer', ''],
    ['ccert_fingerprint', ''],
    ['ccert_pubkey_fingerprint', ''],
    ['encryption_protocol', tls?.protocol ?? ''],
    ['encryption_cipher', tls?.cipher ?? ''],
    ['encryption_keysize', String(tls?.keysize ?? 0)],
    ['policy_context', options.policyContext ?? ''],
  ];
}
