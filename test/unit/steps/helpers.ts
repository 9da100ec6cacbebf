/**
 * Test stand-ins for the convert stage: values parsed from their written text
 * with the old parsers, and a definition's CheckView built from the AST. They
 * were how the definitions were held to the old code before anything read
 * them; since stage 8a the pipeline has dsl/convert.ts and these stay as the
 * independent reading the equivalence test compares it with.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { shaped, type ChainDecl, type Step, type StepOption } from '../../../src/dsl/ast.js';
import { CODES, type Code } from '../../../src/dsl/codes.js';
import { diagnostic, type Diagnostic } from '../../../src/dsl/diagnostics.js';
import { stepPhase } from '../../../src/dsl/inference.js';
import { parseCount, parseDnsList, parseDnsName, parseCounterStore, parseDuration, parseHttpUrl, parsePoints, parseScoreLabel, parseSettingsId, parseStore, replyProblems, type Parsed } from '../../../src/dsl/values.js';
import { parseResolverAddress } from '../../../src/dns/resolver-address.js';
import { parsePolicyAddress } from '../../../src/model/address.js';
import { parseLimitKey, parseRate } from '../../../src/model/limits.js';
import type { SourceSpan } from '../../../src/model/span.js';
import { parseKeyPath, parseSelector, parseSigningDomain } from '../../../src/model/dkim-names.js';
import type { CheckView, OptionPlace, OptionSpec, OptionSpecs, StepDefinition, StepInput, ValueSpec, ValueType, ValueTypes } from '../../../src/steps/spec.js';

/** A rules-file string literal without escapes (what the examples use), decoded. */
function unquote(text: string): string {
  const m = /^"([^"\\]*)"$/.exec(text);
  assert.ok(m !== null, `an example string must be a plain "…" literal, not ${text}`);
  return m[1] ?? '';
}

/** The value an example means, by today's parsers; fails the test on a value the checker would refuse. */
export function parseExample<T extends ValueType>(spec: ValueSpec<T>, text: string): ValueTypes[T] {
  const parsers: { readonly [V in ValueType]: (written: string, s: ValueSpec<V>) => ValueTypes[V] } = {
    duration: (w) => must(parseDuration(w), w),
    count: (w) => must(parseCount(w), w),
    reply: (w) => {
      const reply = unquote(w);
      assert.deepEqual(replyProblems(reply), [], `example reply ${w}`);
      return reply;
    },
    'policy-address': (w) => must(parsePolicyAddress(unquote(w)), w),
    'store-url': (w) => must(parseStore(unquote(w)), w),
    'dns-list': (w) => must(parseDnsList(unquote(w)), w),
    'dns-name': (w) => must(parseDnsName(unquote(w)), w),
    'resolver-address': (w) => must(parseResolverAddress(unquote(w)), w),
    points: (w) => {
      const m = /^(\S+) (".*")$/.exec(w);
      assert.ok(m !== null, `example ${w}: not points and a label`);
      return { milli: must(parsePoints(m[1] ?? ''), w), label: must(parseScoreLabel(unquote(m[2] ?? '')), w) };
    },
    'http-url': (w) => must(parseHttpUrl(unquote(w)), w),
    'settings-id': (w) => must(parseSettingsId(unquote(w)), w),
    rate: (w) => must(parseRate(unquote(w)), w),
    'limit-key': (w) => must(parseLimitKey(unquote(w)), w),
    'counter-store-url': (w) => must(parseCounterStore(unquote(w)), w),
    'signing-domain': (w) => must(parseSigningDomain(unquote(w)), w),
    'dkim-selector': (w) => must(parseSelector(unquote(w)), w),
    'key-file': (w) => must(parseKeyPath(unquote(w)), w),
    flag: (w) => {
      assert.equal(w, '', 'a flag takes no value');
      return true;
    },
    choice: (w, s) => {
      const m = /^([a-z][a-z0-9-]*)(?: (".*"))?$/.exec(w);
      const choice = s.choices?.find((c) => c.word === m?.[1]);
      assert.ok(m !== null && choice !== undefined, `example ${w}: not one of the choices`);
      assert.ok(m[2] === undefined || choice.reply, `example ${w}: ${choice.word} takes no reply`);
      return { word: choice.word, reply: m[2] === undefined ? null : unquote(m[2]) };
    },
  };
  const value = (parsers[spec.type] as (w: string, s: ValueSpec<T>) => ValueTypes[T])(text, spec);
  if (typeof value === 'number') {
    assert.ok(spec.min === undefined || value >= spec.min, `example ${text} below the minimum`);
    assert.ok(spec.max === undefined || value <= spec.max, `example ${text} above the maximum`);
  }
  return value;
}

function must<T>(p: { ok: true; value: T } | { ok: false; problem: { message: string } }, text: string): T {
  if (!p.ok) assert.fail(`example ${text}: ${p.problem.message}`);
  return p.value;
}

/** The step as a rules file writes it, with the examples of its argument and of the options named. */
export function exampleSource(definition: StepDefinition, optionNames: readonly string[]): string {
  const parts: string[] = [definition.keyword];
  if (definition.argument !== null) parts.push(definition.argument.example);
  for (const name of optionNames) {
    const spec = definition.options[name];
    assert.ok(spec !== undefined, name);
    parts.push(spec.example === '' ? name : `${name} ${spec.example}`);
  }
  return parts.join(' ');
}

/** What compile would be given for that source at `phase`: checked values, defaults applied. */
/** The key a step that loads one is compiled with in these tests (examples/dkim-sign's RSA key, published as an example). */
export const EXAMPLE_KEY_PATH = 'examples/dkim-sign/keys/example-rsa.key';
export const EXAMPLE_KEY = readFileSync(new URL(`../../../../${EXAMPLE_KEY_PATH}`, import.meta.url), 'utf8');

export function exampleInput(definition: StepDefinition, optionNames: readonly string[], phase: StepInput<null, OptionSpecs>['phase']): StepInput<ValueType | null, OptionSpecs> {
  const options: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(definition.options)) {
    options[name] = optionNames.includes(name) ? parseExample(spec, spec.example) : (spec.default ?? undefined);
  }
  const argument = definition.argument === null ? null : parseExample(definition.argument, definition.argument.example);
  return { argument, options, phase, loaded: definition.loads === undefined ? null : EXAMPLE_KEY } as StepInput<ValueType | null, OptionSpecs>;
}

/** A step's view as its definition's checks would get it from the convert stage, built from today's AST. */
export function viewOf(chain: ChainDecl, step: Step, definition: StepDefinition): CheckView {
  const placed = stepPhase(step, definition.phases);
  const action = step.action;
  const value = action.argument;
  const argument =
    value === null
      ? null
      : value.shape === 'number'
        ? { text: value.text, span: value.span }
        : value.shape === 'string' || value.shape === 'address'
          ? { text: value.value, span: value.span }
          : value.shape === 'points'
            ? { text: `${value.number.text} ${JSON.stringify(value.label.value)}`, span: value.span }
            : assert.fail('no step takes a choice as its argument');
  // Like convert: the options the step takes, every occurrence; the others are E043's, not the checks'.
  const taken = (o: StepOption): boolean => Object.hasOwn(definition.options, o.kind);
  const written = (name: string): StepOption[] => step.options.filter((o) => o.kind === name && taken(o));
  return {
    keyword: action.kind,
    actionSpan: action.span,
    argument,
    value: <T extends ValueType>(spec: OptionSpec<T>): ValueTypes[T] | null => {
      const last = written(spec.name).at(-1);
      return last === undefined ? null : checkedValue(spec, last);
    },
    occurrences: (name) =>
      written(name).map(
        (o): OptionPlace => ({
          keywordSpan: o.keywordSpan,
          span: o.span,
          // Looked up when read: no check reads a choice's span yet.
          get valueSpan() {
            return valueSpanOf(o);
          },
        }),
      ),
    placement: { phase: placed.phase, at: placed.at === null ? null : { phase: placed.at.phase, span: placed.at.span } },
    chain: { name: chain.name.name, nameSpan: chain.name.span },
  };
}

/** Where an option's value is written; no check reads a choice's (pregreet) yet. */
function valueSpanOf(o: StepOption): SourceSpan | null {
  switch (o.kind) {
    case 'header':
      return null;
    case 'pregreet':
      return assert.fail('no check reads the span of a choice value: build it here when one does');
    case 'when':
    case 'at':
    case 'on-error':
      return assert.fail(`${o.kind} is the language's, no step option`);
    case 'strict':
      return null;
    case 'count':
    case 'exceeded':
      return shaped(o.value, 'choice').span;
    default:
      return shaped(o.value, 'number').span;
    case 'store':
    case 'per':
      return shaped(o.value, 'string').span;
  }
}

/** An option's value as convert and the value checks would leave it: null when it does not parse or is out of the spec's range. */
function checkedValue<T extends ValueType>(spec: OptionSpec<T>, o: StepOption): ValueTypes[T] | null {
  const parsed = ((): Parsed<unknown> => {
    switch (o.kind) {
      case 'header':
      case 'strict':
        return { ok: true, value: true };
      case 'store':
        return spec.type === 'counter-store-url' ? parseCounterStore(shaped(o.value, 'string').value) : parseStore(shaped(o.value, 'string').value);
      case 'per':
        return parseLimitKey(shaped(o.value, 'string').value);
      case 'lookup': {
        const c = shaped(o.value, 'choice');
        return { ok: true, value: { word: c.word, reply: null } };
      }
      case 'count':
      case 'exceeded': {
        // The limit's choices, as the choice parser leaves them (a reply checked by its own E030-E032).
        const c = shaped(o.value, 'choice');
        const reply = c.reply === null ? null : c.reply.value;
        if (reply !== null && replyProblems(reply).length > 0) return { ok: false, problem: { message: 'bad reply' } };
        return { ok: true, value: { word: c.word, reply } };
      }
      case 'pregreet':
      case 'when':
      case 'at':
      case 'on-error':
        return assert.fail(`no check reads the value of ${o.kind}: build it here when one does`);
      default:
        return spec.type === 'count' ? parseCount(shaped(o.value, 'number').text) : parseDuration(shaped(o.value, 'number').text);
    }
  })();
  if (!parsed.ok) return null;
  const v = parsed.value;
  if (typeof v === 'number' && ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max))) return null;
  return v as ValueTypes[T];
}

/** What a definition's checks say of one step, as diagnostics; a code it does not declare fails the test. */
export function runChecks(definition: StepDefinition, view: CheckView): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const check of definition.checks) {
    check(view, (code, span, message, extra = {}) => {
      assert.ok(definition.codes.includes(code), `${definition.keyword} reported ${code}, which is not in its codes`);
      assert.ok(Object.hasOwn(CODES, code), `${code} is not a diagnostic code`);
      out.push(diagnostic(code as Code, span, message, { ...(extra.hint === undefined ? {} : { hint: extra.hint }), ...(extra.related === undefined ? {} : { related: extra.related }) }));
    });
  }
  return out;
}
