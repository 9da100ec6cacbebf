/**
 * Golden tests for the messages people read: each fixture under
 * test/fixtures/rules/{bad,warn}/ is compiled and its formatted diagnostics are
 * compared with the `.expected` file next to it. After an intended change:
 *   UPDATE_GOLDEN=1 npm run test:unit
 * and review the diff of the .expected files.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { compileRulesFile, formatCompileResult } from '../../../src/dsl/index.js';
import { projectRoot } from './helpers.js';

const update = process.env['UPDATE_GOLDEN'] === '1';
const readFromRoot = (p: string): string => readFileSync(isAbsolute(p) ? p : join(projectRoot, p), 'utf8');

for (const [dir, shouldCompile] of [
  ['bad', false],
  ['warn', true],
] as const) {
  const rel = `test/fixtures/rules/${dir}`;
  const files = readdirSync(join(projectRoot, rel))
    .filter((f) => f.endsWith('.rules'))
    .sort();
  describe(`golden diagnostics: ${rel}`, () => {
    test('there are fixtures', () => assert.ok(files.length > 0));
    for (const f of files) {
      test(f, () => {
        const result = compileRulesFile(`${rel}/${f}`, { readFile: readFromRoot });
        assert.equal(result.ok, shouldCompile, shouldCompile ? 'expected the fixture to compile (with warnings)' : 'expected the fixture to fail');
        const actual = `${formatCompileResult(result)}\n`;
        const expectedPath = join(projectRoot, rel, f.replace(/\.rules$/, '.expected'));
        if (update) {
          writeFileSync(expectedPath, actual);
          return;
        }
        assert.ok(existsSync(expectedPath), `missing ${expectedPath}; run with UPDATE_GOLDEN=1 to create it`);
        assert.equal(actual, readFileSync(expectedPath, 'utf8'), `diagnostics changed for ${f}; if intended, rerun with UPDATE_GOLDEN=1`);
      });
    }
  });
}
