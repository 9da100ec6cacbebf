/**
 * What a catalogued step needs besides its definition, as a list of problems:
 * reserved words with one shape category each, option specs and their
 * STEP_WORDS entries, documentation of every word in grammar/REFERENCE.md and
 * filter-rules.rules(5), and the codes its checks report. A function of its
 * inputs, so that the tests can run it on doctored copies and see each check
 * fail, not only pass (catalogue.test.ts; the field rows' counterpart is
 * test/unit/conditions/completeness.ts).
 */
import type { TokenType } from 'chevrotain';
import { SHAPE_OF, type StepDefinition, type ValueShape } from '../../../src/steps/spec.js';
import { mentionsWord } from '../dsl/helpers.js';

/** The two documents every word and code must be in. */
export interface Docs {
  /** grammar/REFERENCE.md */
  readonly reference: string;
  /** man/filter-rules.rules.5 */
  readonly man: string;
}

/** Whether `word` is a word of its own inside some code span of `markdown` (`` `delay` ``, `` `greylist delay 5m` ``). */
export function backticked(markdown: string, word: string): boolean {
  return [...markdown.matchAll(/`([^`\n]+)`/g)].some((m) => mentionsWord(m[1] ?? '', word));
}

/** Whether `word` is one of the arguments of an `Ic` macro in the mdoc `page`: `.Ic delay`, `.It Ic pregreet disconnect Op …`, `.Ic proceed , pause ,`. */
export function markedIc(page: string, word: string): boolean {
  for (const line of page.split('\n')) {
    if (!line.startsWith('.')) continue;
    const words = line.slice(1).split(/\s+/);
    let inIc = false;
    for (const w of words) {
      // A macro name ends the arguments of the one before it.
      if (/^[A-Z][a-z]{1,2}$/.test(w)) inIc = w === 'Ic';
      else if (inIc && w === word) return true;
    }
  }
  return false;
}

/** Whether a diagnostic code is documented: a row of REFERENCE.md's table, an `.It` of the man page's DIAGNOSTICS. */
export function codeDocumented(docs: Docs): (code: string) => { reference: boolean; man: boolean } {
  return (code) => ({
    reference: new RegExp(`^\\| ${code} \\|`, 'm').test(docs.reference),
    man: new RegExp(`^\\.It ${code}$`, 'm').test(docs.man),
  });
}

/** Where a word must be documented, as problems. */
function documented(docs: Docs, what: string, word: string): string[] {
  const problems: string[] = [];
  if (!backticked(docs.reference, word)) problems.push(`${what} \`${word}\` is not documented in grammar/REFERENCE.md (in backticks)`);
  if (!markedIc(docs.man, word)) problems.push(`${what} ${word} is not documented in man/filter-rules.rules.5 (with Ic)`);
  return problems;
}

export interface CatalogueInput {
  readonly steps: readonly StepDefinition[];
  /** steps/words.ts STEP_WORDS. */
  readonly words: readonly (readonly [string, string])[];
  /** The lexer's token of a reserved word, null for any other (dsl/tokens.ts keywordToken). */
  readonly token: (word: string) => TokenType | null;
  /** dsl/codes.ts CODES. */
  readonly codes: Readonly<Record<string, unknown>>;
  readonly docs: Docs;
}

const STEP_CATEGORY: Readonly<Record<ValueShape | 'none', string>> = { none: 'STEP_NONE', number: 'STEP_NUMBER', string: 'STEP_STRING', address: 'STEP_ADDRESS', choice: 'STEP_CHOICE', points: 'STEP_POINTS' };
const OPTION_CATEGORY: Readonly<Record<ValueShape, string>> = { none: 'OPTION_FLAG', number: 'OPTION_NUMBER', string: 'OPTION_STRING', address: 'OPTION_ADDRESS', choice: 'OPTION_CHOICE', points: 'OPTION_POINTS' };

/** The shape categories of a reserved word's token, or a problem when it is not reserved. */
function categoriesOf(input: CatalogueInput, what: string, word: string, prefix: 'STEP_' | 'OPTION_'): string[] | string {
  const t = input.token(word);
  if (t === null) return `${what} ${word} is not a reserved word`;
  return (t.CATEGORIES ?? []).map((c) => c.name).filter((n) => n.startsWith(prefix));
}

/** Everything a catalogued step lacks, one line each; [] when nothing. */
export function catalogueProblems(input: CatalogueInput): string[] {
  const problems: string[] = [];
  const { steps, words, docs } = input;
  const seen = new Set<string>();
  const usedWords = new Set<string>();
  const isCode = codeDocumented(docs);
  for (const d of steps) {
    const kw = d.keyword;
    if (seen.has(kw)) problems.push(`step ${kw} is catalogued twice`);
    seen.add(kw);
    const shape = d.argument === null ? 'none' : SHAPE_OF[d.argument.type];
    const stepCategories = categoriesOf(input, 'step', kw, 'STEP_');
    if (typeof stepCategories === 'string') problems.push(stepCategories);
    else if (stepCategories.length !== 1 || stepCategories[0] !== STEP_CATEGORY[shape]) {
      problems.push(`step ${kw} takes ${shape === 'none' ? 'no argument' : `a ${shape}`}, so its token must be in ${STEP_CATEGORY[shape]} alone, not in ${stepCategories.join(', ') || 'no shape category'}`);
    }
    problems.push(...documented(docs, 'step', kw));
    for (const [key, spec] of Object.entries(d.options)) {
      if (spec.name !== key) problems.push(`${kw}: the option under ${key} has the spec of ${spec.name}`);
      const role = words.find(([w]) => w === key)?.[1];
      if (role !== 'option') problems.push(`${kw} ${key}: not an option of STEP_WORDS (src/steps/words.ts)`);
      usedWords.add(key);
      const optionCategories = categoriesOf(input, `${kw}'s option`, key, 'OPTION_');
      const wanted = OPTION_CATEGORY[SHAPE_OF[spec.type]];
      if (typeof optionCategories === 'string') problems.push(optionCategories);
      else if (optionCategories.length !== 1 || optionCategories[0] !== wanted) {
        problems.push(`${kw} ${key} takes a ${spec.type}, so its token must be in ${wanted} alone, not in ${optionCategories.join(', ') || 'no shape category'}`);
      }
      problems.push(...documented(docs, `${kw}'s option`, key));
      for (const c of spec.choices ?? []) {
        usedWords.add(c.word);
        const isStep = steps.some((s) => s.keyword === c.word);
        if (!isStep && words.find(([w]) => w === c.word)?.[1] !== 'choice') problems.push(`${kw} ${key} ${c.word}: not a choice word of STEP_WORDS, nor a step keyword`);
        if (input.token(c.word) === null) problems.push(`${kw} ${key}'s choice ${c.word} is not a reserved word`);
        problems.push(...documented(docs, `${kw} ${key}'s choice`, c.word));
      }
    }
    for (const code of d.codes) {
      if (!Object.hasOwn(input.codes, code)) problems.push(`${kw} reports ${code}, which is not in CODES (src/dsl/codes.ts)`);
      const doc = isCode(code);
      if (!doc.reference) problems.push(`${kw} reports ${code}, which grammar/REFERENCE.md's diagnostics table lacks`);
      if (!doc.man) problems.push(`${kw} reports ${code}, which the DIAGNOSTICS of man/filter-rules.rules.5 lack`);
    }
  }
  for (const [w, role] of words) if (!usedWords.has(w)) problems.push(`STEP_WORDS has ${role} ${w}, which no step takes`);
  return problems;
}
