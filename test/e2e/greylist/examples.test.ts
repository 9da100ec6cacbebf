/**
 * examples/ and the README's Greylisting section cannot rot: every example
 * directory has its smtpd.conf, rules and README; the smtpd.conf fragment is
 * accepted by the real `smtpd -n` (with a minimal action/match appended: a
 * fragment has none; the certificates and table files it names made up, since
 * `smtpd -n` loads them); every `proc-exec` names a rules file of that directory and,
 * with `--chain`, a chain of it; every rules file and every complete rules block in
 * the READMEs compiles without a warning.
 *
 * (test/unit/dsl/shipped-rules.test.ts compiles the files too, but lets examples
 * warn and knows nothing of smtpd.conf or the READMEs.)
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { compileRulesFile, compileRulesSource, formatCompileResult, type CompileResult } from '../../../src/dsl/index.js';
import { markdownRulesBlocks as rulesBlocks, markdownSection } from '../../unit/dsl/doc-examples.js';
import { PROJECT_ROOT } from '../harness/env.js';
import { makePki } from '../harness/tls.js';

const EXAMPLES = join(PROJECT_ROOT, 'examples');
const dirs = existsSync(EXAMPLES) ? readdirSync(EXAMPLES, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort() : [];
const smtpdMissing = spawnSync('sh', ['-c', 'command -v smtpd'], { stdio: 'ignore' }).status !== 0;

function assertClean(r: CompileResult, what: string): void {
  assert.ok(r.ok, `${what} does not compile:\n${formatCompileResult(r)}`);
  assert.deepEqual(r.warnings, [], `${what} warns:\n${formatCompileResult(r)}`);
}

/**
 * The fragment with stand-ins in `tmp` for the files it names, which `smtpd -n`
 * reads: each `pki NAME` gets a self-signed certificate and key of that name, each
 * `table NAME file:PATH` an empty file. Everything else is checked as written.
 */
function withStandIns(fragment: string, tmp: string): string {
  const pki = /^pki\s+(\S+)\s+(?:cert|key)\s+"[^"]*"[ \t]*$/gm;
  const names = [...new Set([...fragment.matchAll(pki)].map((m) => m[1] ?? ''))];
  const made = names.flatMap((name, i) => {
    const dir = join(tmp, `pki-${i}`);
    mkdirSync(dir);
    return makePki(dir, name);
  });
  let tables = 0;
  const rest = fragment.replace(pki, '').replace(/^(table\s+\S+\s+file:)(\S+)/gm, (_m, head: string) => {
    const file = join(tmp, `table-${tables++}`);
    writeFileSync(file, '', { mode: 0o600 });
    return `${head}${file}`;
  });
  return [...made, rest].join('\n');
}

/** The argv of every `proc-exec "…"` in an smtpd.conf text. */
function procExecs(conf: string): string[][] {
  return [...conf.matchAll(/^filter\s+"[^"]+"\s+proc-exec\s+"([^"]+)"/gm)].map((m) => (m[1] ?? '').split(/\s+/));
}

describe('examples/', () => {
  test('the four set-ups are there', () => {
    for (const name of ['pause-postgrey', 'builtin-greylist-sqlite', 'multi-mx-redis', 'submission']) assert.ok(dirs.includes(name), name);
  });

  for (const name of dirs) {
    describe(name, () => {
      const dir = join(EXAMPLES, name);
      const rulesFiles = readdirSync(dir).filter((f) => f.endsWith('.rules')).sort();

      test('has README.md, smtpd.conf and rules', () => {
        assert.ok(existsSync(join(dir, 'README.md')));
        assert.ok(existsSync(join(dir, 'smtpd.conf')));
        assert.ok(rulesFiles.length > 0);
      });

      test('every rules file compiles without warnings', () => {
        for (const f of rulesFiles) assertClean(compileRulesFile(join(dir, f)), `${name}/${f}`);
      });

      test('every proc-exec runs one of these rules files, with a chain it has', () => {
        const execs = procExecs(readFileSync(join(dir, 'smtpd.conf'), 'utf8'));
        assert.ok(execs.length > 0, 'no proc-exec filter');
        for (const argv of execs) {
          assert.ok(argv[0]?.startsWith('/'), `not an absolute command: ${argv.join(' ')}`);
          const rulesPath = argv[argv.length - 1] ?? '';
          assert.ok(rulesPath.startsWith('/'), `rules path not absolute: ${argv.join(' ')}`);
          const file = basename(rulesPath);
          assert.ok(rulesFiles.includes(file), `${file} is not in examples/${name}`);
          const r = compileRulesFile(join(dir, file));
          assert.ok(r.ok, formatCompileResult(r));
          const i = argv.indexOf('--chain');
          if (i < 0) assert.equal(r.rules.chains.size, 1, `${file} has several chains: pick one with --chain`);
          else assert.ok(r.rules.chains.has(argv[i + 1] ?? ''), `no chain ${argv[i + 1]} in ${file}`);
        }
      });

      test('smtpd -n accepts smtpd.conf', { skip: smtpdMissing ? 'smtpd not installed' : false }, () => {
        const tmp = mkdtempSync(join(tmpdir(), 'filter-rules-example-conf-'));
        try {
          const conf = join(tmp, 'smtpd.conf');
          const fragment = readFileSync(join(dir, 'smtpd.conf'), 'utf8');
          writeFileSync(conf, `${withStandIns(fragment, tmp)}\naction "local" mbox\nmatch from any for any action "local"\n`);
          const r = spawnSync('smtpd', ['-n', '-f', conf], { encoding: 'utf8' });
          assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
        } finally {
          rmSync(tmp, { recursive: true, force: true });
        }
      });

      test('rules shown in its README compile without warnings', () => {
        const blocks = rulesBlocks(readFileSync(join(dir, 'README.md'), 'utf8'));
        // As if the block were a rules file beside the README: the files it names are the example's own
        // (dkim-sign's keys); lists it names read as empty.
        const readFile = (path: string, role: string): string => (role === 'key' ? readFileSync(path, 'utf8') : '');
        for (const text of blocks) assertClean(compileRulesSource(text, join(dir, 'README.md'), { readFile }), text);
      });
    });
  }
});

describe('README.md, section Greylisting', () => {
  test('every rules block compiles without warnings', () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    const section = markdownSection(readme, 'Greylisting');
    assert.ok(section !== null, 'no Greylisting section');
    const blocks = rulesBlocks(section);
    assert.ok(blocks.length >= 3, `only ${blocks.length} rules blocks`);
    for (const text of blocks) assertClean(compileRulesSource(text, 'README.md', { readFile: () => '' }), text);
  });

  test('links to every example directory it names', () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    for (const m of readme.matchAll(/\]\((examples\/[^)#]*)\)/g)) {
      assert.ok(existsSync(join(PROJECT_ROOT, m[1] ?? '')), `README links to missing ${m[1]}`);
    }
  });
});
