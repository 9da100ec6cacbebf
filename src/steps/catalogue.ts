/**
 * Every step keyword and every compiled kind, listed once: the rules pipeline
 * reads STEPS (tokens, checks, compile), the runtime, describe and the tools
 * read KINDS. A new step kind is a definition file and a line in each list.
 * Pure: definitions only, no runner code.
 *
 * Partial for now (issue 11 stage 6a): `postgrey`, `policy` and `greylist`
 * join with their definitions (stage 6b), and nothing reads these lists yet.
 */
import type { StepKind } from '../model/plan.js';
import { acceptKind, acceptStep } from './accept.js';
import { disconnectKind, disconnectStep } from './disconnect.js';
import { junkKind, junkStep } from './junk.js';
import { pauseKind, pauseStep } from './pause/define.js';
import { rejectKind, rejectStep } from './reject.js';
import type { KindDefinition, StepDefinition } from './spec.js';

/** The step keywords, in reserved-word order: expected-lists and did-you-mean show them so. */
export const STEPS = [pauseStep, acceptStep, rejectStep, disconnectStep, junkStep] as const;

export type StepKeyword = (typeof STEPS)[number]['keyword'];

export const STEP_BY_KEYWORD: ReadonlyMap<string, StepDefinition> = new Map<string, StepDefinition>(STEPS.map((d) => [d.keyword, d]));

/** The compiled kinds with a KindDefinition so far; `policy` and `greylist` join in stage 6b (then: StepKind). */
export type CataloguedKind = Exclude<StepKind, 'policy' | 'greylist'>;

export const KINDS: { readonly [K in CataloguedKind]: KindDefinition<K> } = {
  pause: pauseKind,
  accept: acceptKind,
  reject: rejectKind,
  disconnect: disconnectKind,
  junk: junkKind,
};

/**
 * The definition of `kind`, typed by it. `kindOf(action.kind).describe.text(action)`
 * type-checks where `KINDS[action.kind]` (a union of definitions) cannot be called.
 */
export function kindOf<K extends CataloguedKind>(kind: K): KindDefinition<K> {
  return KINDS[kind];
}
