/**
 * The catalogue holds together (issue 11 plan §2.2–2.3): every listed
 * definition is complete and consistent with the words the language reserves,
 * the codes it can report and the kinds it compiles to. What each piece means
 * is checked against the old code in definitions-equivalence.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CODES } from '../../../src/dsl/codes.js';
import { allowedText } from '../../../src/dsl/signatures.js';
import { KEYWORDS } from '../../../src/dsl/tokens.js';
import { RULE_PHASES, isEarlier } from '../../../src/model/phases.js';
import { KINDS, STEP_BY_KEYWORD, STEPS } from '../../../src/steps/catalogue.js';
import { SHAPE_OF, type StepDefinition, type ValueSpec } from '../../../src/steps/spec.js';
import { STEP_WORDS } from '../../../src/steps/words.js';

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
      const looks = { none: /^$/, number: /^[0-9]+[a-z]*$/, string: /^".*"$/, address: /^".*"$/, choice: /^[a-z-]+( ".*")?$/ }[shape];
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
