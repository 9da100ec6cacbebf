/**
 * What a condition field needs besides its row, as a list of problems: a
 * reserved word in the FIELD category, a test to be used with, a list fit
 * with items and a matcher for `in`, and every test it takes documented in
 * grammar/REFERENCE.md §6 and the Conditions of filter-rules.rules(5). A
 * function of its inputs, so fields.test.ts can run it on doctored copies
 * (the steps' counterpart is test/unit/steps/completeness.ts).
 */
import type { TokenType } from 'chevrotain';
import type { FieldDefinition } from '../../../src/conditions/fields.js';
import { RULE_PHASES } from '../../../src/model/phases.js';
import { markdownSection } from '../dsl/doc-examples.js';
import type { Docs } from '../steps/completeness.js';

export interface FieldsInput {
  readonly fields: readonly FieldDefinition[];
  /** The lexer's token of a reserved word, null for any other (dsl/tokens.ts keywordToken). */
  readonly token: (word: string) => TokenType | null;
  readonly docs: Docs;
}

/** The text of the man page's `.Ss TITLE`, up to the next section or subsection; '' when it has none. */
export function manSubsection(page: string, title: string): string {
  const start = page.indexOf(`\n.Ss ${title}\n`);
  if (start < 0) return '';
  const rest = page.slice(start + 1);
  const end = rest.slice(1).search(/^\.S[sh] /m);
  return end < 0 ? rest : rest.slice(0, end + 1);
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The tests a row takes, each as REFERENCE.md writes it (a code span) and as the man page marks it up. */
function testForms(f: FieldDefinition): { readonly markdown: string; readonly mdoc: RegExp; readonly mdocShown: string }[] {
  const n = escaped(f.name);
  return [
    // Bare, as a yes/no test: `.It Ic rdns , …` or `.It Ic fcrdns`.
    ...(f.tests.present === undefined ? [] : [{ markdown: `\`${f.name}\``, mdoc: new RegExp(`(^|\\s)Ic ${n}( ,|$)`, 'm'), mdocShown: `Ic ${f.name}` }]),
    ...(f.tests.match === undefined ? [] : [{ markdown: `\`${f.name} ~ /RE/\``, mdoc: new RegExp(`(^|\\s)Ic ${n} ~ Ar regex\\b`, 'm'), mdocShown: `Ic ${f.name} ~ Ar regex` }]),
    ...(f.tests.in === undefined ? [] : [{ markdown: `\`${f.name} in LIST\``, mdoc: new RegExp(`(^|\\s)Ic ${n} in Ar list\\b`, 'm'), mdocShown: `Ic ${f.name} in Ar list` }]),
    ...(f.tests.compare === undefined ? [] : [{ markdown: `\`${f.name} >= N\``, mdoc: new RegExp(`(^|\\s)Ic ${n} >= Ar number\\b`, 'm'), mdocShown: `Ic ${f.name} >= Ar number` }]),
  ];
}

/** Everything a field row lacks, one line each; [] when nothing. */
export function fieldProblems(input: FieldsInput): string[] {
  const problems: string[] = [];
  const reference = markdownSection(input.docs.reference, '6. Conditions') ?? '';
  const man = manSubsection(input.docs.man, 'Conditions');
  if (reference === '') problems.push('grammar/REFERENCE.md has no section "## 6. Conditions"');
  if (man === '') problems.push('man/filter-rules.rules.5 has no subsection "Conditions"');
  const seen = new Set<string>();
  for (const f of input.fields) {
    if (seen.has(f.name)) problems.push(`field ${f.name} has two rows`);
    seen.add(f.name);
    const t = input.token(f.name);
    if (t === null) problems.push(`field ${f.name} is not a reserved word`);
    else if (!(t.CATEGORIES ?? []).some((c) => c.name === 'FIELD')) problems.push(`field ${f.name}: its token is not in the FIELD category`);
    if (!RULE_PHASES.includes(f.knownFrom)) problems.push(`field ${f.name} is known from ${f.knownFrom}, which is no phase`);
    const { present, match, in: fit, compare } = f.tests;
    if (present === undefined && match === undefined && fit === undefined && compare === undefined) problems.push(`field ${f.name} takes no test`);
    if (compare !== undefined && typeof compare.read !== 'function') problems.push(`field ${f.name}: its compare has no reader`);
    if (present !== undefined && typeof present.predicate !== 'function') problems.push(`field ${f.name}: its yes/no test has no predicate`);
    if (fit !== undefined) {
      if (fit.items.length === 0) problems.push(`field ${f.name}: \`in\` takes no kind of list item`);
      if (typeof fit.matcher !== 'function') problems.push(`field ${f.name}: \`in\` has no matcher`);
      if (fit.wants.trim() === '') problems.push(`field ${f.name}: \`in\` does not say what it compares (E015)`);
    }
    for (const form of testForms(f)) {
      if (!reference.includes(form.markdown)) problems.push(`field ${f.name}: ${form.markdown} is not documented in grammar/REFERENCE.md §6`);
      if (!form.mdoc.test(man)) problems.push(`field ${f.name}: ${form.markdown} is not documented in the Conditions of man/filter-rules.rules.5 (as ${form.mdocShown})`);
    }
  }
  return problems;
}
