/**
 * Seeds and mutations for fuzzing the rules compiler: every rules file the
 * project ships or tests with (rules/, examples/, bench/rules/,
 * test/fixtures/rules/), and edits that a careless or hostile admin (or a
 * half-written file caught by the reloader) could produce.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** Every `.rules` file under `dir` (absolute paths), depth first, in name order. */
export function rulesFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...rulesFilesUnder(p));
    else if (name.endsWith('.rules')) out.push(p);
  }
  return out;
}

export interface Seed {
  /** Path relative to the repository, for messages. */
  readonly name: string;
  readonly text: string;
}

let cached: readonly Seed[] | null = null;

export function seeds(): readonly Seed[] {
  if (cached !== null) return cached;
  const files = ['rules', 'examples', join('bench', 'rules'), join('test', 'fixtures', 'rules')].flatMap((d) => rulesFilesUnder(join(ROOT, d)));
  cached = files.map((f) => ({ name: relative(ROOT, f), text: readFileSync(f, 'utf8') }));
  if (cached.length < 10) throw new Error(`expected the shipped rules files, found ${cached.length}`);
  return cached;
}

/** Where a mutated file claims to live: list paths in it resolve against this. */
export const FUZZ_RULES_FILE = '/etc/mail/fuzz/antispam.rules';

/** List files a mutated file may name; anything else does not exist. Hostile contents on purpose. */
export const FUZZ_LIST_FILES: Readonly<Record<string, string>> = {
  '/etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n\0\xff\r\n::1\n10.0.0.0/8 # ok\n',
  [join(dirname(FUZZ_RULES_FILE), 'lists/blocked.txt')]: 'bulk@spam.example\n"" \n.example.org\n\u2028\n1.2.3.4/99\n',
  [join(dirname(FUZZ_RULES_FILE), 'relative.db')]: '',
};

/** The compiler's readFile over FUZZ_LIST_FILES (the same for the fuzz test and the frozen mutation corpus). */
export function fuzzReadFile(path: string): string {
  const text = FUZZ_LIST_FILES[resolve(path)];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
  return text;
}

/** Pieces of the language and of hostile text, for insertions. */
export const TOKENS: readonly string[] = [
  'chain', 'list', 'file', 'then', 'when', 'at', 'not', 'and', 'or', 'in', '~', '=', '{', '}', '(', ')', ',', '"', '/', '#',
  'pause', 'accept', 'reject', 'disconnect', 'junk', 'postgrey', 'policy', 'greylist', 'src', 'rdns', 'fcrdns', 'helo',
  'mail-from', 'rcpt-to', 'tls', 'tls-version', 'tls-cipher', 'authenticated', 'auth-user', 'data', 'commit', 'connect', 'on-error', 'proceed', 'tempfail', 'timeout', 'delay', 'store', 'header', 'listed', 'dns-error', 'score', '>=', '<', '>', '<=',
  '3s', '0s', '301s', '1ms', '999999999999999999999d', '-1s', '1.5s', 'NaNs', '2.5', '-1.5', '+3', '1e3',
  '"550 x"', '"250 ok"', '"550\\r\\nQUIT"', '"550 a|b"', '"421 bye"', '"550-x"', '"5500 x"', '"\\0"', '"\\q"',
  '/x/', '/(a)\\1/', '/(?=x)/', '/[/', '/a{99999}/', '/(a+)+$/', '/\\p{L}/', '/x/gim', '//',
  'unix:/x', 'unix:', 'tcp:[::1]:1', 'tcp:host:99999', '::1', '1.2.3.4/33', '10.0.0.256', '*.x', '.x', '""',
  'file "/etc/passwd"', 'file "/nonexistent/x"', 'file "$(id)"', 'file "../../x"', 'file ""',
  '"sqlite:/tmp/x.db"', '"sqlite:relative.db"', '"redis://[::1]:0/99"', '"redis://u:p@h/0?prefix=x"',
  '\n', '\r', '\r\n', ' ', '\t', '\\', '\u2028', '\u00a0', '\uFEFF', '\0', '\u{1F4E7}', '\ud800',
  '('.repeat(200), ')'.repeat(200), 'not '.repeat(300), 'a'.repeat(5000), '"'.repeat(7), '{'.repeat(50),
];

export type RulesMutation =
  | { readonly kind: 'delete'; readonly at: number; readonly len: number }
  | { readonly kind: 'insert'; readonly at: number; readonly text: string }
  | { readonly kind: 'swap-lines'; readonly a: number; readonly b: number }
  | { readonly kind: 'duplicate-line'; readonly at: number }
  | { readonly kind: 'truncate'; readonly at: number };

export const rulesMutation: fc.Arbitrary<RulesMutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 6, unit: 'binary' })) }),
  fc.record({ kind: fc.constant('swap-lines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate-line' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

export function applyMutation(text: string, m: RulesMutation): string {
  switch (m.kind) {
    case 'delete': {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + text.slice(at + m.len);
    }
    case 'insert': {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.text + text.slice(at);
    }
    case 'truncate':
      // A file caught half-written by the reloader.
      return text.slice(0, m.at % (text.length + 1));
    case 'swap-lines':
    case 'duplicate-line': {
      const lines = text.split('\n');
      if (m.kind === 'duplicate-line') {
        const i = m.at % lines.length;
        lines.splice(i, 0, lines[i] ?? '');
      } else {
        const a = m.a % lines.length;
        const b = m.b % lines.length;
        const t = lines[a] ?? '';
        lines[a] = lines[b] ?? '';
        lines[b] = t;
      }
      return lines.join('\n');
    }
  }
}

/** A shipped file, edited by a few mutations. */
export const mutatedRules = fc
  .tuple(fc.nat(), fc.array(rulesMutation, { minLength: 0, maxLength: 6 }))
  .map(([i, ms]) => {
    const all = seeds();
    const seed = all[i % all.length] as Seed;
    return { seed: seed.name, text: ms.reduce(applyMutation, seed.text) };
  });
