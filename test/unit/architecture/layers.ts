/**
 * The mechanism of the layers test (layers.test.ts holds the table and the
 * allowlist): where a file of src/ sits, and which of its imports the table
 * refuses. Pure over a SourceGraph.
 */
import { throughShims, type SourceGraph } from './graph.js';

/**
 * A layer: a folder under src/, or `steps (pure)`, the files of steps/ that
 * compiling rules may load (no I/O, no runner code); `steps` is the rest.
 */
export type Layer = string;

/**
 * What a layer may import besides itself: `'model/'` (a folder), `'store/url.ts'`
 * (one file), `'steps (pure)'`; `'steps/'` is all of steps/, pure or not.
 */
export type LayerTable = Readonly<Record<Layer, readonly string[] | 'everything'>>;

/** A folder that is on its way out, checked as the layer it becomes until the stage that moves it. */
export interface Transitional {
  readonly folder: string;
  readonly as: Layer;
  readonly stage: string;
  readonly why: string;
}

/** steps/'s pure files (plan §1): definitions and the vocabulary, no runners with I/O. */
const PURE_STEPS = /^src\/steps\/(spec|words|catalogue|accept|reject|disconnect|junk|[^/]+\/define)\.ts$/;

export const PURE_STEPS_LABEL = 'steps (pure)';

/** The layer of `file`, or null when src/ has no such folder in the table. */
export function layerOf(file: string, table: LayerTable, transitional: readonly Transitional[]): Layer | null {
  const m = /^src\/([^/]+)\//.exec(file);
  if (m === null) return null;
  const folder = transitional.find((t) => t.folder === m[1])?.as ?? m[1] ?? '';
  const layer = folder === 'steps' && PURE_STEPS.test(file) ? PURE_STEPS_LABEL : folder;
  return Object.hasOwn(table, layer) ? layer : null;
}

/** A layer or a table target as messages name it: `dsl/`, `store/url.ts`, `steps/ (pure files)`. */
function shown(layerOrTarget: string): string {
  if (layerOrTarget === PURE_STEPS_LABEL) return 'steps/ (pure files)';
  return layerOrTarget.endsWith('/') || layerOrTarget.endsWith('.ts') ? layerOrTarget : `${layerOrTarget}/`;
}

function allows(target: string, file: string, layer: Layer): boolean {
  if (target.endsWith('.ts')) return file === `src/${target}`;
  if (target === PURE_STEPS_LABEL) return layer === PURE_STEPS_LABEL;
  const folder = target.slice(0, -1);
  return layer === folder || (folder === 'steps' && layer === PURE_STEPS_LABEL);
}

/** What `layer` may import, itself first (the pure steps files: only each other). */
function allowed(table: LayerTable, layer: Layer): readonly string[] | 'everything' {
  const rule = table[layer] ?? [];
  if (rule === 'everything') return rule;
  return [layer === PURE_STEPS_LABEL ? PURE_STEPS_LABEL : `${layer}/`, ...rule];
}

export interface Violation {
  /** What the allowlist names: `src/runtime/requests.ts -> src/policy/action.ts`. */
  readonly edge: string;
  /** `src/a/b.ts:12 imports src/c/d.ts: a/ may import only …` */
  readonly message: string;
}

/**
 * Every import the table refuses, one per (line, target). An import of a shim
 * is checked against what the shim re-exports: that is the dependency, and
 * the shim's own edges (which point downwards) are checked as any file's.
 */
export function violations(graph: SourceGraph, table: LayerTable, transitional: readonly Transitional[]): Violation[] {
  const out: Violation[] = [];
  const placed = new Set<string>();
  for (const file of graph.files) {
    if (layerOf(file, table, transitional) !== null) continue;
    const folder = /^src\/([^/]+)\//.exec(file)?.[1];
    const where = folder === undefined ? 'src/ itself' : `src/${folder}/`;
    if (placed.has(where)) continue;
    placed.add(where);
    out.push({ edge: file, message: `${file}: ${where} is not in the layers table: give it a row (plan §1)` });
  }
  for (const e of graph.edges) {
    if (e.to === null) continue;
    const from = layerOf(e.from, table, transitional);
    if (from === null) continue;
    const rule = allowed(table, from);
    if (rule === 'everything') continue;
    for (const { to, via } of throughShims(graph, e.to)) {
      const layer = layerOf(to, table, transitional);
      if (layer !== null && rule.some((t) => allows(t, to, layer))) continue;
      const through = via === null ? '' : ` (through the shim ${via})`;
      out.push({
        edge: `${e.from} -> ${to}`,
        message: `${e.from}:${e.line} imports ${to}${through}: ${shown(from)} may import only ${rule.map(shown).join(', ')}`,
      });
    }
  }
  return out;
}

export interface AllowedEdge {
  readonly edge: string;
  /** The stage of issue 11's plan that removes it. */
  readonly stage: string;
  readonly why: string;
}

/** Violations the allowlist does not name, and allowlist entries that match no violation (gone: delete them). */
export function checkAllowlist(found: readonly Violation[], allowlist: readonly AllowedEdge[]): { readonly refused: string[]; readonly stale: string[] } {
  const named = new Set(allowlist.map((a) => a.edge));
  const seen = new Set(found.map((v) => v.edge));
  return {
    refused: found.filter((v) => !named.has(v.edge)).map((v) => v.message),
    stale: allowlist
      .filter((a) => !seen.has(a.edge))
      .map((a) => `${a.edge} (stage ${a.stage}) is allowlisted but no longer imported against the table: delete the entry`),
  };
}
