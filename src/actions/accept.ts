/**
 * `accept`: stop the chain for the scope of the phase it runs at (the session
 * at connect/helo, the transaction at mail-from, the recipient at rcpt-to).
 * The runtime applies the scope; the step only says so.
 */
import type { CompiledStep } from '../dsl/plan.js';
import type { StepOutcome, StepRunner } from './types.js';

const ACCEPT: StepOutcome = { type: 'accept' };

export function createAcceptRunner(step: CompiledStep): StepRunner {
  return { step, run: () => ACCEPT };
}
