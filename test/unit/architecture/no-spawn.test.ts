/**
 * Unit tests start no processes: `npm run test:unit` stays fast and needs
 * neither root nor the tools a machine may lack (mandoc, mkfifo, the built CLI).
 * A test that spawns one belongs under test/integration. Checked on the
 * sources: no file under test/unit names child_process, nor does any test or
 * src file a unit test loads through relative imports (a helper that spawns is
 * a spawning test too). src/ itself is held to no child_process by
 * test/fuzz/security; it is followed here because a unit test loads it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { projectRoot } from '../dsl/helpers.js';
import { importsOf, readSource, resolveSource, tsFilesUnder, type ImportRef } from './imports.js';

const SPAWNING = new Set(['child_process', 'node:child_process']);
const rel = (path: string): string => relative(projectRoot, path);

/** `via` is the chain of files from a unit test to the one that imports child_process. */
interface Spawner {
  readonly file: string;
  readonly ref: ImportRef;
  readonly via: readonly string[];
}

/** Every child_process import reachable from `roots` through relative imports, depth first, each file once. */
function spawnersFrom(roots: readonly string[]): Spawner[] {
  const found: Spawner[] = [];
  const seen = new Set<string>();
  const visit = (file: string, via: readonly string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const ref of importsOf(readSource(file))) {
      if (SPAWNING.has(ref.specifier)) found.push({ file, ref, via });
      const next = resolveSource(file, ref.specifier);
      if (next !== null) visit(next, [...via, file]);
    }
  };
  for (const root of roots) visit(root, []);
  return found;
}

const describeSpawner = (s: Spawner): string =>
  `${rel(s.file)}:${s.ref.line} imports ${s.ref.specifier}${s.via.length > 0 ? ` (loaded by ${s.via.map(rel).join(' → ')})` : ''}`;

describe('no child processes in unit tests', () => {
  const unitFiles = tsFilesUnder(join(projectRoot, 'test', 'unit'));

  test('the scan finds the unit tests and their imports', () => {
    assert.ok(unitFiles.length > 50, `${unitFiles.length} files under test/unit`);
    const own = importsOf(readSource(join(projectRoot, 'test', 'unit', 'architecture', 'no-spawn.test.ts')));
    assert.deepEqual(
      own.map((r) => [r.specifier, r.typeOnly]),
      [
        ['node:test', false],
        ['node:assert/strict', false],
        ['node:path', false],
        ['../dsl/helpers.js', false],
        ['./imports.js', false],
      ],
    );
  });

  test('the scan would see a spawning test: the integration tests that moved out of unit/', () => {
    const moved = ['test/integration/cli/main.test.ts', 'test/integration/tools/record-replay.test.ts', 'test/integration/docs/man-pages.test.ts'];
    const spawners = spawnersFrom(moved.map((f) => join(projectRoot, f)));
    assert.deepEqual([...new Set(spawners.map((s) => rel(s.file)))], moved);
    // And through a helper: the postgrey test spawns in postgrey.ts, which it imports.
    const viaHelper = spawnersFrom([join(projectRoot, 'test', 'integration', 'policy', 'postgrey.test.ts')]);
    assert.ok(viaHelper.some((s) => rel(s.file) === 'test/integration/policy/postgrey.ts' && s.via.length === 1), viaHelper.map(describeSpawner).join('\n'));
  });

  test('no file under test/unit, nor any file it loads, imports child_process', () => {
    assert.deepEqual(spawnersFrom(unitFiles).map(describeSpawner), []);
  });
});

describe('importsOf', () => {
  test('every form that loads or names a module, with its line; comments are not imports', () => {
    // A file of its own: written here, the sample would be scanned as this test's imports.
    const text = readSource(join(projectRoot, 'test', 'fixtures', 'architecture', 'imports-sample.ts.txt'));
    assert.deepEqual(
      importsOf(text).map((r) => [r.line, r.specifier, r.typeOnly]),
      [
        [1, './a.js', false],
        [3, '../t.js', true],
        [4, './side-effect.js', false],
        [5, './c.js', false],
        [6, './u.js', true],
        [11, 'node:child_process', false],
        [12, 'child_process', false],
        [14, './augmented.js', true],
      ],
    );
  });
});
