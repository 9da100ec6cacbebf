/** `disconnect "CODE text"`: send the reply, then smtpd closes the connection. */
import type { CompiledStep, StepAction } from '../dsl/plan.js';
import type { StepOutcome, StepRunner } from './types.js';

export type DisconnectStep = CompiledStep & { readonly action: Extract<StepAction, { kind: 'disconnect' }> };

export function createDisconnectRunner(step: DisconnectStep): StepRunner {
  const outcome: StepOutcome = { type: 'decide', decision: { type: 'disconnect', reply: step.action.reply } };
  return { step, run: () => outcome };
}
