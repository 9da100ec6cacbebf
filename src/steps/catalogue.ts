/**
 * Every step keyword and every compiled kind, listed once: the rules pipeline
 * reads STEPS (tokens, checks, compile), the runtime, describe and the tools
 * read KINDS. A new step kind is a definition file and a line in each list,
 * and its runner's service a line in steps/services.ts. Pure: definitions
 * only, no runner code.
 *
 * dsl/tokens.ts reserves the keywords and option words from them (issue 11
 * stage 7a) and the runtime plans each step by its kind (10b); the rest of the
 * pipeline reads them from 8a. Until then the tests hold them to the code they
 * will replace.
 */
import type { StepKind } from '../model/plan.js';
import { acceptKind, acceptStep } from './accept.js';
import { disconnectKind, disconnectStep } from './disconnect.js';
import { dnsblKind, dnsblStep } from './dnsbl/define.js';
import { greylistKind, greylistStep } from './greylist/define.js';
import { junkKind, junkStep } from './junk.js';
import { limitKind, limitStep } from './limit/define.js';
import { pauseKind, pauseStep } from './pause/define.js';
import { policyKind, policyStep, postgreyStep } from './policy/define.js';
import { rejectKind, rejectStep } from './reject.js';
import { dkimSignKind, dkimSignStep } from './dkim-sign/define.js';
import { rspamdKind, rspamdStep } from './rspamd/define.js';
import { scoreKind, scoreStep } from './score.js';
import { scoreHeaderKind, scoreHeaderStep } from './score-header.js';
import { spfKind, spfStep } from './spf/define.js';
import type { KindDefinition, StepDefinition } from './spec.js';

/** The step keywords, in reserved-word order: expected-lists and did-you-mean show them so. */
export const STEPS = [pauseStep, acceptStep, rejectStep, disconnectStep, junkStep, postgreyStep, policyStep, greylistStep, dnsblStep, scoreStep, scoreHeaderStep, spfStep, rspamdStep, limitStep, dkimSignStep] as const;

export type StepKeyword = (typeof STEPS)[number]['keyword'];

export const STEP_BY_KEYWORD: ReadonlyMap<string, StepDefinition> = new Map<string, StepDefinition>(STEPS.map((d) => [d.keyword, d]));

/** One definition per compiled kind: a kind of StepActions without one does not compile. */
export const KINDS = {
  pause: pauseKind,
  accept: acceptKind,
  reject: rejectKind,
  disconnect: disconnectKind,
  junk: junkKind,
  policy: policyKind,
  greylist: greylistKind,
  dnsbl: dnsblKind,
  score: scoreKind,
  'score-header': scoreHeaderKind,
  spf: spfKind,
  rspamd: rspamdKind,
  'dkim-sign': dkimSignKind,
  limit: limitKind,
} as const satisfies { readonly [K in StepKind]: KindDefinition<K> };

/** KINDS as a mapped type, which an index of generic K reads as KindDefinition<K>. */
const BY_KIND: { readonly [K in StepKind]: KindDefinition<K> } = KINDS;

/**
 * The definition of `kind`, typed by it. `kindOf(action.kind).describe.text(action)`
 * type-checks where `KINDS[action.kind]` (a union of definitions) cannot be called.
 */
export function kindOf<K extends StepKind>(kind: K): KindDefinition<K> {
  return BY_KIND[kind];
}
