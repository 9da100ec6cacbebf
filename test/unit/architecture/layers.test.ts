/**
 * The direction of dependencies in src/ (issue 11, plan §1):
 *
 *   cli → {runtime, tools, reload, metrics} → {dsl, steps} → {conditions, protocol, policy, store, greylist, limits, dns, message, rspamd} → model → support
 *
 * Every `import … from`, `export … from`, `import type`, dynamic import() and
 * module augmentation of every src/**\/*.ts is an edge (type edges are
 * coupling too), checked against TABLE, with no exceptions. A module lives at
 * one path: a move updates its importers (issue 11 stage 13 deleted the
 * last re-export shims), so no file of re-exports stands in for a module.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { projectRoot } from '../dsl/helpers.js';
import { chainOf, graphOf, loadedFrom, readSources, type SourceGraph } from './graph.js';
import { layerOf, violations, type LayerTable } from './layers.js';

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
  // The message of a transaction, buffered and spooled, read and edited (rspamd, DKIM, DMARC, ARC).
  message: ['model/', 'support/'],
  // Rate and concurrency limits' pure cores (issue 13): GCRA, sessions at once.
  limits: ['model/', 'support/'],
  // The edges between subsystems (plan §7): the stores run greylist's decide
  // and limits' GCRA inside their own transaction (SQL, Lua, memory).
  store: ['greylist/', 'limits/', 'model/', 'support/'],
  // DNS lookups (issue 12): a client with its cache and deadlines, and the pure readings of DNS lists.
  dns: ['model/', 'support/'],
  // rspamd (issue 15): the request headers, the answer, the verdict and the HTTP client; headers made as message/ makes them.
  rspamd: ['message/fields.ts', 'model/', 'support/'],
  // SPF, DKIM, DMARC (issue 14): checks through mailauth on a resolver given to them, and the pure readings of their records.
  auth: ['dns/', 'model/', 'support/'],
  // Definitions: compiling rules loads them, so no I/O and no runner code.
  'steps (pure)': ['conditions/', 'protocol/smtpd-rules.ts', 'dns/sites.ts', 'dns/resolver-address.ts', 'model/', 'support/'],
  // Runners and their services.
  steps: ['conditions/', 'protocol/', 'policy/', 'store/', 'greylist/', 'limits/', 'dns/', 'auth/', 'message/', 'rspamd/', 'model/', 'support/'],
  dsl: ['steps (pure)', 'conditions/', 'protocol/smtpd-rules.ts', 'store/url.ts', 'dns/sites.ts', 'dns/resolver-address.ts', 'model/', 'support/'],
  runtime: ['steps/', 'conditions/', 'protocol/', 'message/', 'model/', 'support/'],
  reload: ['dsl/', 'model/', 'support/'],
  // runtime/ for the event types, steps/ for PauseEvents.
  metrics: ['runtime/', 'steps/', 'policy/errors.ts', 'model/', 'support/'],
  tools: ['runtime/', 'dsl/', 'steps/', 'conditions/', 'protocol/', 'store/', 'greylist/', 'limits/', 'model/', 'support/'],
  cli: 'everything',
};

/**
 * The one file of re-exports only: reload/index.ts, the reload subsystem's
 * entry (what the CLI and the layers walk below load).
 */
const ENTRY_BARRELS = new Set(['src/reload/index.ts']);

describe('layers (plan §1)', () => {
  const graph = graphOf(readSources(projectRoot, 'src'));

  test('the scan sees the tree: every file, every relative import resolved, each form of import', () => {
    assert.ok(graph.files.length > 100, `${graph.files.length} files under src/`);
    assert.deepEqual(graph.unresolved, [], 'relative imports that name no file: the resolution is broken');
    const has = (from: string, to: string): boolean => graph.edges.some((e) => e.from === from && e.to === to);
    // A multi-line import, a type-only import, a re-export, the entry's one dynamic import.
    assert.ok(has('src/runtime/host.ts', 'src/protocol/handshake.ts'));
    assert.ok(graph.edges.some((e) => e.from === 'src/runtime/requests.ts' && e.typeOnly && e.to === 'src/support/clock.ts'));
    assert.ok(has('src/reload/index.ts', 'src/reload/reloader.ts') && graph.shims.has('src/reload/index.ts'));
    assert.ok(graph.edges.some((e) => e.from === 'src/cli/main.ts' && e.to === 'src/cli/app.ts' && !e.typeOnly));
  });

  test('every import follows the table', () => {
    assert.deepEqual(violations(graph, TABLE), [], 'imports against plan §1: move the code, or import from the layer below');
  });

  test('no shims: a module lives at one path, and a move updates its importers', () => {
    const shims = [...graph.shims.keys()].filter((f) => !ENTRY_BARRELS.has(f));
    assert.deepEqual(shims, [], 'files of re-exports only: import from where the code lives, and delete them');
  });

  test('compiling rules (check) and reloads load no runner code, ioredis or better-sqlite3', () => {
    const { files, packages } = loadedFrom(graph, ['src/dsl/index.ts', 'src/reload/index.ts']);
    assert.ok(files.has('src/dsl/compiler.ts') && files.has('src/reload/diff.ts') && packages.has('chokidar'), 'the walk is broken');
    const runners = [...files].filter(([f]) => layerOf(f, TABLE) === 'steps').map(([f, at]) => chainOf(f, at, files));
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
  const found = (files: Record<string, string>): string[] => violations(tree(files), TABLE);
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

  test('a folder without a row is refused, once', () => {
    assert.deepEqual(
      found({
        'src/extra/x.ts': "import { y } from '../runtime/y.js';\n",
        'src/extra/z.ts': 'export {};\n',
        'src/index.ts': 'export {};\n',
        'src/runtime/y.ts': 'export const y = 1;\n',
      }),
      [
        'src/extra/x.ts: src/extra/ is not in the layers table: give it a row (plan §1)',
        'src/index.ts: src/ itself is not in the layers table: give it a row (plan §1)',
      ],
    );
  });
});
