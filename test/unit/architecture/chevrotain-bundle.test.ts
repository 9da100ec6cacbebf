/**
 * chevrotain's values come from src/dsl/chevrotain.ts only, which loads the
 * package's single-file bundle: a value import from the package entry pulls in
 * lodash-es as ~640 modules, about 20 MB more resident memory in every filter
 * process (seen when to-ast took `tokenMatcher` from 'chevrotain'). Type imports
 * load nothing and may name the package.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { importsOf, readSource, tsFilesUnder } from './imports.js';

const ROOT = new URL('../../../../', import.meta.url).pathname;
const WRAPPER = 'src/dsl/chevrotain.ts';

/** `file:line` of each import that loads chevrotain's package entry, outside the wrapper. */
export function entryImports(sources: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [file, text] of sources) {
    if (file === WRAPPER) continue;
    for (const ref of importsOf(text)) if (ref.specifier === 'chevrotain' && !ref.typeOnly) found.push(`${file}:${ref.line}`);
  }
  return found;
}

describe('chevrotain is loaded from its bundle', () => {
  test('no module of src/ but the wrapper takes a value from the package entry', () => {
    const sources = new Map(tsFilesUnder(join(ROOT, 'src')).map((f) => [relative(ROOT, f), readSource(f)]));
    assert.ok(sources.has(WRAPPER));
    assert.deepEqual(entryImports(sources), []);
  });

  test('the check sees a value import, and lets type imports and the wrapper pass', () => {
    const sources = new Map([
      ['src/dsl/a.ts', "import { tokenMatcher, type IToken } from 'chevrotain';\n"],
      ['src/dsl/b.ts', "import type { IToken } from 'chevrotain';\n"],
      [WRAPPER, "import type * as Chevrotain from 'chevrotain';\nconst c = await import('chevrotain');\n"],
    ]);
    assert.deepEqual(entryImports(sources), ['src/dsl/a.ts:1']);
  });
});
