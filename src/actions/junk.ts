/**
 * `junk`: smtpd marks the session (before a transaction exists: connect, helo,
 * mail-from) or the transaction as junk and prepends `X-Spam: Yes`. Never sent
 * at commit, where smtpd 6.8 would exit: the runtime logs and proceeds instead.
 */
import type { CompiledStep } from '../dsl/plan.js';
import type { StepOutcome, StepRunner } from './types.js';

const JUNK: StepOutcome = { type: 'decide', decision: { type: 'junk' } };

export function createJunkRunner(step: CompiledStep): StepRunner {
  return { step, run: () => JUNK };
}
