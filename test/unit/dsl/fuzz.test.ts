/**
 * Property tests: compiling never throws on user input, and every diagnostic
 * (and related span) points inside the file; compiled predicates never throw
 * on whatever facts smtpd might report.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileRulesSource, formatDiagnostic, type Diagnostic } from '../../../src/dsl/index.js';
import type { SourceSpan } from '../../../src/model/span.js';
import { facts, memoryFiles } from './helpers.js';

const FILE = 'fuzz.rules';
const readFile = memoryFiles({ 'list.txt': '10.0.0.0/8\n# comment\n::1\n' });

const SEEDS = [
  `# trusted clients skip everything below, for the whole session
list trusted = { 127.0.0.0/8, ::1, 192.0.2.0/24 }

chain antispam =
    accept when src in trusted
    then pause 3s
    then reject "550 5.7.1 bare IP address in HELO" when helo ~ /^\\[?[0-9.]+\\]?$/
    then disconnect "421 4.7.0 go away" when mail-from ~ /^bulk@/
    then junk when rdns ~ /(dsl|dynamic|pool)[.-]/
`,
  `list f = file "list.txt"
list senders = { "", postmaster@example.com, .example.org }
chain a = postgrey unix:/run/postgrey/postgrey.sock timeout 2s on-error proceed
  then greylist delay 5m max-age 35d header store "redis://127.0.0.1:6379/0" at data
  then junk when not (rdns or fcrdns) and mail-from in senders
chain b = policy tcp:[::1]:10023 at mail-from then accept when src in f`,
];

const TOKENS = [
  'chain', 'list', 'file', 'then', 'when', 'at', 'not', 'and', 'or', 'in', '~', '=', '{', '}', '(', ')', ',', '"', '/', '#',
  'pause', 'accept', 'reject', 'disconnect', 'junk', 'postgrey', 'policy', 'greylist', 'src', 'rdns', 'fcrdns', 'helo',
  'mail-from', 'rcpt-to', 'tls', 'tls-version', 'tls-cipher', 'authenticated', 'auth-user', 'listed', 'dns-error', 'score', '>=', '<', '2.5', '-1.5', 'data', 'commit', 'connect', '3s', '0s', '999999999999999d', '"550 x"', '/x/', '/(a)\\1/', '\n', '\r', ' ',
  'unix:/x', 'tcp:[::1]:1', '::1', '1.2.3.4/33', '*.x', 'header', 'timeout', 'on-error', 'proceed', '\\', '\u2028', '\uFEFF', '\0',
];

function lines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

function assertInside(span: SourceSpan, text: string, what: string): void {
  assert.equal(span.file, FILE, what);
  const ls = lines(text);
  assert.ok(Number.isInteger(span.line) && span.line >= 1 && span.line <= ls.length, `${what}: line ${span.line} of ${ls.length}`);
  const len = (ls[span.line - 1] ?? '').length;
  assert.ok(Number.isInteger(span.column) && span.column >= 1 && span.column <= len + 1, `${what}: column ${span.column} of ${len + 1}`);
  assert.ok(span.endLine > span.line || (span.endLine === span.line && span.endColumn >= span.column), `${what}: end before start`);
  assert.ok(span.endLine <= ls.length, `${what}: end line`);
}

function checkCompile(text: string): void {
  const r = compileRulesSource(text, FILE, { readFile });
  const diagnostics: readonly Diagnostic[] = r.ok ? r.warnings : r.diagnostics;
  if (!r.ok) assert.ok(diagnostics.some((d) => d.severity === 'error'), 'a failure has at least one error');
  for (const d of diagnostics) {
    if (d.span.file !== FILE) continue;
    assertInside(d.span, text, `${d.code} ${d.message}`);
    for (const rel of d.related ?? []) if (rel.span.file === FILE) assertInside(rel.span, text, `${d.code} related`);
    assert.equal(typeof formatDiagnostic(d, (f) => r.sources.get(f)), 'string');
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 4 })) }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), other: fc.nat() }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function apply(text: string, m: Mutation): string {
  if (text.length === 0) return m.kind === 'insert' ? m.text : text;
  const at = m.at % (text.length + 1);
  switch (m.kind) {
    case 'delete':
      return text.slice(0, at) + text.slice(at + m.len);
    case 'insert':
      return text.slice(0, at) + m.text + text.slice(at);
    case 'swap': {
      const b = m.other % text.length;
      const a = Math.min(at, text.length - 1);
      const chars = [...text];
      const tmp = chars[a] ?? '';
      chars[a] = chars[b] ?? '';
      chars[b] = tmp;
      return chars.join('');
    }
  }
}

describe('fuzz', () => {
  test('random text: compile never throws, spans stay inside the file', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).map((ts) => ts.join(' '))), (text) => {
        checkCompile(text);
      }),
      { numRuns: 400 },
    );
  });

  test('mutated valid rules: compile never throws, spans stay inside the file', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS), fc.array(mutation, { minLength: 1, maxLength: 6 }), (seed, ms) => {
        checkCompile(ms.reduce(apply, seed));
      }),
      { numRuns: 600 },
    );
  });

  const anyText = fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.constantFrom('127.0.0.1', '::1', '::ffff:10.0.0.1', '[192.0.2.1]', 'a@example.com', 'x.example.org.', '<unknown>'));
  const maybe = fc.option(anyText, { nil: null });

  test('compiled predicates never throw, whatever the facts', () => {
    const r = compileRulesSource(SEEDS[1] ?? '', FILE, { readFile });
    assert.ok(r.ok);
    const predicates = [...r.rules.chains.values()].flatMap((c) => c.steps.map((s) => s.when)).filter((p) => p !== null);
    const example = compileRulesSource(SEEDS[0] ?? '', FILE, { readFile });
    assert.ok(example.ok);
    predicates.push(...[...example.rules.chains.values()].flatMap((c) => c.steps.map((s) => s.when)).filter((p) => p !== null));
    const tlsAuth = compileRulesSource(
      'chain t = reject "550 x" when not tls or tls-version in { TLSv1.3 } or tls-cipher ~ /AES/\n  then accept when authenticated and not auth-user in { a, b@c.d }\n',
      FILE,
      { readFile },
    );
    assert.ok(tlsAuth.ok);
    predicates.push(...[...tlsAuth.rules.chains.values()].flatMap((c) => c.steps.map((s) => s.when)).filter((p) => p !== null));
    assert.ok(predicates.length >= 7);
    const tlsText = fc.oneof(maybe, fc.constantFrom('TLSv1.3:TLS_AES_256_GCM_SHA384:256', ':::', 'a:b:', 'TLSv1.2::128'));
    fc.assert(
      fc.property(anyText, maybe, maybe, maybe, maybe, maybe, fc.array(anyText, { maxLength: 3 }), tlsText, maybe, (src, rdns, fcrdns, helo, mailFrom, rcptTo, recipients, tls, authUser) => {
        const f = facts({ src, rdns, fcrdns, helo, mailFrom, rcptTo, recipients, tls, authUser });
        for (const p of predicates) assert.equal(typeof p(f), 'boolean');
      }),
      { numRuns: 500 },
    );
  });
});
