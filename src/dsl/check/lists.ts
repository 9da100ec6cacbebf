/**
 * Lists: malformed items, ranges with host bits, empty inline lists (E014,
 * W003, W002); items that do not fit the field a list is tested with (E015);
 * declared lists nobody uses (W001). Items of list files are described
 * without their text (see redact.ts); at most MAX_LOCATED of each are
 * located, then one diagnostic counts the rest.
 */
import { misfit, type FieldName, type ListFit } from '../../conditions/fields.js';
import type { SourceSpan } from '../../model/span.js';
import { formatCidr } from '../../support/net.js';
import type { InlineList } from '../ast.js';
import type { Code } from '../codes.js';
import type { Located, ResolvedList } from '../lists.js';
import { didYouMean } from '../diagnostics.js';
import { itemShape } from '../redact.js';
import { resolvedOf, type CheckContext } from './context.js';
import type { Report } from './report.js';

export function checkListItems(report: Report, list: ResolvedList, inline: InlineList | null): void {
  const inFile = list.file !== null;
  for (const item of list.invalid.shown) {
    const v = item.value;
    if (inFile) report('E014', item.span, `malformed list item ${itemShape(item.text)}: it ${v.reason}`, { hint: v.reasonHint });
    else report('E014', item.span, v.message, { hint: v.hint });
  }
  reportHidden(report, 'E014', list.invalid, 'malformed items');
  for (const item of list.hostBits.shown) {
    const v = item.value;
    if (v.kind !== 'ip') continue;
    if (inFile) {
      report('W003', item.span, `address range ${itemShape(item.text)} has host bits set, so it matches more addresses than written`, {
        hint: 'write the network address (host bits zero), or drop the prefix length to match one address',
      });
    } else {
      report('W003', item.span, `"${item.text}" has host bits set; it matches all of ${formatCidr(v.range)}`, { hint: `write ${formatCidr(v.range)}, or drop the prefix length to match one address` });
    }
  }
  reportHidden(report, 'W003', list.hostBits, 'address ranges with host bits set');
  if (inline !== null && inline.items.length === 0) {
    report('W002', inline.span, 'this list is empty, so `in` it is never true');
  }
}

/** `N more … are not shown one by one`, at the first of them, when some were left out. */
function reportHidden(report: Report, code: Code, located: Located, what: string): void {
  if (located.firstHidden === null) return;
  const rest = located.count - located.shown.length;
  report(code, located.firstHidden, `${rest} more ${what} in this list from here on (only the first ${located.shown.length} are shown one by one)`);
}

/** The items of every declared list (inline lists in conditions are checked where they are used). */
export function checkDeclaredLists(ctx: CheckContext): void {
  for (const decl of ctx.file.ast.lists) checkListItems(ctx.report, resolvedOf(ctx, decl), decl.body.kind === 'inline' ? decl.body : null);
}

/** Items that make no sense for `use in LIST` (the field's ListFit): decided per kind of item, located for the first few of each. */
export function checkFit(report: Report, list: ResolvedList, use: FieldName, fit: ListFit, useSpan: SourceSpan | null): void {
  const related = useSpan === null ? [] : [{ span: useSpan, message: `the list is used with \`${use} in\` here` }];
  for (const located of list.kinds.values()) {
    const sample = located.shown[0];
    if (sample === undefined) continue;
    const problem = misfit(sample.value, fit);
    if (problem === null) continue;
    for (const item of located.shown) {
      const subject = list.file === null ? `"${item.text}"` : `list item ${itemShape(item.text)}`;
      report('E015', item.span, `${subject} is ${problem.what}, but \`${use} in\` compares ${problem.wants}`, { hint: problem.hint, related });
    }
    if (located.firstHidden !== null) {
      const rest = located.count - located.shown.length;
      report('E015', located.firstHidden, `${rest} more items of this list from here on are ${problem.what} too (only the first ${located.shown.length} are shown one by one)`, { related });
    }
  }
  if (fit.words !== undefined) checkWords(report, list, use, fit.words, related);
}

/** E105: an item of a closed set's list (`spf in { fial }`) that is none of its words, so it never matches. */
function checkWords(report: Report, list: ResolvedList, use: FieldName, words: NonNullable<ListFit['words']>, related: readonly { span: SourceSpan; message: string }[]): void {
  const allowed = new Set(words.allowed);
  for (const located of list.kinds.values()) {
    for (const item of located.shown) {
      if (item.value.kind !== 'domain' || item.value.subdomains || allowed.has(item.value.domain)) continue;
      const subject = list.file === null ? `"${item.text}"` : `list item ${itemShape(item.text)}`;
      const hint = list.file === null ? didYouMean(item.value.domain, words.allowed) : undefined;
      report('E105', item.span, `${subject} is not ${words.what}, so \`${use} in\` never matches it`, { hint: hint ?? `the words are ${words.allowed.join(', ')}`, related });
    }
  }
}

/** W001, from the uses the conditions check recorded. */
export function checkListUses({ file, report, listsByName, uses }: CheckContext): void {
  for (const decl of file.ast.lists) {
    if (listsByName.get(decl.name.name) !== decl) continue;
    if (!uses.has(decl)) {
      report('W001', decl.name.span, `list "${decl.name.name}" is never used`, { hint: 'use it in a condition (`src in NAME`) or remove it' });
    }
  }
}
