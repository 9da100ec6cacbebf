/**
 * `reject "CODE text"`: refuse the command with this reply. At connect the
 * runtime turns it into a disconnect (a reject there leaves the client facing
 * 503 for every command, protocol.md §5.3).
 */
import type { CompiledStep, StepAction } from '../dsl/plan.js';
import type { StepOutcome, StepRunner } from './types.js';

export type RejectStep = CompiledStep & { readonly action: Extract<StepAction, { kind: 'reject' }> };

export function createRejectRunner(step: RejectStep): StepRunner {
  const outcome: StepOutcome = { type: 'decide', decision: { type: 'reject', reply: step.action.reply } };
  return { step, run: () => outcome };
}
