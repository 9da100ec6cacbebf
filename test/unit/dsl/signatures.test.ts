/**
 * dsl/signatures.ts and dsl/doc-sections.ts: the step signatures and the
 * options table read from the catalogue, and the documents' generated
 * sections. grammar.test.ts holds the checked-in files to them; this holds
 * them to what the table said when it was written by hand, and tries them on
 * doctored catalogues.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mdocText, optionsMarkdown, replaceSection, reservedWordsMarkdown, MARKDOWN_MARKERS, sectionContent } from '../../../src/dsl/doc-sections.js';
import { toEbnf } from '../../../src/dsl/ebnf.js';
import { allowedText, formatDefault, formatRange, optionRows, ruleName, signatureGrammar } from '../../../src/dsl/signatures.js';
import { CATEGORY_MEMBERS, KEYWORDS } from '../../../src/dsl/tokens.js';
import { STEPS } from '../../../src/steps/catalogue.js';
import type { OptionSpec, StepDefinition } from '../../../src/steps/spec.js';

const DEFINITIONS: readonly StepDefinition[] = STEPS;

function definition(keyword: string): StepDefinition {
  const d = DEFINITIONS.find((x) => x.keyword === keyword);
  assert.ok(d !== undefined, keyword);
  return d;
}

function option(keyword: string, name: string): OptionSpec {
  const spec = definition(keyword).options[name];
  assert.ok(spec !== undefined, `${keyword} ${name}`);
  return spec;
}

/** The signature rules of `steps` as rules.ebnf prints them. */
function ebnfOf(steps: readonly StepDefinition[]): string {
  const g = signatureGrammar(steps);
  return toEbnf([...g.steps, g.common, ...g.values], { header: [], categories: CATEGORY_MEMBERS, categoryNotes: [], tokenNotes: [] });
}

describe('the options table', () => {
  test('says what the hand-written table said: the steps, defaults and ranges of every option', () => {
    // Written out from grammar/REFERENCE.md §3 before it was generated (`0 < t ≤ 300s` is the same range).
    // The options that came after it (newer step kinds) are not frozen here: their rows are the specs'.
    const frozen: readonly (readonly [string, string, string, string | null])[] = [
      ['timeout', 'postgrey, policy', '`2s`', 'more than 0, at most `5m`'],
      ['delay', 'greylist', '`5m`', '`1s … 1d`'],
      ['max-age', 'greylist', '`35d`', '`1d … 3650d`'],
      ['retry-window', 'greylist', '`2d`', '`1m … 365d`'],
      ['auto-whitelist', 'greylist', '`5`', '`0 … 1000000`'],
      ['ipv4-prefix', 'greylist', '`24`', '`1 … 32`'],
      ['ipv6-prefix', 'greylist', '`64`', '`1 … 128`'],
      ['store', 'greylist', '`"sqlite:/var/lib/filter-rules/greylist.db"`', null],
      ['header', 'greylist', 'off', null],
      ['pregreet', 'pause', 'off', null],
      ['pay-once', 'pause', 'off', '`1s … 30d`'],
    ];
    // A word of two specs (timeout: policy's, and a newer kind's) has a row for each: a row is a word and its steps.
    const rowKey = (r: readonly [string, string, ...unknown[]]): string => `${r[0]} (${r[1]})`;
    const frozenKeys = new Set(frozen.map(rowKey));
    const rows = optionRows().map((r) => [r.spec.name, r.steps.join(', '), formatDefault(r.spec), formatRange(r.spec)] as const);
    assert.deepEqual(
      rows.filter((r) => frozenKeys.has(rowKey(r))),
      frozen,
    );
    // What the doc adds comes after the range; a range the doc repeated would show twice.
    assert.equal(allowedText(option('greylist', 'delay')), '`1s … 1d`, shorter than `retry-window` (E026)');
    assert.equal(allowedText(option('greylist', 'max-age')), '`1d … 3650d`');
    assert.equal(allowedText(option('greylist', 'header')), null);
    assert.ok(allowedText(option('greylist', 'store'))?.startsWith('`"sqlite:/absolute/path.db"`'));
  });

  test('one row per spec: steps that share a spec share a row, a step with its own spec gets its own', () => {
    const policy = definition('policy');
    const slower = { ...policy, options: { timeout: { ...option('policy', 'timeout'), default: 10_000 } } };
    const rows = optionRows(DEFINITIONS.map((d) => (d === policy ? slower : d))).filter((r) => r.spec.name === 'timeout');
    assert.deepEqual(
      rows.map((r) => [r.steps, formatDefault(r.spec)]),
      [
        [['postgrey'], '`2s`'],
        [['policy'], '`10s`'],
        [['dnsbl'], '`2s`'],
        [['spf'], '`5s`'],
        [['rspamd'], '`20s`'],
      ],
    );
  });

  test('ranges and defaults are formatted from the spec, as the checker says them', () => {
    const base = { name: 'delay', what: 'x', docName: 'DURATION', example: '1s', default: null, doc: { allowed: '', meaning: 'm' } } as const;
    const duration = (min?: number, max?: number): OptionSpec => ({ ...base, type: 'duration', ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) });
    assert.equal(formatRange(duration(1, 300_000)), 'more than 0, at most `5m`');
    assert.equal(formatRange(duration(1)), 'more than 0');
    assert.equal(formatRange(duration(0, 1000)), '`0ms … 1s`');
    assert.equal(formatRange(duration(undefined, 90_000)), 'at most `90s`');
    assert.equal(formatRange(duration(60_000)), 'at least `1m`');
    assert.equal(formatRange(duration()), null);
    assert.equal(formatRange({ ...base, type: 'count', min: 0, max: 10 }), '`0 … 10`');
    assert.equal(formatRange({ ...base, type: 'store-url' }), null);
    assert.equal(formatDefault({ ...base, type: 'choice', default: { word: 'disconnect', reply: '421 go' } }), '`disconnect "421 go"`');
    assert.equal(formatDefault({ ...base, type: 'choice', default: { word: 'log', reply: null } }), '`log`');
    assert.equal(formatDefault({ ...base, type: 'reply', default: '450 wait' }), '`"450 wait"`');
    assert.equal(formatDefault({ ...base, type: 'policy-address', default: { kind: 'tcp', host: '::1', port: 10023 } }), '`tcp:[::1]:10023`');
    assert.equal(allowedText({ ...base, type: 'flag' }), null);
  });

  test('Markdown: `|` is escaped in cells, the table stands apart from its markers', () => {
    const table = optionsMarkdown(optionRows());
    assert.ok(table.startsWith('\n\n| option | steps | default | allowed | meaning |\n|---|---|---|---|---|\n'));
    assert.ok(table.endsWith(' |\n\n'));
    assert.ok(table.includes('| `pregreet disconnect ["REPLY"] \\| log` | pause | off |'));
    assert.ok(table.includes('| `on-error tempfail\\|proceed` | all | `tempfail` |'));
    assert.ok(table.includes('| `header` | greylist | off | — |'));
    for (const line of table.trim().split('\n')) assert.equal(line.replace(/\\\|/g, '').split('|').length, 7, line);
  });

  test('the reserved words: one code span, every word once and in order, wrapped to the width', () => {
    const text = reservedWordsMarkdown(KEYWORDS);
    const lines = text.split('\n').slice(1);
    for (const line of lines) assert.ok(line.length <= 78 && line.startsWith('  '), line);
    assert.deepEqual(text.trim().slice(1, -1).split(/\s+/), [...KEYWORDS]);
    assert.equal(reservedWordsMarkdown(['a', 'b'], 8), '\n  `a b`');
    assert.equal(reservedWordsMarkdown(['aaa', 'bbb'], 8), '\n  `aaa\n  bbb`');
  });
});

describe('the step signatures', () => {
  test('as EBNF: each value type is a rule, a choice its words, a flag its word', () => {
    const ebnf = ebnfOf(DEFINITIONS);
    assert.match(ebnf, /^greylist +::= 'greylist' \( 'delay' duration \| 'max-age' duration \| 'retry-window' duration \| 'auto-whitelist' count \| 'ipv4-prefix' count \| 'ipv6-prefix' count \| 'store' storeUrl \| 'header' \| common \)\*$/m);
    assert.match(ebnf, /^postgrey +::= 'postgrey' policyAddress \( 'timeout' duration \| common \)\*$/m);
    assert.match(ebnf, /^reject +::= 'reject' reply common\*$/m);
    assert.deepEqual(
      signatureGrammar(DEFINITIONS).values.map((r) => r.name),
      ['duration', 'count', 'reply', 'policyAddress', 'storeUrl', 'dnsList', 'dnsName', 'resolverAddress', 'httpUrl', 'settingsId', 'points', 'rate', 'limitKey', 'counterStoreUrl', 'signingDomain', 'dkimSelector', 'keyFile'],
    );
  });

  test('a doctored catalogue: a new option shows in its step’s signature, and only the values used get rules', () => {
    const pause = definition('pause');
    const accept = definition('accept');
    // `accept` taking `pay-once` as a flag (a reserved word already), and pause as it is.
    const flag: OptionSpec = { name: 'pay-once', type: 'flag', default: null, what: 'x', docName: '', example: '', doc: { allowed: '', meaning: 'm' } };
    const doctored = [{ ...accept, options: { 'pay-once': flag } }, pause];
    const ebnf = ebnfOf(doctored);
    assert.match(ebnf, /^accept +::= 'accept' \( 'pay-once' \| common \)\*$/m);
    assert.deepEqual(
      signatureGrammar(doctored).values.map((r) => r.name),
      ['duration', 'reply'],
    );
    // A word the lexer does not reserve cannot be in a signature: the catalogue must list it in steps/words.ts.
    const unreserved = { ...accept, options: { stall: { ...flag, name: 'stall' as OptionSpec['name'] } } };
    assert.throws(() => signatureGrammar([unreserved]), /signatures: stall is not a reserved word/);
    assert.equal(ruleName('dkim-sign'), 'dkimSign');
  });
});

describe('mdoc cells', () => {
  test('code spans become Ql with their punctuation as delimiters; text lines end at sentences', () => {
    assert.deepEqual(mdocText('Default `5m`; `1s … 1d`, shorter than `retry-window` (E026). How long.'), [
      'Default',
      '.Ql 5m ;',
      '.Ql 1s ... 1d ,',
      'shorter than',
      '.Ql retry-window',
      '(E026).',
      'How long.',
    ]);
    assert.deepEqual(mdocText('with (`x`) and `"a b"`'), ['with', '.Ql ( x )', 'and', '.Ql \\(dqa b\\(dq']);
  });

  test('words that spell a macro or a delimiter stay words; links keep their text; backslashes and leading dots are escaped', () => {
    assert.deepEqual(mdocText('`No Ta | x` see [Conditions](#6-conditions)'), ['.Ql \\&No \\&Ta \\&| x', 'see Conditions']);
    assert.deepEqual(mdocText('a\\b. .c’s ≤'), ['a\\eb.', '\\&.c\\(cqs \\(<=']);
  });

  test('what it cannot write is an error, not a broken page', () => {
    assert.throws(() => mdocText('an `open code span'), /unbalanced backticks/);
    assert.throws(() => mdocText('naïve'), /no roff spelling for "ï"/);
  });
});

describe('marked sections', () => {
  test('replace only what is between the markers', () => {
    const text = `a ${MARKDOWN_MARKERS.start('x')}old${MARKDOWN_MARKERS.end} b`;
    const replaced = replaceSection(text, 'x', MARKDOWN_MARKERS, 'new');
    assert.equal(replaced, `a ${MARKDOWN_MARKERS.start('x')}new${MARKDOWN_MARKERS.end} b`);
    assert.equal(sectionContent(replaced, 'x', MARKDOWN_MARKERS), 'new');
    assert.throws(() => sectionContent(text, 'y', MARKDOWN_MARKERS), /no generated section "y"/);
  });
});
