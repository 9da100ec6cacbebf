/**
 * What the value parsers found in a step's argument and in the options it
 * takes (every occurrence, repeats too): E020–E025, E030–E032, W006, in the
 * order written. convert read them; this only reports.
 */
import type { ConvertedStep } from '../convert.js';
import type { CodedProblem } from '../values.js';
import type { Report } from './report.js';

export function checkValues(step: ConvertedStep, report: Report): void {
  const say = (p: CodedProblem): void => report(p.code, p.span, p.message, p.hint === undefined ? {} : { hint: p.hint });
  for (const p of step.argument?.problems ?? []) say(p);
  for (const o of step.options) for (const p of o.value.problems) say(p);
}
