/**
 * The mechanism of the layers test (layers.test.ts holds the table): where a
 * file of src/ sits, and which of its imports the table refuses. Pure over a
 * SourceGraph.
 */
import type { SourceGraph } from './graph.js';

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

/**
 * steps/'s pure files (plan §1): definitions and the vocabulary, no runners
 * with I/O. Every file at the top of steps/ but the services' wiring (a kind
 * without I/O is one file there, as junk.ts is), and each kind folder's define.ts.
 */
const PURE_STEPS = /^src\/steps\/((?!services?\.ts$)[^/]+|[^/]+\/define\.ts)$/;

export const PURE_STEPS_LABEL = 'steps (pure)';

/** The layer of `file`, or null when src/ has no such folder in the table. */
export function layerOf(file: string, table: LayerTable): Layer | null {
  const m = /^src\/([^/]+)\//.exec(file);
  if (m === null) return null;
  const folder = m[1] ?? '';
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

/**
 * Every import the table refuses, one per (line, target), as
 * `src/a/b.ts:12 imports src/c/d.ts: a/ may import only …`; and every folder
 * without a row.
 */
export function violations(graph: SourceGraph, table: LayerTable): string[] {
  const out: string[] = [];
  const placed = new Set<string>();
  for (const file of graph.files) {
    if (layerOf(file, table) !== null) continue;
    const folder = /^src\/([^/]+)\//.exec(file)?.[1];
    const where = folder === undefined ? 'src/ itself' : `src/${folder}/`;
    if (placed.has(where)) continue;
    placed.add(where);
    out.push(`${file}: ${where} is not in the layers table: give it a row (plan §1)`);
  }
  for (const e of graph.edges) {
    if (e.to === null) continue;
    const from = layerOf(e.from, table);
    if (from === null) continue;
    const rule = allowed(table, from);
    if (rule === 'everything') continue;
    const layer = layerOf(e.to, table);
    if (layer !== null && rule.some((t) => allows(t, e.to ?? '', layer))) continue;
    out.push(`${e.from}:${e.line} imports ${e.to}: ${shown(from)} may import only ${rule.map(shown).join(', ')}`);
  }
  return out;
}
