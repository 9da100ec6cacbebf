/**
 * W008, once per file: a step that may add headers (its definition's
 * `needsDataLine`; a dry-run step never does) when the running filter did not
 * register data-line.
 */
import type { CheckContext } from './context.js';

export function checkDataLine({ file, report }: CheckContext): void {
  if (file.dataLineRegistered) return;
  for (const chain of file.chains) {
    for (const step of chain.steps) {
      if (step.node.dryRun !== null || !step.definition.needsDataLine(step.written)) continue;
      report('W008', step.node.action.span, 'this step may add headers, which needs the message lines (data-line), but the running filter did not register data-line when it started', {
        hint: 'restart smtpd so the filter registers data-line; until then the step runs without adding headers',
      });
      return;
    }
  }
}
