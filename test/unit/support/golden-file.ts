/**
 * A golden file: `actual` must equal the file's text, or with UPDATE_GOLDEN=1 it
 * replaces it. A change of output must be deliberate: regenerate and review the diff.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const PROJECT_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export function assertGolden(file: URL, actual: string): void {
  const shown = fileURLToPath(file).slice(PROJECT_ROOT.length);
  if (UPDATE) {
    writeFileSync(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(file, 'utf8');
  } catch {
    assert.fail(`${shown} is missing: run with UPDATE_GOLDEN=1`);
  }
  assert.equal(actual, expected, `${shown} differs (UPDATE_GOLDEN=1 regenerates it; review the diff)`);
}
