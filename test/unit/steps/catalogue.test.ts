/**
 * The catalogue holds together (issue 11 plan §2.2–2.3): every listed
 * definition is complete and consistent with the words the language reserves,
 * the codes it can report and the kinds it compiles to. What each piece means
 * is checked against the old code in definitions-equivalence.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CODES } from '../../../src/dsl/codes.js';
import { allowedText } from '../../../src/dsl/signatures.js';
import { keywordToken, KEYWORDS } from '../../../src/dsl/tokens.js';
import { RULE_PHASES, isEarlier } from '../../../src/model/phases.js';
import { KINDS, STEP_BY_KEYWORD, STEPS } from '../../../src/steps/catalogue.js';
import { SHAPE_OF, type StepDefinition, type ValueSpec } from '../../../src/steps/spec.js';
import { STEP_WORDS } from '../../../src/steps/words.js';
import { projectRoot } from '../dsl/helpers.js';
import { catalogueProblems, type CatalogueInput } from './completeness.js';

const DEFINITIONS: readonly StepDefinition[] = STEPS;

/** Whether `words` appear in KEYWORDS in the same order. */
function inReservedOrder(words: readonly string[]): boolean {
  const at = words.map((w) => KEYWORDS.indexOf(w));
  return at.every((i, n) => i >= 0 && (n === 0 || i > (at[n - 1] ?? -1)));
}

describe('the step catalogue', () => {
  test('keywords are reserved, unique, in reserved-word order, and found by STEP_BY_KEYWORD', () => {
    const keywords = DEFINITIONS.map((d) => d.keyword);
    assert.equal(new Set(keywords).size, keywords.length);
    assert.ok(inReservedOrder(keywords), keywords.join(' '));
    for (const d of DEFINITIONS) assert.equal(STEP_BY_KEYWORD.get(d.keyword), d);
    assert.equal(STEP_BY_KEYWORD.size, DEFINITIONS.length);
  });

  test('STEP_WORDS are reserved, unique, in reserved-word order; every option a step takes is one of them', () => {
    const words = STEP_WORDS.map(([w]) => w);
    assert.equal(new Set(words).size, words.length);
    assert.ok(inReservedOrder(words), words.join(' '));
    const options = new Set<string>(STEP_WORDS.filter(([, role]) => role === 'option').map(([w]) => w));
    const choices = new Set<string>([...STEP_WORDS.filter(([, role]) => role === 'choice').map(([w]) => w), ...DEFINITIONS.map((d) => d.keyword)]);
    for (const d of DEFINITIONS) {
      for (const [name, spec] of Object.entries(d.options)) {
        assert.ok(options.has(name), `${d.keyword} ${name}: not an option word of STEP_WORDS`);
        for (const c of spec.choices ?? []) assert.ok(choices.has(c.word), `${d.keyword} ${name} ${c.word}: not a choice word`);
      }
    }
  });

  test('every argument and option spec is complete: a shape, a description, an example, a sane range and default', () => {
    const check = (where: string, spec: ValueSpec): void => {
      assert.ok(Object.hasOwn(SHAPE_OF, spec.type), `${where}: type ${spec.type} has no shape`);
      assert.ok(spec.what.trim() !== '', `${where}: what`);
      // A flag has no value to name in a signature; every other type does.
      assert.equal(spec.docName.trim() !== '', SHAPE_OF[spec.type] !== 'none', `${where}: docName`);
      assert.equal(spec.type === 'choice', (spec.choices?.length ?? 0) > 0, `${where}: choices exactly for a choice`);
      // The example is written in the shape the grammar takes for the type.
      const shape = SHAPE_OF[spec.type];
      const looks = { none: /^$/, number: /^[0-9]+[a-z]*$/, string: /^".*"$/, address: /^".*"$/, choice: /^[a-z][a-z0-9-]*( ".*")?$/, points: /^[+-][0-9.]+ "[^"]+"$/ }[shape];
      assert.match(spec.example, looks, `${where}: example ${spec.example} is no ${shape}`);
      if (spec.min !== undefined && spec.max !== undefined) assert.ok(spec.min <= spec.max, `${where}: min > max`);
    };
    for (const d of DEFINITIONS) {
      if (d.argument !== null) check(`${d.keyword} argument`, d.argument);
      for (const [name, spec] of Object.entries(d.options)) {
        check(`${d.keyword} ${name}`, spec);
        // The table states the range from min and max; the doc's `allowed` adds what else holds ('' when nothing does).
        assert.ok(spec.doc.meaning.trim() !== '', `${d.keyword} ${name}: doc.meaning`);
        assert.ok(allowedText(spec) !== null || spec.type === 'flag', `${d.keyword} ${name}: neither a range nor doc.allowed says what it takes`);
        const dflt = spec.default;
        if (typeof dflt === 'number') assert.ok((spec.min ?? -Infinity) <= dflt && dflt <= (spec.max ?? Infinity), `${d.keyword} ${name}: default ${dflt} out of range`);
      }
    }
  });

  test('phases are in order; codes are diagnostic codes; compiled kinds are catalogued and name themselves', () => {
    for (const d of DEFINITIONS) {
      assert.ok(RULE_PHASES.includes(d.phases.earliest) && !isEarlier(d.phases.default, d.phases.earliest), `${d.keyword}: default before earliest`);
      for (const code of d.codes) assert.ok(Object.hasOwn(CODES, code), `${d.keyword}: ${code} is not in dsl/codes.ts`);
      assert.equal(d.checks.length > 0, d.codes.length > 0, `${d.keyword}: checks without codes, or codes without checks`);
      for (const kind of d.compiles) assert.ok(Object.hasOwn(KINDS, kind), `${d.keyword} compiles to ${kind}, which has no KindDefinition`);
    }
    for (const [kind, k] of Object.entries(KINDS)) assert.equal(k.kind, kind);
    // Every catalogued kind is what some keyword compiles to.
    assert.deepEqual(Object.keys(KINDS).sort(), [...new Set(DEFINITIONS.flatMap((d) => d.compiles))].sort());
  });
});

describe('every catalogued step has all its pieces (words, categories, documentation, codes)', () => {
  const read = (rel: string): string => readFileSync(join(projectRoot, rel), 'utf8');
  const real: CatalogueInput = {
    steps: DEFINITIONS,
    words: STEP_WORDS,
    token: keywordToken,
    codes: CODES,
    docs: { reference: read('grammar/REFERENCE.md'), man: read('man/filter-rules.rules.5') },
  };
  const step = (keyword: string): StepDefinition => {
    const d = DEFINITIONS.find((x) => x.keyword === keyword);
    assert.ok(d !== undefined, keyword);
    return d;
  };
  /** The catalogue with `keyword`'s definition replaced. */
  const replaced = (keyword: string, d: StepDefinition): StepDefinition[] => DEFINITIONS.map((x) => (x.keyword === keyword ? d : x));

  test('nothing is missing', () => {
    assert.deepEqual(catalogueProblems(real), []);
  });

  test('each check can fail: doctored copies of the catalogue, the words and the documents', () => {
    const greylist = step('greylist');
    const pause = step('pause');
    const delay = greylist.options['delay'];
    const pregreet = pause.options['pregreet'];
    assert.ok(delay !== undefined && pregreet !== undefined);
    const cases: readonly { readonly what: string; readonly input: Partial<CatalogueInput>; readonly problems: readonly string[] }[] = [
      { what: 'a keyword twice', input: { steps: [...DEFINITIONS, step('junk')] }, problems: ['step junk is catalogued twice'] },
      {
        what: 'a keyword the lexer does not reserve',
        input: { steps: [...DEFINITIONS, { ...step('accept'), keyword: 'stall' }] },
        problems: ['step stall is not a reserved word', 'step `stall` is not documented in grammar/REFERENCE.md (in backticks)', 'step stall is not documented in man/filter-rules.rules.5 (with Ic)'],
      },
      {
        what: 'a keyword whose token is in the wrong shape category',
        input: { steps: replaced('accept', { ...step('accept'), argument: step('reject').argument }) },
        problems: ['step accept takes a string, so its token must be in STEP_STRING alone, not in STEP_NONE'],
      },
      {
        what: 'an option under the wrong name',
        input: { steps: replaced('greylist', { ...greylist, options: { ...greylist.options, 'max-age': delay } }) },
        problems: ['greylist: the option under max-age has the spec of delay'],
      },
      {
        what: 'an option of the wrong shape for its token',
        input: { steps: replaced('greylist', { ...greylist, options: { ...greylist.options, header: { ...delay, name: 'header' } } }) },
        problems: ['greylist header takes a duration, so its token must be in OPTION_NUMBER alone, not in OPTION_FLAG'],
      },
      {
        what: 'an option word STEP_WORDS lacks, a word no step takes',
        input: { words: [...STEP_WORDS.filter(([w]) => w !== 'header'), ['stall', 'option']] },
        problems: ['greylist header: not an option of STEP_WORDS (src/steps/words.ts)', 'STEP_WORDS has option stall, which no step takes'],
      },
      {
        what: 'a choice word that is neither a choice of STEP_WORDS nor reserved',
        input: { steps: replaced('pause', { ...pause, options: { ...pause.options, pregreet: { ...pregreet, choices: [...(pregreet.choices ?? []), { word: 'stall' as 'log', reply: false }] } } }) },
        problems: [
          'pause pregreet stall: not a choice word of STEP_WORDS, nor a step keyword',
          "pause pregreet's choice stall is not a reserved word",
          "pause pregreet's choice `stall` is not documented in grammar/REFERENCE.md (in backticks)",
          "pause pregreet's choice stall is not documented in man/filter-rules.rules.5 (with Ic)",
        ],
      },
      {
        what: 'a word the documents do not mention in backticks or with Ic',
        input: { docs: { reference: real.docs.reference.replace(/`[^`\n]*`/g, (span) => span.replace(/\bpay-once\b/g, 'x')), man: real.docs.man.replace(/^(\.(?:It )?Ic .*)\bpay-once\b/gm, '$1x') } },
        problems: ["pause's option `pay-once` is not documented in grammar/REFERENCE.md (in backticks)", "pause's option pay-once is not documented in man/filter-rules.rules.5 (with Ic)"],
      },
      {
        what: 'a code CODES lacks and the documents do not list',
        input: {
          codes: Object.fromEntries(Object.entries(CODES).filter(([c]) => c !== 'W009')),
          docs: { reference: real.docs.reference.replace(/^\| W009 \|/m, '| W00X |'), man: real.docs.man.replace(/^\.It W009$/m, '.It W00X') },
        },
        problems: [
          'pause reports W009, which is not in CODES (src/dsl/codes.ts)',
          "pause reports W009, which grammar/REFERENCE.md's diagnostics table lacks",
          'pause reports W009, which the DIAGNOSTICS of man/filter-rules.rules.5 lack',
        ],
      },
    ];
    for (const c of cases) assert.deepEqual(catalogueProblems({ ...real, ...c.input }), c.problems, c.what);
  });
});
