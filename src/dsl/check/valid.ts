/**
 * What a file the checks found no error in hands to compile: each step with
 * the input its definition compiles from (checked values, the default of each
 * option not written) and its condition. Made only after the checks, so a
 * value that did not parse here is a bug, not the user's mistake.
 */
import type { ListDecl, ChainDecl, Condition } from '../ast.js';
import type { Converted, ConvertedStep } from '../convert.js';
import type { ResolveResult } from '../lists.js';
import type { OptionSpecs, StepInput, ValueType } from '../../steps/spec.js';
import type { ConvertedFile } from './context.js';

export interface ValidStep {
  readonly converted: ConvertedStep;
  readonly input: StepInput<ValueType | null, OptionSpecs>;
  readonly condition: Condition | null;
}

export interface ValidFile {
  readonly chains: readonly { readonly node: ChainDecl; readonly steps: readonly ValidStep[] }[];
  readonly lists: ResolveResult;
  /** First declaration of each list name: what a condition's `in NAME` reads. */
  readonly listsByName: ReadonlyMap<string, ListDecl>;
}

/** A value the checks passed; null here would be a value with an error that got past them: a bug. */
function checked(c: Converted, what: string): unknown {
  if (c.value === null) throw new Error(`check: ${what} with an error was taken as valid`);
  return c.value;
}

/** What the step's definition compiles from: its checked values, the default of each option not written. */
function inputOf(step: ConvertedStep, loaded: ReadonlyMap<ConvertedStep, string>): StepInput<ValueType | null, OptionSpecs> {
  const keyword = step.definition.keyword;
  const options: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(step.definition.options)) {
    // The first occurrence: a repeat is E044, so there is only one.
    const written = step.options.find((o) => o.spec.name === name);
    options[name] = written === undefined ? (spec.default ?? undefined) : checked(written.value, `${keyword} ${name}`);
  }
  const argument = step.argument === null ? null : checked(step.argument, `${keyword}'s argument`);
  const text = loaded.get(step);
  if (step.definition.loads !== undefined && text === undefined) throw new Error(`check: ${keyword} without the file it loads was taken as valid`);
  return { argument, options, phase: step.placement.phase, loaded: text ?? null } as StepInput<ValueType | null, OptionSpecs>;
}

export function validFile(file: ConvertedFile, listsByName: ReadonlyMap<string, ListDecl>, loaded: ReadonlyMap<ConvertedStep, string>): ValidFile {
  return {
    chains: file.chains.map(({ node, steps }) => ({
      node,
      steps: steps.map((converted) => ({ converted, input: inputOf(converted, loaded), condition: converted.when?.condition ?? null })),
    })),
    lists: file.lists,
    listsByName,
  };
}
