/**
 * Decisions a rule may take that smtpd would mishandle at a given request
 * phase, turned into what the rule author meant (or into something safe).
 */
import type { FilterDecision } from '../actions/types.js';
import type { FilterPhase } from './phases.js';

export interface Adapted {
  readonly decision: FilterDecision;
  /** Why the decision was changed, for the log; null when unchanged. */
  readonly note: string | null;
}

const PROCEED_UNCHANGED: Adapted = { decision: { type: 'proceed' }, note: null };

export function adaptToPhase(decision: FilterDecision, request: FilterPhase): Adapted {
  // The common case allocates nothing: a proceed is valid everywhere.
  if (decision.type === 'proceed') return PROCEED_UNCHANGED;
  if (request === 'connect' && decision.type === 'reject') {
    // A reject at connect replaces the banner but keeps the session open, and
    // the client then gets 503 for every command: close the connection instead.
    return { decision: { type: 'disconnect', reply: decision.reply }, note: 'reject at connect sent as disconnect' };
  }
  if (request === 'commit' && decision.type === 'junk') {
    // smtpd 6.8 exits on junk at commit ("filter-reponse junk after DATA").
    return { decision: { type: 'proceed' }, note: 'junk is impossible at commit; proceeded instead' };
  }
  return { decision, note: null };
}
