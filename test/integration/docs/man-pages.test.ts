/**
 * man/filter-rules.8 and man/filter-rules.rules.5 stay true to the code:
 * mandoc finds nothing to warn about, every command-line flag the argument
 * parsers accept, every command, metric, keyword and diagnostic code is
 * documented, the rules examples compile, and package.json installs both.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileRulesSource } from '../../../src/dsl/index.js';
import { CODES } from '../../../src/dsl/codes.js';
import { KEYWORDS } from '../../../src/dsl/tokens.js';
import { FilterMetrics, METRIC_PREFIX } from '../../../src/metrics/filter-metrics.js';
import { manExamples } from '../../unit/dsl/doc-examples.js';
import { mentionsWord } from '../../unit/dsl/helpers.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const read = (rel: string): string => readFileSync(join(root, rel), 'utf8');
const PAGE8 = 'man/filter-rules.8';
const PAGE5 = 'man/filter-rules.rules.5';

const mandoc = spawnSync('mandoc', ['-V'], { encoding: 'utf8' });
const haveMandoc = mandoc.error === undefined;

/** The long options the argument parsers declare (`name: { type: ... }` in their parseArgs calls). */
function declaredFlags(): Map<string, string> {
  const flags = new Map<string, string>();
  for (const file of ['src/cli/args.ts', 'src/tools/args.ts', 'src/tools/greylist/args.ts']) {
    for (const m of read(file).matchAll(/^\s+'?([a-z][a-z-]*)'?: \{ type: '(?:string|boolean)'/gm)) flags.set(m[1] ?? '', file);
  }
  return flags;
}

/** The page as text (mandoc's rendering without overstrikes), or null without mandoc. */
function rendered(page: string): string | null {
  if (!haveMandoc) return null;
  const r = spawnSync('mandoc', ['-T', 'ascii', join(root, page)], { encoding: 'utf8' });
  return r.stdout.replace(/.\x08/g, '');
}

describe('man pages', () => {
  test('mandoc -Tlint: no warnings or errors', { skip: haveMandoc ? false : 'mandoc is not installed (scripts/install-deps.sh)' }, () => {
    const r = spawnSync('mandoc', ['-T', 'lint', '-W', 'warning', join(root, PAGE8), join(root, PAGE5)], { encoding: 'utf8' });
    assert.equal(`${r.stdout}${r.stderr}`, '');
    assert.equal(r.status, 0);
  });

  test('every flag of the argument parsers is in filter-rules(8)', () => {
    const page = read(PAGE8);
    const flags = declaredFlags();
    // Sanity: the scan found the parsers' options.
    for (const f of ['chain', 'log-level', 'metrics', 'record', 'store', 'limit', 'json', 'offline', 'rcpt-to', 'expect']) assert.ok(flags.has(f), f);
    for (const [flag, file] of flags) {
      // `Fl -chain`, or with its short form `Fl V , -version`.
      assert.match(page, new RegExp(`Fl (?:[a-zA-Z] , )?-${flag}(?![a-z-])`), `--${flag} (${file}) is not documented in ${PAGE8}`);
    }
    assert.match(page, /Fl h , -help/);
    assert.match(page, /Fl V , -version/);
  });

  test('every command is in filter-rules(8)', () => {
    const page = read(PAGE8);
    const documented = (c: string): boolean => new RegExp(`^\\.(?:It )?Cm [^\\n]*\\b${c}\\b`, 'm').test(page);
    for (const c of ['check', 'test', 'replay', 'greylist', 'list', 'delete', 'stats']) assert.ok(documented(c), c);
    const usage = read('src/cli/args.ts');
    for (const m of usage.matchAll(/^ {2}filter-rules ([a-z]+) /gm)) assert.ok(documented(m[1] ?? ''), `usage command ${m[1]}`);
  });

  test('every metric is in filter-rules(8)', async () => {
    const page = read(PAGE8);
    const m = new FilterMetrics({ chain: 'c', version: 'x', defaultMetrics: false });
    const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name).filter((n) => n.startsWith(METRIC_PREFIX));
    assert.ok(names.length >= 14, names.join(' '));
    for (const name of names) assert.ok(page.includes(`Sy ${name}`), `${name} is not documented in ${PAGE8}`);
  });

  test('every keyword and every diagnostic code is in filter-rules.rules(5)', () => {
    const page = read(PAGE5);
    const text = rendered(PAGE5) ?? page;
    for (const kw of KEYWORDS) assert.ok(mentionsWord(text, kw), `keyword ${kw}`);
    for (const kw of KEYWORDS) assert.match(page, new RegExp(`Ic [^\\n]*\\b${kw}\\b`), `keyword ${kw} is not marked up with Ic`);
    for (const code of Object.keys(CODES)) assert.match(page, new RegExp(`^\\.It ${code}$`, 'm'), `${code} is not listed in DIAGNOSTICS`);
  });

  test('the rules examples in filter-rules.rules(5) compile without warnings', () => {
    const page = read(PAGE5);
    const blocks = manExamples(page);
    assert.ok(blocks.length >= 4, `found ${blocks.length} example blocks`);
    for (const block of blocks) {
      const r = compileRulesSource(block, 'example.rules', { readFile: () => '' });
      const problems = r.ok ? r.warnings : r.diagnostics;
      assert.deepEqual(problems.map((d) => `${d.code} ${d.message}`), [], block);
    }
  });

  test('package.json installs both pages', () => {
    const pkg = JSON.parse(read('package.json')) as { man?: unknown; files?: unknown };
    assert.deepEqual(pkg.man, [PAGE8, PAGE5]);
    assert.ok(Array.isArray(pkg.files) && pkg.files.includes('man'));
  });
});
