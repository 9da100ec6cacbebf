/**
 * What the CLI does, with its I/O injected (the process wiring is main.ts).
 * `check` and startup compile the same way and pick the chain with the same
 * function as the running host (so their messages agree).
 */
import { compileRulesFile, formatDiagnostic, type Diagnostic } from '../dsl/index.js';
import type { CompiledChain, CompiledRules } from '../dsl/plan.js';
import { describeSteps } from '../runtime/plan.js';
import { selectChain } from '../runtime/select-chain.js';

export interface CliIo {
  /** Standard output: used by `check`, never in run mode (stdout is the protocol there). */
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

export type CompiledFile =
  | {
      readonly ok: true;
      readonly rules: CompiledRules;
      /** Formatted warnings (the rules are usable). */
      readonly warnings: readonly string[];
      /** The texts compiled, by file name (the reloader's baseline). */
      readonly sources: ReadonlyMap<string, string>;
    }
  | { readonly ok: false; readonly messages: readonly string[] };

export type LoadedRules =
  | {
      readonly ok: true;
      readonly rules: CompiledRules;
      readonly chain: CompiledChain;
      readonly warnings: readonly string[];
      readonly sources: ReadonlyMap<string, string>;
    }
  | { readonly ok: false; readonly messages: readonly string[] };

/** Compile a rules file; problems come back formatted (`file:line:col: error[code]: …` + code frame). */
export function compileFile(file: string): CompiledFile {
  let compiled;
  try {
    compiled = compileRulesFile(file);
  } catch (error) {
    return { ok: false, messages: [`${file}: cannot compile the rules: ${error instanceof Error ? error.message : String(error)}`] };
  }
  const sources = compiled.sources;
  const show = (d: Diagnostic): string => formatDiagnostic(d, (path) => sources.get(path));
  if (!compiled.ok) return { ok: false, messages: compiled.diagnostics.map(show) };
  return { ok: true, rules: compiled.rules, warnings: compiled.warnings.map(show), sources };
}

/** Compile and pick the chain to run (startup). */
export function loadRules(file: string, chainName: string | null): LoadedRules {
  const compiled = compileFile(file);
  if (!compiled.ok) return compiled;
  const chain = selectChain(compiled.rules, chainName);
  if (!chain.ok) return { ok: false, messages: [`${file}: ${chain.error}`] };
  return { ok: true, rules: compiled.rules, chain: chain.value, warnings: compiled.warnings, sources: compiled.sources };
}

/**
 * `filter-rules check`: print every diagnostic; 0 when the rules are usable, 1
 * when not. Without --chain every chain is shown; with it, the name must exist.
 */
export function runCheck(file: string, chainName: string | null, io: CliIo): number {
  const compiled = compileFile(file);
  const problems = compiled.ok ? [] : [...compiled.messages];
  let chains: CompiledChain[] = [];
  if (compiled.ok) {
    if (chainName !== null) {
      const chain = selectChain(compiled.rules, chainName);
      if (chain.ok) chains = [chain.value];
      else problems.push(`${file}: ${chain.error}`);
    } else {
      chains = [...compiled.rules.chains.values()];
      if (chains.length === 0) problems.push(`${file}: the rules file defines no chain`);
    }
  }
  if (problems.length > 0) {
    // A blank line between diagnostics: each may carry a code frame.
    io.out(`${problems.join('\n\n')}\n`);
    io.out(`${file}: invalid (${problems.length} problem${problems.length === 1 ? '' : 's'})\n`);
    return 1;
  }
  const warnings = compiled.ok ? compiled.warnings : [];
  if (warnings.length > 0) io.out(`${warnings.join('\n\n')}\n\n`);
  io.out(`${file}: valid${warnings.length > 0 ? ` with ${warnings.length} warning(s)` : ''}\n`);
  for (const chain of chains) {
    io.out(`chain "${chain.name}": ${chain.steps.length} step(s)\n`);
    for (const line of describeSteps(chain)) io.out(`  ${line}\n`);
  }
  return 0;
}
