/**
 * A step's condition, test by test: the field's row says which tests it
 * takes (E045 for any other, E073 for a compare); a compare's number is one
 * (E074); regexes compile (E050, E051); a list exists
 * (E010) and its items fit the field (E015, once per list and field). Each
 * use of a declared list is recorded for W001.
 */
import { compareNumber, FIELD_BY_NAME, noCompareOf, wrongTestOf, type FieldDefinition, type FieldName, type ListFit } from '../../conditions/fields.js';
import type { SourceSpan } from '../../model/span.js';
import { compileRegex, SUPPORTED_REGEX_FLAGS } from '../../support/regex.js';
import type { Condition, ListRef, RegexLit } from '../ast.js';
import type { ConvertedStep } from '../convert.js';
import { didYouMean } from '../diagnostics.js';
import { resolveInline } from '../lists.js';
import { resolvedOf, type CheckContext } from './context.js';
import { checkFit, checkListItems } from './lists.js';

export function checkStepCondition(ctx: CheckContext, step: ConvertedStep): void {
  if (step.when !== null) checkCondition(ctx, step.when.condition);
}

function checkCondition(ctx: CheckContext, c: Condition): void {
  switch (c.kind) {
    case 'or':
    case 'and':
      for (const o of c.operands) checkCondition(ctx, o);
      return;
    case 'not':
      checkCondition(ctx, c.operand);
      return;
    case 'test':
      break;
  }
  const { field, test } = c;
  const row = FIELD_BY_NAME[field];
  switch (test.op) {
    case 'present':
      if (row.tests.present === undefined) wrongTest(ctx, c.span, row);
      return;
    case 'match':
      if (row.tests.match === true) checkRegex(ctx, test.regex);
      else wrongTest(ctx, c.span, row);
      return;
    case 'in':
      if (row.tests.in !== undefined) checkListUse(ctx, field, row.tests.in, test.list);
      else wrongTest(ctx, c.span, row);
      return;
    case 'compare': {
      const fit = row.tests.compare;
      if (fit === undefined) {
        const no = noCompareOf(row);
        ctx.report('E073', c.span, no.message, { hint: no.hint });
        return;
      }
      const n = compareNumber(test.number.text, fit);
      if (!n.ok) ctx.report('E074', test.number.span, n.message);
      return;
    }
  }
}

function wrongTest(ctx: CheckContext, span: SourceSpan, row: FieldDefinition): void {
  const wrong = wrongTestOf(row);
  ctx.report('E045', span, wrong.message, { hint: wrong.hint });
}

function checkRegex({ report }: CheckContext, r: RegexLit): void {
  if (r.pattern === '') {
    report('E050', r.span, 'empty regex', { hint: 'an empty pattern matches everything; leave out the condition instead' });
    return;
  }
  const badFlag = [...r.flags].find((f, i) => !SUPPORTED_REGEX_FLAGS.includes(f) || r.flags.indexOf(f) !== i);
  if (badFlag !== undefined) {
    report('E051', r.span, `unknown or repeated regex flag "${badFlag}" in ${r.text}`, { hint: 'matching is case-insensitive already; `i` is the only flag' });
    return;
  }
  const compiled = compileRegex(r.pattern, r.flags);
  if (!compiled.ok) report('E050', r.span, compiled.error);
}

/** `use in LIST`: the list exists, its items fit the field (once per list and field), and the use is recorded (W001). */
function checkListUse(ctx: CheckContext, use: FieldName, fit: ListFit, list: ListRef): void {
  if (list.kind === 'inline') {
    const resolved = resolveInline(list);
    checkListItems(ctx.report, resolved, list);
    checkFit(ctx.report, resolved, use, fit, null);
    return;
  }
  const decl = ctx.listsByName.get(list.name.name);
  if (decl === undefined) {
    ctx.report('E010', list.name.span, `undefined list "${list.name.name}"`, { hint: didYouMean(list.name.name, ctx.listsByName.keys()) ?? 'define it with `list NAME = { ... }`' });
    return;
  }
  let uses = ctx.uses.get(decl);
  if (uses === undefined) {
    uses = new Map();
    ctx.uses.set(decl, uses);
  }
  if (!uses.has(use)) {
    uses.set(use, list.name.span);
    checkFit(ctx.report, resolvedOf(ctx, decl), use, fit, list.name.span);
  }
}
