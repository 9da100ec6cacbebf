/**
 * What the compiler puts on every step besides its action, for tests that
 * build CompiledSteps by hand: the keyword it was written with (a policy
 * step's flavor: `postgrey` or `policy`) and its kind's describe.text.
 */
import type { StepAction } from '../../../src/model/plan.js';
import { kindOf } from '../../../src/steps/catalogue.js';

export function nameAndText(action: StepAction): { readonly name: string; readonly text: string } {
  return { name: action.kind === 'policy' ? action.options.flavor : action.kind, text: kindOf(action.kind).describe.text(action) };
}
