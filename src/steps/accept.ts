/**
 * `accept`: ends the chain for the scope of the phase it runs at (the session
 * at connect/helo, the transaction at mail-from, the recipient at rcpt-to).
 * Its definition, kind and runner (no I/O). Pure.
 */
import type { CompiledStep } from '../model/plan.js';
import type { StepOutcome, StepRunner } from '../model/runner.js';
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

const ACCEPT: StepOutcome = { type: 'accept' };

/** The runtime applies accept's scope; the step only says so. */
export function createAcceptRunner(step: CompiledStep): StepRunner {
  return { step, run: () => ACCEPT };
}
