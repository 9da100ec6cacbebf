/**
 * `accept`: ends the chain for the scope of the phase it runs at (the session
 * at connect/helo, the transaction at mail-from, the recipient at rcpt-to).
 * Its definition and kind; the runner is actions/accept.ts until it moves
 * here. Pure.
 */
import type { KindDefinition, StepDefinition } from './spec.js';

declare module '../model/plan.js' {
  interface StepActions {
    accept: {};
  }
}

const options = {} as const;

export const acceptStep = {
  keyword: 'accept',
  argument: null,
  options,
  phases: { earliest: 'connect', default: 'connect' },
  ends: 'accept',
  decides: [],
  checks: [],
  codes: [],
  needsDataLine: () => false,
  compile: () => ({ kind: 'accept' }),
  compiles: ['accept'],
} as const satisfies StepDefinition<null, typeof options, 'accept'>;

export const acceptKind: KindDefinition<'accept'> = {
  kind: 'accept',
  timing: { mode: 'sync' },
  dryRun: 'run',
  delaysClient: false,
  describe: { text: () => 'accept' },
};
