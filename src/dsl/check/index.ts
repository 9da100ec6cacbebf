/**
 * The checks, as a table: each a small function over the converted file (or
 * one chain, or one step) that reports what it finds. All of them run, so one
 * pass reports every semantic problem in the file. The order is the order
 * diagnostics are made in; `sortDiagnostics` is stable, so it shows only
 * between diagnostics of one code at one place.
 */
import type { ChainDecl } from '../ast.js';
import type { ConvertedChain, ConvertedStep } from '../convert.js';
import { diagnostic, isError, type Diagnostic } from '../diagnostics.js';
import { checkStepCondition } from './conditions.js';
import { contextOf, type CheckContext, type ConvertedFile } from './context.js';
import { checkDataLine } from './data-line.js';
import { checkFile } from './file.js';
import { checkDeclaredLists, checkListUses } from './lists.js';
import { checkLoads } from './loads.js';
import { checkOptions } from './options.js';
import { checkPhase } from './phases.js';
import { checkProduced } from './produced.js';
import { checkReachable } from './reachability.js';
import type { Report } from './report.js';
import { checkForeign, checkStep } from './steps.js';
import { validFile, type ValidFile } from './valid.js';
import { checkValues } from './values.js';

export type { ConvertedFile } from './context.js';
export type { ValidFile, ValidStep } from './valid.js';

/** A check of the whole file. */
export type Check = (ctx: CheckContext) => void;
/** A check of one step, in its chain. */
export type StepCheck = (ctx: CheckContext, chain: ChainDecl, step: ConvertedStep) => void;
/** A check of one chain, after its steps'. */
export type ChainCheck = (ctx: CheckContext, chain: ConvertedChain) => void;

/** Each step, in order: options (E043, E044) · values · condition · phase · the definition's checks · a foreign option's · the file it loads. */
const STEP_CHECKS: readonly StepCheck[] = [
  (ctx, _, step) => checkOptions(step, ctx.report),
  (ctx, _, step) => checkValues(step, ctx.report),
  (ctx, _, step) => checkStepCondition(ctx, step),
  (ctx, _, step) => checkPhase(step, ctx.report),
  (ctx, chain, step) => checkStep(chain, step, ctx.report),
  (ctx, chain, step) => checkForeign(chain, step, ctx.report),
  (ctx, chain, step) => checkLoads(ctx, chain, step),
];

const CHAIN_CHECKS: readonly ChainCheck[] = [(ctx, chain) => checkReachable(chain, ctx.report), (ctx, chain) => checkProduced(chain, ctx.report)];

const checkChains: Check = (ctx) => {
  for (const chain of ctx.file.chains) {
    for (const step of chain.steps) for (const c of STEP_CHECKS) c(ctx, chain.node, step);
    for (const c of CHAIN_CHECKS) c(ctx, chain);
  }
};

/** file (E007, E011, E012) · declared lists (E014, W003, W002) · chains · list uses (W001, after the conditions recorded them) · data-line (W008). */
export const CHECKS: readonly Check[] = [checkFile, checkDeclaredLists, checkChains, checkListUses, checkDataLine];

export interface CheckResult {
  readonly diagnostics: Diagnostic[];
  /** What compile reads; null when a diagnostic is an error. */
  readonly valid: ValidFile | null;
  /** The files steps load (keys), as shown: watched for reloads like list files. */
  readonly loadedFiles: readonly string[];
}

export function check(file: ConvertedFile): CheckResult {
  const diagnostics: Diagnostic[] = [];
  const report: Report = (code, span, message, extra = {}) => diagnostics.push(diagnostic(code, span, message, extra));
  const ctx = contextOf(file, report);
  for (const c of CHECKS) c(ctx);
  const valid = diagnostics.some(isError) ? null : validFile(file, ctx.listsByName, ctx.loaded);
  return { diagnostics, valid, loadedFiles: [...ctx.loadedFiles] };
}
