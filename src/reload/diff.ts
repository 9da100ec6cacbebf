/**
 * What a reload changed, for the log line. Pure.
 *
 * Steps are compared by what they do — action (kind and parameters), phase,
 * condition text and on-error — never by source span: moving a chain down the
 * file or adding a comment is not a change. Order is part of meaning (the first
 * decisive step of a phase wins), so steps are aligned with a longest common
 * subsequence: a step that only changed position is reported as moved.
 *
 * Limits: a condition is compared by its text, so a list file whose content
 * changed does not show here (`src in trusted` reads the same). The reloader
 * reports changed files separately for that reason.
 */
import type { CompiledChain, CompiledRules, CompiledStep } from '../model/plan.js';
import { describeStep } from '../model/describe.js';

export type StepField = 'action' | 'phase' | 'when' | 'onError' | 'dryRun';

/** A step as a log shows it: its position and a one-line description. */
export interface StepRef {
  readonly index: number;
  readonly text: string;
}

export interface StepChange {
  readonly index: number;
  readonly before: string;
  readonly after: string;
  readonly fields: readonly StepField[];
}

export interface StepMove {
  readonly from: number;
  readonly to: number;
  readonly text: string;
}

export interface ChainDiff {
  readonly name: string;
  readonly stepsAdded: readonly StepRef[];
  readonly stepsRemoved: readonly StepRef[];
  /** Same position in the chain (relative to the unchanged steps), different meaning. */
  readonly stepsChanged: readonly StepChange[];
  /** Same step, other position: a change, since order decides which step answers first. */
  readonly stepsMoved: readonly StepMove[];
}

export interface RulesDiff {
  readonly chainsAdded: readonly string[];
  readonly chainsRemoved: readonly string[];
  readonly chainsChanged: readonly ChainDiff[];
}

export function isEmptyDiff(diff: RulesDiff): boolean {
  return diff.chainsAdded.length === 0 && diff.chainsRemoved.length === 0 && diff.chainsChanged.length === 0;
}

export function diffRules(before: CompiledRules, after: CompiledRules): RulesDiff {
  const chainsAdded = [...after.chains.keys()].filter((name) => !before.chains.has(name)).sort();
  const chainsRemoved = [...before.chains.keys()].filter((name) => !after.chains.has(name)).sort();
  const chainsChanged: ChainDiff[] = [];
  for (const name of [...after.chains.keys()].sort()) {
    const old = before.chains.get(name);
    const now = after.chains.get(name);
    if (old === undefined || now === undefined) continue;
    const diff = diffChain(old, now);
    if (diff !== null) chainsChanged.push(diff);
  }
  return { chainsAdded, chainsRemoved, chainsChanged };
}

/** Null when the chains do the same thing. */
export function diffChain(before: CompiledChain, after: CompiledChain): ChainDiff | null {
  const oldKeys = before.steps.map(stepKey);
  const newKeys = after.steps.map(stepKey);
  const pairs = lcsPairs(oldKeys, newKeys);

  const matchedOld = new Set(pairs.map(([i]) => i));
  const matchedNew = new Set(pairs.map(([, j]) => j));
  let unmatchedOld = indices(oldKeys.length).filter((i) => !matchedOld.has(i));
  let unmatchedNew = indices(newKeys.length).filter((j) => !matchedNew.has(j));

  // Identical steps outside the common subsequence: moved.
  const stepsMoved: StepMove[] = [];
  for (const i of unmatchedOld) {
    const j = unmatchedNew.find((candidate) => newKeys[candidate] === oldKeys[i]);
    if (j === undefined) continue;
    unmatchedNew = unmatchedNew.filter((x) => x !== j);
    stepsMoved.push({ from: i, to: j, text: describeStep(stepAt(after.steps, j)) });
  }
  const movedFrom = new Set(stepsMoved.map((m) => m.from));
  unmatchedOld = unmatchedOld.filter((i) => !movedFrom.has(i));

  // What is left sits in gaps between unchanged steps. A removed and an added
  // step in the same gap are one edited step; the surplus is added or removed.
  const gapOf = (index: number, side: 0 | 1): number => pairs.filter((p) => p[side] < index).length;
  const stepsChanged: StepChange[] = [];
  const stepsRemoved: StepRef[] = [];
  const pairedNew = new Set<number>();
  for (const i of unmatchedOld) {
    const gap = gapOf(i, 0);
    const j = unmatchedNew.find((candidate) => !pairedNew.has(candidate) && gapOf(candidate, 1) === gap);
    const old = stepAt(before.steps, i);
    if (j === undefined) {
      stepsRemoved.push({ index: i, text: describeStep(old) });
      continue;
    }
    pairedNew.add(j);
    const now = stepAt(after.steps, j);
    stepsChanged.push({ index: j, before: describeStep(old), after: describeStep(now), fields: changedFields(old, now) });
  }
  const stepsAdded: StepRef[] = unmatchedNew
    .filter((j) => !pairedNew.has(j))
    .map((j) => ({ index: j, text: describeStep(stepAt(after.steps, j)) }));

  if (stepsAdded.length + stepsRemoved.length + stepsChanged.length + stepsMoved.length === 0) return null;
  return { name: after.name, stepsAdded, stepsRemoved, stepsChanged, stepsMoved };
}

/** One line saying what changed, for the reload log message. */
export function summarizeDiff(diff: RulesDiff): string {
  if (isEmptyDiff(diff)) return 'no chain changed';
  const parts: string[] = [];
  if (diff.chainsAdded.length > 0) parts.push(`chains added: ${diff.chainsAdded.join(', ')}`);
  if (diff.chainsRemoved.length > 0) parts.push(`chains removed: ${diff.chainsRemoved.join(', ')}`);
  for (const c of diff.chainsChanged) {
    const counts = [
      [c.stepsAdded.length, 'added'],
      [c.stepsRemoved.length, 'removed'],
      [c.stepsChanged.length, 'changed'],
      [c.stepsMoved.length, 'moved'],
    ] as const;
    const text = counts
      .filter(([n]) => n > 0)
      .map(([n, what]) => `${n} ${n === 1 ? 'step' : 'steps'} ${what}`)
      .join(', ');
    parts.push(`chain ${c.name}: ${text}`);
  }
  return parts.join('; ');
}

function changedFields(a: CompiledStep, b: CompiledStep): StepField[] {
  const fields: StepField[] = [];
  if (canonicalJson(a.action) !== canonicalJson(b.action)) fields.push('action');
  if (a.phase !== b.phase) fields.push('phase');
  if (a.whenText !== b.whenText) fields.push('when');
  if (a.onError !== b.onError) fields.push('onError');
  if ((a.dryRun === true) !== (b.dryRun === true)) fields.push('dryRun');
  return fields;
}

/** Everything that gives a step its meaning, as one comparable string. */
function stepKey(step: CompiledStep): string {
  // dryRun only when set, so keys of steps without it stay as they were.
  return canonicalJson({ action: step.action, phase: step.phase, when: step.whenText, onError: step.onError, dryRun: step.dryRun === true ? true : undefined });
}

/** JSON with object keys sorted, so parameter order in the compiler does not matter. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/** Index pairs of a longest common subsequence, in increasing order. O(n·m): chains are short. */
function lcsPairs(a: readonly string[], b: readonly string[]): Array<[number, number]> {
  const n = a.length;
  const m = b.length;
  // len[i][j] = LCS length of a[i..] and b[j..], flattened.
  const len = new Uint32Array((n + 1) * (m + 1));
  const at = (i: number, j: number): number => len[i * (m + 1) + j] ?? 0;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      len[i * (m + 1) + j] = a[i] === b[j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
    }
  }
  const pairs: Array<[number, number]> = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      pairs.push([i, j]);
      i++;
      j++;
    } else if (at(i + 1, j) >= at(i, j + 1)) {
      i++;
    } else {
      j++;
    }
  }
  return pairs;
}

function indices(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function stepAt(steps: readonly CompiledStep[], index: number): CompiledStep {
  const step = steps[index];
  if (step === undefined) throw new Error(`diff: step ${index} out of range`);
  return step;
}
