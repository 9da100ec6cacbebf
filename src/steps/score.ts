/**
 * `score +N "label"` (and `score -1.5 "label"`): adds N points to the
 * session's score under the label (issue 12). Positive is bad. At connect
 * and helo the points go to the session's part; from mail-from on, to the
 * transaction's, which resets at RSET and at a new MAIL. Each step counts at
 * most once per session (or per transaction): a step that runs again (a
 * second EHLO, another recipient) adds nothing. It decides nothing: `score`
 * conditions on later steps do (`reject … when score >= 5`). A dry-run
 * score step adds nothing and logs what it would have added. Its
 * definition, kind and runner (no I/O). Pure.
 */
import type { StepOf } from '../model/plan.js';
import type { StepOutcome, StepRunner } from '../model/runner.js';
import { formatPoints, scoreScopeAt } from '../model/score.js';
import type { KindDefinition, StepDefinition, ValueSpec } from './spec.js';

declare module '../model/plan.js' {
  interface StepActions {
    score: { readonly milli: number; readonly label: string };
  }
}

// Bounded by its parser (dsl/values.ts parsePoints): at most 6 digits before the point, 3 after.
const points = {
  type: 'points',
  what: 'a score',
  docName: 'POINTS "LABEL"',
  example: '+2 "no-rdns"',
} as const satisfies ValueSpec<'points'>;

const options = {} as const;

export const scoreStep = {
  keyword: 'score',
  argument: points,
  options,
  phases: { earliest: 'connect', default: 'connect' },
  ends: null,
  decides: [],
  checks: [],
  codes: [],
  needsDataLine: () => false,
  compile: ({ argument }) => ({ kind: 'score', milli: argument.milli, label: argument.label }),
  compiles: ['score'],
} as const satisfies StepDefinition<'points', typeof options, 'score'>;

/** `no-rdns +2`: how the breakdown and the decision line name what a step adds. */
function scored(a: { readonly milli: number; readonly label: string }): string {
  return `${a.label} ${formatPoints(a.milli)}`;
}

export const scoreKind: KindDefinition<'score'> = {
  kind: 'score',
  timing: { mode: 'sync' },
  // A dry-run score step adds nothing: a score it added would decide for the steps after it.
  dryRun: { skip: (a) => ({ would: 'score', detail: { scored: scored(a) } }) },
  delaysClient: false,
  describe: { text: (a) => `score ${formatPoints(a.milli)} ${JSON.stringify(a.label)}` },
};

export function createScoreRunner(step: StepOf<'score'>): StepRunner {
  const { milli, label } = step.action;
  const key = `score ${step.index}`;
  const detail = { scored: scored(step.action) };
  const again = { scored: scored(step.action), counted: false };
  return {
    step,
    run: (ctx): StepOutcome => {
      const counted = ctx.facts.score?.add(key, label, milli, scoreScopeAt(ctx.phase)) ?? false;
      return { type: 'continue', detail: counted ? detail : again };
    },
  };
}
