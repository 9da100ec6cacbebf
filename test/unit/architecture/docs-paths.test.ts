/**
 * CONTRIBUTING.md and ARCHITECTURE.md name files, folders and code: every
 * path they name exists, and every identifier they put beside a file is in
 * that file (docs-paths.ts says how a document is read). When a change moves
 * files, or a stage renames what the docs point at, this fails until the
 * docs follow. ARCHITECTURE.md stays short and names every folder of src/;
 * the README's Development section points to both.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../dsl/helpers.js';
import { docProblems, type ProjectTree } from './docs-paths.js';

/** Not part of the project's own tree: dependencies, the build, git's files. */
const SKIPPED = new Set(['node_modules', 'dist', '.git']);

function projectTree(root: string): ProjectTree {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (SKIPPED.has(entry.name) || entry.name.startsWith('.')) continue;
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(path);
    }
  };
  walk('');
  const texts = new Map<string, string | null>();
  const read = (file: string): string | null => {
    if (!texts.has(file)) {
      try {
        texts.set(file, readFileSync(join(root, file), 'utf8'));
      } catch {
        texts.set(file, null);
      }
    }
    return texts.get(file) ?? null;
  };
  return { files: files.sort(), read };
}

/** An in-memory tree: `path: text`. */
function memoryTree(files: Record<string, string>): ProjectTree {
  return { files: Object.keys(files).sort(), read: (f) => files[f] ?? null };
}

const read = (file: string): string => readFileSync(join(projectRoot, file), 'utf8');
const DOCS = ['CONTRIBUTING.md', 'ARCHITECTURE.md'] as const;

describe('what CONTRIBUTING.md and ARCHITECTURE.md name exists', () => {
  const tree = projectTree(projectRoot);

  test('the scan sees the tree', () => {
    for (const f of ['src/cli/main.ts', 'test/unit/architecture/docs-paths.test.ts', 'grammar/REFERENCE.md', 'man/filter-rules.rules.5']) {
      assert.ok(tree.files.includes(f), f);
    }
    assert.ok(!tree.files.some((f) => f.startsWith('node_modules/') || f.startsWith('dist/')));
  });

  for (const doc of DOCS) {
    test(`${doc}: every path, identifier and link`, () => {
      assert.deepEqual(docProblems(doc, read(doc), tree), []);
    });
  }

  test('ARCHITECTURE.md is short and names every folder of src/, each once in its line of layers', () => {
    const text = read('ARCHITECTURE.md');
    assert.ok(text.split('\n').length <= 81, `${text.split('\n').length - 1} lines: keep it to 80`);
    const folders = [...new Set(tree.files.filter((f) => f.startsWith('src/') && f.indexOf('/', 4) > 0).map((f) => f.split('/')[1] ?? ''))];
    for (const folder of folders) assert.ok(text.includes(`src/${folder}/`), `src/${folder}/ is not in ARCHITECTURE.md`);
    const layers = /^cli → .*$/m.exec(text)?.[0] ?? '';
    const named = layers.split(/ → |, /);
    assert.deepEqual([...named].sort(), [...folders].sort(), `the layers line: ${layers}`);
  });

  test("the README's Development section points to both", () => {
    const readme = read('README.md');
    const development = readme.slice(readme.indexOf('\n## Development'));
    for (const doc of DOCS) assert.ok(development.includes(`](${doc})`), `no link to ${doc} under Development`);
  });
});

describe('the docs check itself', () => {
  const tree = memoryTree({
    'README.md': '',
    'src/protocol/line-reader.ts': 'export class LineReader {\n  push(chunk: Buffer): void {}\n}\n',
    'src/steps/catalogue.ts': 'export const STEPS = [];\nexport const KINDS = {};\n',
    'src/steps/junk.ts': '',
    'src/steps/pause/define.ts': 'export const pauseStep = {};\n',
    'src/steps/policy/define.ts': '',
    'test/unit/steps/catalogue.test.ts': '',
    'test/fixtures/plans/keywords.json': '[]',
    'test/fixtures/rules/bad/x.expected': '',
  });
  const problems = (doc: string): string[] => docProblems('DOC.md', doc, tree);

  test('paths: anywhere from a top-level folder, in code spans, with placeholders and globs, dist/ as its source', () => {
    assert.deepEqual(
      problems(
        [
          'The reader, src/protocol/line-reader.ts, and `src/steps/<kind>/define.ts`, `test/fixtures/rules/**/*.expected`.',
          '',
          '```sh',
          'node scripts/run-tests.mjs dist/test/unit/steps/catalogue.test.js',
          '```',
          '',
          '- `steps/` and `*/define.ts` under src/; `catalogue.ts` beside `src/steps/`; `keywords.json` anywhere; `README.md`.',
        ].join('\n'),
      ),
      ['DOC.md:4: `scripts/run-tests.mjs` names no file or folder of the project'],
    );
    assert.deepEqual(problems('See src/protocol/reader.ts, `src/steps/<kind>/run.ts` and `dist/test/unit/x.test.js`.'), [
      'DOC.md:1: `src/protocol/reader.ts` names no file or folder of the project',
      'DOC.md:1: `src/steps/<kind>/run.ts` names no file or folder of the project',
      'DOC.md:1: `dist/test/unit/x.test.js` names no file or folder of the project',
    ]);
  });

  test('identifiers: in one of the files of their block; unchecked where the block names none; prose words and codes are no identifiers', () => {
    assert.deepEqual(problems('| lines | `LineReader.push` | `src/protocol/line-reader.ts` |'), []);
    assert.deepEqual(problems('| lines | `LineSplitter`, `LineReader.pull` | `src/protocol/line-reader.ts` |\n| steps | `STEPS`, `pauseStep` | `src/steps/catalogue.ts`, `src/steps/<kind>/define.ts` |'), [
      'DOC.md:1: `LineSplitter` is in none of src/protocol/line-reader.ts',
      'DOC.md:1: `LineReader.pull` is in none of src/protocol/line-reader.ts',
    ]);
    // A block of its own: the identifier is not looked for in the row above.
    assert.deepEqual(problems('| a | `LineReader` | `src/protocol/line-reader.ts` |\n| b | `KINDS` | |'), []);
    assert.deepEqual(problems('Write `pause`, `retain`, `E041` and `mail-from` in `src/steps/catalogue.ts`.'), []);
  });

  test('links: a relative target must exist', () => {
    assert.deepEqual(problems('[the README](README.md), [site](https://example.org/), [gone](GONE.md#part)'), ['DOC.md:1: the link to GONE.md names no file']);
  });

  test('a moved file and a renamed identifier show on the real documents', () => {
    const real = projectTree(projectRoot);
    const cases = [
      { doc: 'ARCHITECTURE.md', file: 'src/protocol/line-reader.ts', name: 'LineReader' },
      { doc: 'CONTRIBUTING.md', file: 'src/steps/catalogue.ts', name: 'KINDS' },
    ] as const;
    for (const { doc, file, name } of cases) {
      const text = read(doc);
      const moved: ProjectTree = { files: real.files.filter((f) => f !== file), read: real.read };
      assert.ok(docProblems(doc, text, moved).some((p) => p.includes(`\`${file}\` names no file`)), `${doc}: ${file} moved`);
      const renamed: ProjectTree = { files: real.files, read: (f) => (f === file ? (real.read(f) ?? '').replaceAll(name, `${name}Renamed`) : real.read(f)) };
      assert.ok(docProblems(doc, text, renamed).some((p) => p.includes(`\`${name}\` is in none of`)), `${doc}: ${name} renamed`);
    }
  });
});
