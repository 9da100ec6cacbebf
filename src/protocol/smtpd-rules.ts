/**
 * smtpd's own rules about filter decisions: answers it takes but mishandles,
 * or exits on, at a given request phase. One table, read by the checker (its
 * diagnostics), the compiler (a reject at connect compiles to a disconnect),
 * the runtime (what it sends instead) and the line validator (format.ts).
 * Pure: no I/O, types only from below.
 */
import type { FilterDecision } from '../model/decision.js';
import type { FilterPhase } from '../model/phases.js';

export type DecisionType = FilterDecision['type'];

export interface SmtpdRule {
  readonly id: string;
  /** The decision smtpd mishandles … */
  readonly decision: DecisionType;
  /** … at this request phase … */
  readonly phase: FilterPhase;
  /** … and what is sent instead (a disconnect keeps the reply). */
  readonly becomes: DecisionType;
  /** Why the decision was changed, for the decision log line. */
  readonly note: string;
}

export const SMTPD_RULES = [
  // A reject at connect replaces the banner but keeps the session open, and
  // the client then gets 503 for every command: close the connection instead.
  { id: 'reject-at-connect', decision: 'reject', phase: 'connect', becomes: 'disconnect', note: 'reject at connect sent as disconnect' },
  // smtpd 6.8 exits on junk at commit (fatalx "filter-reponse junk after DATA").
  { id: 'junk-at-commit', decision: 'junk', phase: 'commit', becomes: 'proceed', note: 'junk is impossible at commit; proceeded instead' },
] as const satisfies readonly SmtpdRule[];

type Rules = (typeof SMTPD_RULES)[number];
export type SmtpdRuleId = Rules['id'];

/** The rules by id, with their literal types (`SMTPD_RULE['reject-at-connect'].becomes` is `'disconnect'`). */
export const SMTPD_RULE = Object.fromEntries(SMTPD_RULES.map((r) => [r.id, r])) as { readonly [Id in SmtpdRuleId]: Extract<Rules, { id: Id }> };

/** The rule smtpd applies to a decision of `type` at `phase`, or null when it takes the decision as sent. */
export function smtpdRuleAt(type: DecisionType, phase: FilterPhase): Rules | null {
  for (const rule of SMTPD_RULES) if (rule.decision === type && rule.phase === phase) return rule;
  return null;
}

/** What a decision of `type` at `phase` amounts to once smtpd's rules apply. */
export function decisionAt(type: DecisionType, phase: FilterPhase): DecisionType {
  return smtpdRuleAt(type, phase)?.becomes ?? type;
}

export interface Adapted {
  readonly decision: FilterDecision;
  /** Why the decision was changed, for the log; null when unchanged. */
  readonly note: string | null;
}

const REJECT_AT_CONNECT = SMTPD_RULE['reject-at-connect'];
const JUNK_AT_COMMIT = SMTPD_RULE['junk-at-commit'];
const PROCEED_UNCHANGED: Adapted = { decision: { type: 'proceed' }, note: null };
const JUNK_PROCEEDED: Adapted = { decision: { type: JUNK_AT_COMMIT.becomes }, note: JUNK_AT_COMMIT.note };

/**
 * A decision a rule took, turned into what smtpd handles at `request`: what
 * the rule author meant, or something safe. One branch per rule (a test holds
 * every SMTPD_RULES entry to its branch), not a lookup: this runs per request.
 */
export function adaptToPhase(decision: FilterDecision, request: FilterPhase): Adapted {
  // The common case allocates nothing: a proceed is valid everywhere.
  if (decision.type === 'proceed') return PROCEED_UNCHANGED;
  if (decision.type === REJECT_AT_CONNECT.decision && request === REJECT_AT_CONNECT.phase) {
    return { decision: { type: REJECT_AT_CONNECT.becomes, reply: decision.reply }, note: REJECT_AT_CONNECT.note };
  }
  if (decision.type === JUNK_AT_COMMIT.decision && request === JUNK_AT_COMMIT.phase) return JUNK_PROCEEDED;
  return { decision, note: null };
}

export const TEMPFAIL_TEXT = '4.3.0 Temporary failure, please try again later';

/**
 * The answer for a fault of ours. A reject at connect does not close the
 * session (reject-at-connect above), so connect gets a 421 disconnect.
 */
export function tempfailDecision(phase: FilterPhase): FilterDecision {
  return phase === REJECT_AT_CONNECT.phase
    ? { type: REJECT_AT_CONNECT.becomes, reply: `421 ${TEMPFAIL_TEXT}` }
    : { type: 'reject', reply: `451 ${TEMPFAIL_TEXT}` };
}
