/**
 * The direction of dependencies in src/ (issue 11, plan §1):
 *
 *   cli → {runtime, tools, reload, metrics} → {dsl, steps} → {conditions, protocol, policy, store, greylist} → model → support
 *
 * Every `import … from`, `export … from`, `import type`, dynamic import() and
 * module augmentation of every src/**\/*.ts is an edge (type edges are
 * coupling too), checked against TABLE. An import of a shim (a moved module's
 * old path, re-exports only, until stage 13) counts as an import of what it
 * re-exports. Edges that break the table today are in ALLOWLIST, each with
 * the stage that removes it; an entry that no longer matches an edge fails
 * too, so the list only shrinks, to nothing at stage 13.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { projectRoot } from '../dsl/helpers.js';
import { chainOf, graphOf, loadedFrom, readSources, type SourceGraph } from './graph.js';
import { checkAllowlist, layerOf, violations, type AllowedEdge, type LayerTable, type Transitional } from './layers.js';

/**
 * Plan §1: what each layer may import besides itself. Packages (node:*, npm)
 * are not layers; which of them the rules compiler may load is the last test's.
 */
const TABLE: LayerTable = {
  support: [],
  model: ['support/'],
  protocol: ['model/', 'support/'],
  policy: ['model/', 'support/'],
  greylist: ['model/', 'support/'],
  conditions: ['model/', 'support/'],
  // The one edge between subsystems (plan §7): the stores run greylist's
  // decide inside their own transaction (SQL, Lua, memory).
  store: ['greylist/', 'model/', 'support/'],
  // DNS lookups (issue 12): a client with its cache and deadlines, and the pure readings of DNS lists.
  dns: ['model/', 'support/'],
  // Definitions: compiling rules loads them, so no I/O and no runner code.
  'steps (pure)': ['conditions/', 'protocol/smtpd-rules.ts', 'dns/sites.ts', 'dns/resolver-address.ts', 'model/', 'support/'],
  // Runners and their services.
  steps: ['conditions/', 'protocol/', 'policy/', 'store/', 'greylist/', 'dns/', 'model/', 'support/'],
  dsl: ['steps (pure)', 'conditions/', 'protocol/smtpd-rules.ts', 'store/url.ts', 'dns/sites.ts', 'dns/resolver-address.ts', 'model/', 'support/'],
  runtime: ['steps/', 'conditions/', 'protocol/', 'model/', 'support/'],
  reload: ['dsl/', 'model/', 'support/'],
  // runtime/ for the event types, steps/ for PauseEvents.
  metrics: ['runtime/', 'steps/', 'policy/errors.ts', 'model/', 'support/'],
  tools: ['runtime/', 'dsl/', 'steps/', 'conditions/', 'protocol/', 'store/', 'greylist/', 'model/', 'support/'],
  cli: 'everything',
};

/** Folders on their way out, checked as the layer their files move to. */
const TRANSITIONAL: readonly Transitional[] = [
  { folder: 'actions', as: 'steps', stage: '13', why: 'the shims of the runners moved to steps/ (stage 10a)' },
];

/** Edges that break the table today, each with the stage that removes it (plan §6). */
const ALLOWLIST: readonly AllowedEdge[] = [];

/** The stages of plan §6: an entry names the one that removes it (once that lands, the stale check asks for the entry to go). */
const PLAN_STAGES = new Set(['0a', '0b', '1a', '1b', '2', '3', '4a', '4b', '4c', '4d', '4e', '4f', '4g', '5', '6a', '6b', '7a', '7b', '7c', '8a', '8b', '9', '10a', '10b', '11a', '11b', '12', '13']);

describe('layers (plan §1)', () => {
  const graph = graphOf(readSources(projectRoot, 'src'));

  test('the scan sees the tree: every file, every relative import resolved, each form of import', () => {
    assert.ok(graph.files.length > 100, `${graph.files.length} files under src/`);
    assert.deepEqual(graph.unresolved, [], 'relative imports that name no file: the resolution is broken');
    const has = (from: string, to: string): boolean => graph.edges.some((e) => e.from === from && e.to === to);
    // A multi-line import, a type-only import, a re-export, the entry's one dynamic import.
    assert.ok(has('src/runtime/host.ts', 'src/protocol/handshake.ts'));
    assert.ok(graph.edges.some((e) => e.from === 'src/runtime/requests.ts' && e.typeOnly && e.to === 'src/support/clock.ts'));
    assert.ok(has('src/dsl/plan.ts', 'src/model/plan.ts') && graph.shims.has('src/dsl/plan.ts'));
    assert.ok(graph.edges.some((e) => e.from === 'src/cli/main.ts' && e.to === 'src/cli/app.ts' && !e.typeOnly));
  });

  test('every import follows the table (but the allowlisted ones)', () => {
    const { refused } = checkAllowlist(violations(graph, TABLE, TRANSITIONAL), ALLOWLIST);
    assert.deepEqual(refused, [], 'imports against plan §1: move the code, or import from the layer below');
  });

  test('the allowlist only shrinks: every entry still names an edge against the table, and a stage of the plan', () => {
    const { stale } = checkAllowlist(violations(graph, TABLE, TRANSITIONAL), ALLOWLIST);
    assert.deepEqual(stale, []);
    for (const a of ALLOWLIST) assert.ok(PLAN_STAGES.has(a.stage), `${a.edge}: stage ${a.stage} is not a stage of the plan`);
    for (const t of TRANSITIONAL) {
      assert.ok(PLAN_STAGES.has(t.stage), `src/${t.folder}/: stage ${t.stage} is not a stage of the plan`);
      assert.ok(graph.files.some((f) => f.startsWith(`src/${t.folder}/`)), `src/${t.folder}/ is gone: delete its TRANSITIONAL entry`);
    }
  });

  test('compiling rules (check) and reloads load no runner code, ioredis or better-sqlite3', () => {
    const { files, packages } = loadedFrom(graph, ['src/dsl/index.ts', 'src/reload/index.ts']);
    assert.ok(files.has('src/dsl/compiler.ts') && files.has('src/reload/diff.ts') && packages.has('chokidar'), 'the walk is broken');
    const runners = [...files].filter(([f]) => layerOf(f, TABLE, TRANSITIONAL) === 'steps').map(([f, at]) => chainOf(f, at, files));
    assert.deepEqual(runners, [], 'runner code on the compile path');
    // store/redis.ts requires ioredis lazily and imports only its types: a
    // loaded file naming a driver at all is the driver's code.
    const drivers = new Set(
      graph.edges
        .filter((e) => (e.specifier === 'ioredis' || e.specifier === 'better-sqlite3') && files.has(e.from))
        .map((e) => `${e.specifier} <- ${chainOf(e.from, files.get(e.from) ?? null, files)}`),
    );
    assert.deepEqual([...drivers], [], 'a store driver on the compile path');
  });
});

describe('the layers check itself', () => {
  /** A tree of `path: text`, as graphOf reads it. */
  const tree = (files: Record<string, string>): SourceGraph => graphOf(new Map(Object.entries(files)));
  const found = (files: Record<string, string>): string[] => violations(tree(files), TABLE, TRANSITIONAL).map((v) => v.message);
  /** What the rules compiler may import, as a refusal names it. */
  const DSL = 'dsl/ may import only dsl/, steps/ (pure files), conditions/, protocol/smtpd-rules.ts, store/url.ts, dns/sites.ts, dns/resolver-address.ts, model/, support/';

  test('an import up the layers is refused, with its line and what the layer may import', () => {
    assert.deepEqual(
      found({
        'src/model/plan.ts': "// the runtime\n\nimport type {\n  Host,\n} from '../runtime/host.js';\n",
        'src/runtime/host.ts': "import { later } from '../model/plan.js';\nexport const Host = 1;\n",
      }),
      ['src/model/plan.ts:3 imports src/runtime/host.ts: model/ may import only model/, support/'],
    );
  });

  test('a shim is a file of re-exports only, comments aside; a re-export beside code of its own is no shim', () => {
    const graph = tree({
      'src/tools/old.ts': "/** Moved to tools/test/ (stage 4g). */\nexport * from './test/a.js';\nexport type {\n  B,\n} from './test/b.js';\n",
      'src/tools/mixed.ts': "export { closest } from './test/a.js';\nexport const other = 1;\n",
      'src/tools/test/a.ts': 'export const closest = 1;\n',
      'src/tools/test/b.ts': 'export type B = 1;\n',
    });
    assert.deepEqual([...graph.shims], [['src/tools/old.ts', ['src/tools/test/a.ts', 'src/tools/test/b.ts']]]);
  });

  test('an import of a shim is judged by what the shim re-exports', () => {
    const files = {
      'src/dsl/old.ts': "export * from '../model/new.js';\n",
      'src/dsl/gone.ts': "export { run } from '../steps/pause/run.js';\n",
      'src/model/new.ts': 'export const x = 1;\n',
      'src/steps/pause/run.ts': 'export const run = 1;\n',
      'src/runtime/r.ts': "import { x } from '../dsl/old.js';\n",
      'src/protocol/p.ts': "import { run } from '../dsl/gone.js';\n",
    };
    assert.deepEqual(found(files), [
      // The shim itself is an edge like any other: this one points upwards.
      `src/dsl/gone.ts:1 imports src/steps/pause/run.ts: ${DSL}`,
      'src/protocol/p.ts:1 imports src/steps/pause/run.ts (through the shim src/dsl/gone.ts): protocol/ may import only protocol/, model/, support/',
    ]);
  });

  test('the pure files of steps/ may import only each other among steps/, and the rules compiler only them', () => {
    assert.deepEqual(
      found({
        'src/steps/pause/define.ts': "import type { Run } from './run.js';\nimport { STEP_WORDS } from '../words.js';\n",
        'src/steps/pause/run.ts': "import { pause } from './define.js';\nimport { open } from '../../store/open.js';\n",
        'src/steps/words.ts': 'export const STEP_WORDS = [];\n',
        'src/store/open.ts': 'export const open = 1;\n',
        'src/store/url.ts': 'export const url = 1;\n',
        'src/dsl/checker.ts': "import { pause } from '../steps/pause/define.js';\nimport { url } from '../store/url.js';\nimport { open } from '../store/open.js';\nimport { run } from '../steps/pause/run.js';\n",
      }),
      [
        `src/dsl/checker.ts:3 imports src/store/open.ts: ${DSL}`,
        `src/dsl/checker.ts:4 imports src/steps/pause/run.ts: ${DSL}`,
        'src/steps/pause/define.ts:1 imports src/steps/pause/run.ts: steps/ (pure files) may import only steps/ (pure files), conditions/, protocol/smtpd-rules.ts, dns/sites.ts, dns/resolver-address.ts, model/, support/',
      ],
    );
  });

  test('a folder without a row is refused; a transitional folder is checked as what it becomes', () => {
    assert.deepEqual(
      found({
        'src/extra/x.ts': "import { y } from '../runtime/y.js';\n",
        'src/index.ts': 'export {};\n',
        'src/runtime/y.ts': "import { z } from '../actions/z.js';\nexport const y = 1;\n",
        'src/actions/z.ts': "import { y } from '../runtime/y.js';\nexport const z = 1;\n",
      }),
      [
        'src/extra/x.ts: src/extra/ is not in the layers table: give it a row (plan §1)',
        'src/index.ts: src/ itself is not in the layers table: give it a row (plan §1)',
        // src/actions/ is steps/ until 13: runners may not reach up into the runtime.
        'src/actions/z.ts:1 imports src/runtime/y.ts: steps/ may import only steps/, conditions/, protocol/, policy/, store/, greylist/, dns/, model/, support/',
      ],
    );
  });

  test('an allowlist entry that matches no violation is reported, and a violation it names is not', () => {
    const graph = tree({ 'src/model/a.ts': "import '../runtime/r.js';\n", 'src/runtime/r.ts': 'export {};\n' });
    const result = checkAllowlist(violations(graph, TABLE, TRANSITIONAL), [
      { edge: 'src/model/a.ts -> src/runtime/r.ts', stage: '13', why: '' },
      { edge: 'src/model/a.ts -> src/tools/t.ts', stage: '9', why: '' },
    ]);
    assert.deepEqual(result, {
      refused: [],
      stale: ['src/model/a.ts -> src/tools/t.ts (stage 9) is allowlisted but no longer imported against the table: delete the entry'],
    });
  });
});
