/**
 * The field rows (src/conditions/fields.ts) say what the checker's switches on
 * field names said before them (issue 11 stage 5): which tests each field
 * takes, which list items fit it, and from which phase it is known. The
 * expectations are written out here, one per field, test and item kind, so a
 * row that loses or gains one fails by name; the messages are the goldens'.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIELD_BY_NAME, FIELDS, type FieldDefinition, type FieldName } from '../../../src/conditions/fields.js';
import { keywordToken } from '../../../src/dsl/tokens.js';
import { compile, compileOk, onlyChain, projectRoot } from '../dsl/helpers.js';
import { fieldProblems, type FieldsInput } from './completeness.js';

const NAMES: readonly FieldName[] = ['src', 'rdns', 'fcrdns', 'helo', 'mail-from', 'rcpt-to', 'tls', 'tls-version', 'tls-cipher', 'authenticated', 'auth-user', 'listed', 'dns-error', 'score', 'spf', 'spf-helo', 'rspamd-action', 'rspamd-symbol', 'rspamd-score'];

/**
 * Diagnostics of `chain c = accept when CONDITION` as `CODE message (hint)`; [] when it compiles clean.
 * An `spf check-helo` step comes first, so that a test of its results is not W040's.
 */
function said(condition: string): string[] {
  const r = compile(`chain c = spf check-helo then accept when ${condition}`);
  return (r.ok ? r.warnings : r.diagnostics).map((d) => `${d.code} ${d.message}${d.hint === undefined ? '' : ` (${d.hint})`}`);
}

describe('condition fields', () => {
  test('every field has its row, under its own name, in reserved-word order', () => {
    assert.deepEqual(
      FIELDS.map((f) => f.name),
      NAMES,
    );
    for (const name of NAMES) assert.equal(FIELD_BY_NAME[name].name, name);
    assert.deepEqual(Object.keys(FIELD_BY_NAME), NAMES);
  });

  test('each field is known from the phase it was, which places a step that tests it', () => {
    // TLS and AUTH come after the first EHLO (STARTTLS and AUTH need one): settled only at mail-from.
    const knownFrom: Record<FieldName, string> = {
      ...{ src: 'connect', rdns: 'connect', fcrdns: 'connect', helo: 'helo', 'mail-from': 'mail-from', 'rcpt-to': 'rcpt-to' },
      ...{ tls: 'mail-from', 'tls-version': 'mail-from', 'tls-cipher': 'mail-from', authenticated: 'mail-from', 'auth-user': 'mail-from' },
      ...{ listed: 'connect', 'dns-error': 'connect', score: 'connect', spf: 'mail-from', 'spf-helo': 'mail-from' },
      ...{ 'rspamd-action': 'commit', 'rspamd-symbol': 'commit', 'rspamd-score': 'commit' },
    };
    const tests: Record<FieldName, string> = {
      ...{ src: 'src ~ /x/', rdns: 'rdns', fcrdns: 'fcrdns', helo: 'helo ~ /x/', 'mail-from': 'mail-from ~ /x/', 'rcpt-to': 'rcpt-to ~ /x/' },
      ...{ tls: 'tls', 'tls-version': 'tls-version ~ /x/', 'tls-cipher': 'tls-cipher ~ /x/', authenticated: 'authenticated', 'auth-user': 'auth-user ~ /x/' },
      ...{ listed: 'listed', 'dns-error': 'dns-error', score: 'score >= 1', spf: 'spf in { fail }', 'spf-helo': 'spf-helo in { fail }' },
      ...{ 'rspamd-action': 'rspamd-action ~ /x/', 'rspamd-symbol': 'rspamd-symbol', 'rspamd-score': 'rspamd-score > 20' },
    };
    for (const name of NAMES) {
      assert.equal(FIELD_BY_NAME[name].knownFrom, knownFrom[name], name);
      const [step] = onlyChain(compileOk(`chain c = accept when ${tests[name]}`)).steps;
      assert.equal(step?.phase, knownFrom[name], name);
      assert.deepEqual(step?.whenFields, [name]);
    }
  });

  test('the tests each field takes; any other is E045 with the field’s message, or E073 for a compare', () => {
    const needs = (f: string) => `E045 \`${f}\` needs \`~ /REGEX/\` or \`in LIST\` (e.g. \`${f} in trusted\`)`;
    const yesNo = 'E045 `fcrdns` is a yes/no test and takes no `~` or `in` (write `fcrdns` or `not fcrdns`; to match the name, use `rdns`)';
    const tlsYesNo = 'E045 `tls` is a yes/no test and takes no `~` or `in` (write `tls` or `not tls`; to match the version or the cipher, use `tls-version` or `tls-cipher`)';
    const authYesNo = 'E045 `authenticated` is a yes/no test and takes no `~` or `in` (write `authenticated` or `not authenticated`; to match the user name, use `auth-user`)';
    const needsHint = (f: string, hint: string) => `E045 \`${f}\` needs \`~ /REGEX/\` or \`in LIST\` (${hint})`;
    const isNumber = ['E045 `score` is a number: it takes `>=`, `>`, `<=` or `<` (e.g. `score >= 5`)'];
    const expected: Record<FieldName, { bare: string[]; match: string[]; in: string[] }> = {
      src: { bare: [needs('src')], match: [], in: [] },
      rdns: { bare: [], match: [], in: [] },
      fcrdns: { bare: [], match: [yesNo], in: [yesNo] },
      helo: { bare: [needs('helo')], match: [], in: [] },
      'mail-from': { bare: [needs('mail-from')], match: [], in: [] },
      'rcpt-to': { bare: [needs('rcpt-to')], match: [], in: [] },
      tls: { bare: [], match: [tlsYesNo], in: [tlsYesNo] },
      'tls-version': { bare: [needsHint('tls-version', 'e.g. `tls-version in { TLSv1.2, TLSv1.3 }`; to test whether TLS is on, use `tls`')], match: [], in: [] },
      'tls-cipher': { bare: [needsHint('tls-cipher', 'e.g. `tls-cipher ~ /^TLS_AES_/`; to test whether TLS is on, use `tls`')], match: [], in: [] },
      authenticated: { bare: [], match: [authYesNo], in: [authYesNo] },
      'auth-user': { bare: [needsHint('auth-user', 'e.g. `auth-user in admins`; to test whether the client authenticated, use `authenticated`')], match: [], in: [] },
      listed: { bare: [], match: [], in: [] },
      'dns-error': { bare: [], match: [], in: [] },
      score: { bare: isNumber, match: isNumber, in: isNumber },
      'rspamd-score': (() => {
        const n = ['E045 `rspamd-score` is a number: it takes `>=`, `>`, `<=` or `<` (e.g. `rspamd-score > 20`)'];
        return { bare: n, match: n, in: n };
      })(),
      spf: { bare: ['E045 `spf` needs `in LIST` (e.g. `spf in { fail }`)'], match: ['E045 `spf` needs `in LIST` (e.g. `spf in { fail }`)'], in: [] },
      'spf-helo': { bare: ['E045 `spf-helo` needs `in LIST` (e.g. `spf-helo in { fail }`)'], match: ['E045 `spf-helo` needs `in LIST` (e.g. `spf-helo in { fail }`)'], in: [] },
      'rspamd-action': { bare: [needsHint('rspamd-action', 'e.g. `rspamd-action in { reject soft-reject }`')], match: [], in: [] },
      'rspamd-symbol': { bare: [], match: [], in: [] },
    };
    // The one item every `in` takes that fits each field.
    const item: Record<FieldName, string> = {
      ...{ src: '192.0.2.1', rdns: 'example.com', fcrdns: 'example.com', helo: 'example.com', 'mail-from': 'example.com', 'rcpt-to': 'example.com' },
      ...{ tls: 'example.com', 'tls-version': 'TLSv1.3', 'tls-cipher': 'TLS_AES_256_GCM_SHA384', authenticated: 'example.com', 'auth-user': 'alice' },
      ...{ listed: 'zen', 'dns-error': 'zen', score: 'zen', spf: 'fail', 'spf-helo': 'softfail' },
      ...{ 'rspamd-action': 'soft-reject', 'rspamd-symbol': 'R_SPF_FAIL', 'rspamd-score': 'zen' },
    };
    const numbers: readonly FieldName[] = ['score', 'rspamd-score'];
    const notNumber = (f: string) => `E073 \`${f}\` is not a number and takes no \`>=\`, \`>\`, \`<=\` or \`<\` (the fields that compare with a number: \`score\`, \`rspamd-score\`)`;
    for (const name of NAMES) {
      assert.deepEqual(said(name), expected[name].bare, `${name} bare`);
      assert.deepEqual(said(`${name} ~ /x/`), expected[name].match, `${name} ~`);
      assert.deepEqual(said(`${name} in { ${item[name]} }`), expected[name].in, `${name} in`);
      for (const op of ['>=', '>', '<=', '<']) assert.deepEqual(said(`${name} ${op} 1`), numbers.includes(name) ? [] : [notNumber(name)], `${name} ${op}`);
    }
  });

  test('which list items fit which field (E015), with the hints that point elsewhere', () => {
    const items = { ip: '192.0.2.1', range: '198.51.100.0/24', domain: 'example.com', pattern: '.example.com', address: 'a@example.com', 'null-sender': '""' } as const;
    type Item = keyof typeof items;
    const what: Record<Item, string> = { ip: 'an IP address', range: 'an address range', domain: 'a domain', pattern: 'a domain pattern', address: 'a mail address', 'null-sender': 'the null sender' };
    const wholeNames = 'list the names in full, or use `~ /REGEX/` for a pattern';
    const fits: Record<Exclude<FieldName, 'fcrdns' | 'tls' | 'authenticated' | 'score' | 'spf' | 'spf-helo' | 'rspamd-score'>, { readonly wants: string; readonly fit: readonly Item[]; readonly hints?: Partial<Record<Item, string>> }> = {
      src: { wants: 'IP addresses and ranges', fit: ['ip', 'range'], hints: { domain: 'to match client host names, use `rdns in` with a separate list', pattern: 'to match client host names, use `rdns in` with a separate list' } },
      rdns: { wants: 'host names and domain patterns', fit: ['domain', 'pattern'], hints: { ip: 'to match client addresses, use `src in` with a separate list', range: 'to match client addresses, use `src in` with a separate list' } },
      helo: { wants: 'host names, domain patterns and IP addresses', fit: ['ip', 'range', 'domain', 'pattern'] },
      'mail-from': { wants: 'mail addresses, domains and the null sender ""', fit: ['domain', 'pattern', 'address', 'null-sender'] },
      'rcpt-to': { wants: 'mail addresses and domains', fit: ['domain', 'pattern', 'address'] },
      // Compared whole: a domain-shaped item is a version or cipher name; a pattern does not fit.
      'tls-version': { wants: 'TLS versions such as TLSv1.3', fit: ['domain'], hints: { pattern: wholeNames } },
      'tls-cipher': { wants: 'cipher names such as TLS_AES_256_GCM_SHA384', fit: ['domain'], hints: { pattern: wholeNames } },
      'auth-user': {
        wants: 'user names such as alice or alice@example.com',
        fit: ['domain', 'address'],
        hints: {
          ip: 'to match client addresses, use `src in` with a separate list',
          range: 'to match client addresses, use `src in` with a separate list',
          pattern: 'list the user names in full; to match every user at a domain, use `auth-user ~ /@example\\.com$/`',
        },
      },
      listed: { wants: 'names of DNS lists (`as`), or NAME.CODE for a named code', fit: ['domain'], hints: { pattern: 'list the names in full: the name of a `dnsbl` step, or NAME.CODE' } },
      'dns-error': { wants: 'names of DNS lists (`as`)', fit: ['domain'], hints: { pattern: 'list the names in full: the name of a `dnsbl` step, or NAME.CODE' } },
      'rspamd-action': {
        wants: 'rspamd actions: `reject`, `soft-reject`, `greylist`, `add-header`, `rewrite-subject`, `no-action`, or a custom action',
        fit: ['domain'],
        hints: { pattern: 'list the actions in full, spaces as hyphens: `soft-reject`' },
      },
      'rspamd-symbol': { wants: 'rspamd symbol names (`GTUBE`, `R_SPF_FAIL`)', fit: ['domain'], hints: { pattern: 'list the symbols in full, or use `rspamd-symbol ~ /^BAYES_/`' } },
    };
    for (const [field, f] of Object.entries(fits)) {
      for (const [kind, text] of Object.entries(items) as [Item, string][]) {
        const hint = f.hints?.[kind];
        const expected = f.fit.includes(kind) ? [] : [`E015 ${text === '""' ? '""' : `"${text}"`} is ${what[kind]}, but \`${field} in\` compares ${f.wants}${hint === undefined ? '' : ` (${hint})`}`];
        assert.deepEqual(said(`${field} in { ${text} }`), expected, `${field} in { ${text} }`);
      }
    }
  });

  test('the SPF fields take the seven results by name: any other word is E105, anything else E015', () => {
    for (const field of ['spf', 'spf-helo']) {
      assert.deepEqual(said(`${field} in { pass, fail, softfail, neutral, none, temperror, permerror }`), [], field);
      assert.deepEqual(said(`${field} in { fial }`), [`E105 "fial" is not an SPF result, so \`${field} in\` never matches it (did you mean "fail"?)`]);
      assert.deepEqual(said(`${field} in { example.com }`), [
        `E105 "example.com" is not an SPF result, so \`${field} in\` never matches it (the words are pass, fail, softfail, neutral, none, temperror, permerror)`,
      ]);
      const wants = 'SPF results: pass, fail, softfail, neutral, none, temperror, permerror';
      assert.deepEqual(said(`${field} in { 192.0.2.1 }`), [`E015 "192.0.2.1" is an IP address, but \`${field} in\` compares ${wants}`]);
      assert.deepEqual(said(`${field} in { .fail }`), [`E015 ".fail" is a domain pattern, but \`${field} in\` compares ${wants} (list the results by name, e.g. \`{ fail, softfail }\`)`]);
    }
  });
});

describe('every field row has all its pieces (a FIELD word, its tests, their documentation)', () => {
  const read = (rel: string): string => readFileSync(join(projectRoot, rel), 'utf8');
  const rows: readonly FieldDefinition[] = FIELDS;
  const real: FieldsInput = { fields: rows, token: keywordToken, docs: { reference: read('grammar/REFERENCE.md'), man: read('man/filter-rules.rules.5') } };
  const row = (name: FieldName): FieldDefinition => FIELD_BY_NAME[name];

  test('nothing is missing', () => {
    assert.deepEqual(fieldProblems(real), []);
  });

  test('each check can fail: doctored rows and documents', () => {
    const helo = row('helo');
    const fit = helo.tests.in;
    assert.ok(fit !== undefined);
    const section6 = /\n## 6\. Conditions\n[\s\S]*?\n## /;
    const cases: readonly { readonly what: string; readonly input: Partial<FieldsInput>; readonly problems: readonly string[] }[] = [
      { what: 'a row twice', input: { fields: [...rows, row('src')] }, problems: ['field src has two rows'] },
      {
        what: 'a name the lexer does not reserve, and no documentation of it',
        input: { fields: [...rows, { ...row('fcrdns'), name: 'dnssec' }] },
        problems: [
          'field dnssec is not a reserved word',
          'field dnssec: `dnssec` is not documented in grammar/REFERENCE.md §6',
          'field dnssec: `dnssec` is not documented in the Conditions of man/filter-rules.rules.5 (as Ic dnssec)',
        ],
      },
      // `connect` is reserved, but as a phase: its token is no FIELD.
      { what: 'a reserved word that is no FIELD', input: { fields: [...rows, { ...row('src'), name: 'connect', tests: {} }] }, problems: ['field connect: its token is not in the FIELD category', 'field connect takes no test'] },
      {
        what: 'an `in` without items or a matcher, a yes/no test without a predicate',
        input: {
          fields: rows.map((f) =>
            f.name === 'helo'
              ? { ...helo, tests: { ...helo.tests, in: { ...fit, items: [], matcher: undefined as unknown as typeof fit.matcher } } }
              : f.name === 'fcrdns'
                ? { ...f, tests: { present: {} as { predicate: never } } }
                : f,
          ),
        },
        problems: ['field fcrdns: its yes/no test has no predicate', 'field helo: `in` takes no kind of list item', 'field helo: `in` has no matcher'],
      },
      {
        what: 'a test REFERENCE.md §6 does not show (only other sections do)',
        input: { docs: { ...real.docs, reference: real.docs.reference.replace(section6, (s) => s.replace('`helo in LIST`', '`helo` in a list')) } },
        problems: ['field helo: `helo in LIST` is not documented in grammar/REFERENCE.md §6'],
      },
      {
        what: 'a test the man page’s Conditions do not mark up',
        input: { docs: { ...real.docs, man: real.docs.man.replace('.It Ic fcrdns\n', '.It Sy fcrdns\n') } },
        problems: ['field fcrdns: `fcrdns` is not documented in the Conditions of man/filter-rules.rules.5 (as Ic fcrdns)'],
      },
      {
        what: 'documents without the sections',
        input: { fields: [], docs: { reference: real.docs.reference.replace('## 6. Conditions', '## 6. Tests'), man: real.docs.man.replace('.Ss Conditions', '.Ss Tests') } },
        problems: ['grammar/REFERENCE.md has no section "## 6. Conditions"', 'man/filter-rules.rules.5 has no subsection "Conditions"'],
      },
    ];
    for (const c of cases) assert.deepEqual(fieldProblems({ ...real, ...c.input }), c.problems, c.what);
  });
});
