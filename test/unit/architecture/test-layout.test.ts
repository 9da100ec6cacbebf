/**
 * test/unit mirrors src/ (issue 11 stage 13): the tests of src/X/ live in
 * test/unit/X/, so the tests of a module are found where its path says, and
 * a module that moves takes its tests along. Folder by folder: every folder
 * under test/unit has its folder under src/, but architecture/, whose tests
 * are about the tree itself.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { projectRoot } from '../dsl/helpers.js';

/** Folders of test/unit that test the tree, not a folder of src/. */
const ABOUT_THE_TREE = new Set(['architecture']);

/** Every folder under `dir`, as `/`-separated paths relative to it. */
function foldersUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = join(at, entry.name);
      out.push(relative(dir, path).split(sep).join('/'));
      walk(path);
    }
  };
  walk(dir);
  return out.sort();
}

describe('test layout', () => {
  const folders = foldersUnder(join(projectRoot, 'test', 'unit'));

  test('the scan sees the tree', () => {
    assert.ok(folders.includes('steps/pause') && folders.includes('support'), folders.join(' '));
  });

  test('every folder of test/unit has its folder under src/ (but the tests of the tree itself)', () => {
    const orphans = folders.filter((f) => !ABOUT_THE_TREE.has(f.split('/')[0] ?? '') && !existsSync(join(projectRoot, 'src', f)));
    assert.deepEqual(orphans, [], 'test/unit/X tests src/X: move the tests beside the code they test');
  });
});
