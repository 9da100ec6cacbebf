/**
 * Where a step runs, checked against its definition: an `at` earlier than
 * its condition allows (E041) or than the step can run at all (E042, from
 * `phases`); a decision the step takes by itself (`decides`) that meets one
 * of smtpd's rules at that phase (E040, W005).
 */
import { isEarlier } from '../../model/phases.js';
import { smtpdRuleAt, type SmtpdRuleId } from '../../protocol/smtpd-rules.js';
import type { Code } from '../codes.js';
import type { ConvertedStep } from '../convert.js';
import type { Report } from './report.js';

/**
 * What the checker says of a step whose decision meets one of smtpd's rules at
 * the step's phase. Keyed by rule, so a new rule needs its diagnostic.
 * `showAt`: point at the `at` that placed the step there.
 */
const SMTPD_RULE_DIAGNOSTICS: { readonly [Id in SmtpdRuleId]: { readonly code: Code; readonly message: string; readonly hint: string; readonly showAt: boolean } } = {
  'reject-at-connect': {
    code: 'W005',
    message: 'smtpd cannot reject a client before the banner; this reject is compiled as a disconnect',
    hint: 'write `disconnect` to say so, or add `at helo` to reject the HELO instead',
    showAt: false,
  },
  'junk-at-commit': {
    code: 'E040',
    message: '`junk` cannot run at commit: smtpd exits when a filter junks a message after DATA',
    hint: 'junk at data (or earlier) instead',
    showAt: true,
  },
};

export function checkPhase(step: ConvertedStep, report: Report): void {
  const { phase, earliest, at, reason } = step.placement;
  const { keyword, phases, decides } = step.definition;
  if (at !== null && isEarlier(at.phase, earliest)) {
    const needs = phases.earliest;
    if (reason !== null && !isEarlier(reason.phase, needs) && reason.phase === earliest) {
      report('E041', at.span, `\`at ${at.phase}\` is earlier than this step can run: its condition looks at \`${reason.field}\`, known from the ${reason.phase} phase on`, {
        related: [{ span: reason.span, message: `\`${reason.field}\` is used here` }],
        hint: `remove \`at ${at.phase}\`, or use \`at ${earliest}\` or later`,
      });
    } else {
      // Only a step that cannot run at connect gets here, and its definition says why (`phases.why`).
      report('E042', at.span, `\`${keyword}\` cannot run at ${at.phase}: ${phases.why ?? 'it cannot run earlier'}, known from the ${needs} phase on`, {
        hint: `use \`at ${needs}\` or later (the default is ${phases.default})`,
      });
    }
  }
  for (const decision of decides) {
    const rule = smtpdRuleAt(decision, phase);
    if (rule === null) continue;
    const said = SMTPD_RULE_DIAGNOSTICS[rule.id];
    report(said.code, step.node.action.span, said.message, {
      related: said.showAt && at !== null ? [{ span: at.span, message: `the step is placed at ${phase} here` }] : [],
      hint: said.hint,
    });
  }
}
