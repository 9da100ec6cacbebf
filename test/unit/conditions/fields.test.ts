/**
 * The field rows (src/conditions/fields.ts) say what the checker's switches on
 * field names said before them (issue 11 stage 5): which tests each field
 * takes, which list items fit it, and from which phase it is known. The
 * expectations are written out here, one per field, test and item kind, so a
 * row that loses or gains one fails by name; the messages are the goldens'.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FIELD_BY_NAME, FIELDS, type FieldName } from '../../../src/conditions/fields.js';
import { compile, compileOk, onlyChain } from '../dsl/helpers.js';

const NAMES: readonly FieldName[] = ['src', 'rdns', 'fcrdns', 'helo', 'mail-from', 'rcpt-to', 'tls', 'tls-version', 'tls-cipher', 'authenticated', 'auth-user'];

/** Diagnostics of `chain c = accept when CONDITION` as `CODE message (hint)`; [] when it compiles clean. */
function said(condition: string): string[] {
  const r = compile(`chain c = accept when ${condition}`);
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
    };
    const tests: Record<FieldName, string> = {
      ...{ src: 'src ~ /x/', rdns: 'rdns', fcrdns: 'fcrdns', helo: 'helo ~ /x/', 'mail-from': 'mail-from ~ /x/', 'rcpt-to': 'rcpt-to ~ /x/' },
      ...{ tls: 'tls', 'tls-version': 'tls-version ~ /x/', 'tls-cipher': 'tls-cipher ~ /x/', authenticated: 'authenticated', 'auth-user': 'auth-user ~ /x/' },
    };
    for (const name of NAMES) {
      assert.equal(FIELD_BY_NAME[name].knownFrom, knownFrom[name], name);
      const [step] = onlyChain(compileOk(`chain c = accept when ${tests[name]}`)).steps;
      assert.equal(step?.phase, knownFrom[name], name);
      assert.deepEqual(step?.whenFields, [name]);
    }
  });

  test('the tests each field takes; any other is E045 with the field’s message', () => {
    const needs = (f: string) => `E045 \`${f}\` needs \`~ /REGEX/\` or \`in LIST\` (e.g. \`${f} in trusted\`)`;
    const yesNo = 'E045 `fcrdns` is a yes/no test and takes no `~` or `in` (write `fcrdns` or `not fcrdns`; to match the name, use `rdns`)';
    const tlsYesNo = 'E045 `tls` is a yes/no test and takes no `~` or `in` (write `tls` or `not tls`; to match the version or the cipher, use `tls-version` or `tls-cipher`)';
    const authYesNo = 'E045 `authenticated` is a yes/no test and takes no `~` or `in` (write `authenticated` or `not authenticated`; to match the user name, use `auth-user`)';
    const needsHint = (f: string, hint: string) => `E045 \`${f}\` needs \`~ /REGEX/\` or \`in LIST\` (${hint})`;
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
    };
    // The one item every `in` takes that fits each field.
    const item: Record<FieldName, string> = {
      ...{ src: '192.0.2.1', rdns: 'example.com', fcrdns: 'example.com', helo: 'example.com', 'mail-from': 'example.com', 'rcpt-to': 'example.com' },
      ...{ tls: 'example.com', 'tls-version': 'TLSv1.3', 'tls-cipher': 'TLS_AES_256_GCM_SHA384', authenticated: 'example.com', 'auth-user': 'alice' },
    };
    for (const name of NAMES) {
      assert.deepEqual(said(name), expected[name].bare, `${name} bare`);
      assert.deepEqual(said(`${name} ~ /x/`), expected[name].match, `${name} ~`);
      assert.deepEqual(said(`${name} in { ${item[name]} }`), expected[name].in, `${name} in`);
    }
  });

  test('which list items fit which field (E015), with the hints that point elsewhere', () => {
    const items = { ip: '192.0.2.1', range: '198.51.100.0/24', domain: 'example.com', pattern: '.example.com', address: 'a@example.com', 'null-sender': '""' } as const;
    type Item = keyof typeof items;
    const what: Record<Item, string> = { ip: 'an IP address', range: 'an address range', domain: 'a domain', pattern: 'a domain pattern', address: 'a mail address', 'null-sender': 'the null sender' };
    const wholeNames = 'list the names in full, or use `~ /REGEX/` for a pattern';
    const fits: Record<Exclude<FieldName, 'fcrdns' | 'tls' | 'authenticated'>, { readonly wants: string; readonly fit: readonly Item[]; readonly hints?: Partial<Record<Item, string>> }> = {
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
    };
    for (const [field, f] of Object.entries(fits)) {
      for (const [kind, text] of Object.entries(items) as [Item, string][]) {
        const hint = f.hints?.[kind];
        const expected = f.fit.includes(kind) ? [] : [`E015 ${text === '""' ? '""' : `"${text}"`} is ${what[kind]}, but \`${field} in\` compares ${f.wants}${hint === undefined ? '' : ` (${hint})`}`];
        assert.deepEqual(said(`${field} in { ${text} }`), expected, `${field} in { ${text} }`);
      }
    }
  });
});
