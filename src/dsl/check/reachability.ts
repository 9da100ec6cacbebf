/**
 * Steps an unconditional accept, reject or disconnect keeps from ever
 * running (W007), from each definition's `ends` and what smtpd's rules make
 * of it at the step's phase (a reject at connect is a disconnect).
 */
import { rulePhaseOrder, type RulePhase } from '../../model/phases.js';
import { decisionAt } from '../../protocol/smtpd-rules.js';
import type { ConvertedChain, ConvertedStep } from '../convert.js';
import type { Report } from './report.js';

type Ending = 'accept' | 'reject' | 'disconnect';

const isEnding = (d: string): d is Ending => d === 'accept' || d === 'reject' || d === 'disconnect';

interface Terminator {
  readonly step: ConvertedStep;
  readonly index: number;
  readonly phase: RulePhase;
  readonly ends: Ending;
}

export function checkReachable({ steps }: ConvertedChain, report: Report): void {
  const terminators = steps.flatMap((step, index): Terminator[] => {
    const { ends } = step.definition;
    // A dry-run step never ends anything: the chain goes on after it.
    if (ends === null || step.when !== null || step.node.dryRun !== null) return [];
    const phase = step.placement.phase;
    // What ends the chain is what smtpd makes of it; an accept is the chain's own word, no decision of smtpd's.
    const made = ends === 'accept' ? ends : decisionAt(ends, phase);
    return isEnding(made) ? [{ step, index, phase, ends: made }] : [];
  });
  steps.forEach((step, index) => {
    const phase = step.placement.phase;
    const blocker = terminators.find((t) => t.index !== index && hides(t.ends, t.phase, t.index, phase, index));
    if (blocker === undefined) return;
    report('W007', step.node.action.span, `this step never runs: the unconditional ${blocker.ends} at ${blocker.phase} ends the chain first`, {
      related: [{ span: blocker.step.node.action.span, message: `unconditional ${blocker.ends}` }],
      hint: 'add a `when` condition to that step, or reorder the steps',
    });
  });
}

/**
 * Does an unconditional `ends` (step `ti` at `tp`) keep step `si` at `sp` from running?
 * Within a phase, steps run in chain order. An accept also covers later phases of
 * its scope (connect/helo: the session; mail-from, data: the transaction; rcpt-to:
 * that recipient only); a disconnect ends the session; a reject ends its phase.
 */
function hides(ends: Ending, tp: RulePhase, ti: number, sp: RulePhase, si: number): boolean {
  if (tp === sp) return ti < si;
  if (rulePhaseOrder(sp) < rulePhaseOrder(tp)) return false;
  switch (ends) {
    case 'disconnect':
      return true;
    case 'reject':
      return false;
    case 'accept':
      return tp !== 'rcpt-to';
  }
}
