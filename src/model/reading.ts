/**
 * How a step that read the message answers at commit: from its reading
 * (runtime/message-hold.ts put it in the facts). Pure; shared by the kinds
 * that read messages.
 */
import type { CompiledStep, SessionFacts } from './plan.js';
import { StepDeadlineError, type StepOutcome } from './runner.js';

/** The reading's outcome; a failed reading throws (the step's on-error, `timedOut` kept); none: the chain goes on, saying why. */
export function answerFromReading(step: CompiledStep, facts: SessionFacts): StepOutcome {
  const outcome = facts.messageReadings?.get(step.index);
  if (outcome === undefined) {
    // No message was held (data-line not registered, the transaction accepted) or the step's `when` did not hold at the `.`.
    return { type: 'continue', detail: { messageRead: false } };
  }
  if (!outcome.ok) throw outcome.timedOut ? new StepDeadlineError(outcome.error) : new Error(outcome.error);
  return outcome.reading.outcome;
}
