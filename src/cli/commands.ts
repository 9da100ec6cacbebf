/**
 * What the CLI does, with its I/O injected (the process wiring is app.ts).
 * `check` and startup compile the same way and pick the chain with the same
 * function as the running host (so their messages agree).
 */
import { compileRulesFile, formatCompileDiagnostic, type Diagnostic } from '../dsl/index.js';
import type { CompiledChain, CompiledRules } from '../model/plan.js';
import { describeSteps } from '../runtime/plan.js';
import { selectChain } from '../model/select-chain.js';

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

/** Compile a rules file; problems come back formatted (`file:line:col: error[code]: …` + code frame in the rules file). */
export function compileFile(file: string): CompiledFile {
  let compiled;
  try {
    compiled = compileRulesFile(file);
  } catch (error) {
    return { ok: false, messages: [`${file}: cannot compile the rules: ${error instanceof Error ? error.message : String(error)}`] };
  }
  const sources = compiled.sources;
  // List files' lines are never shown (they may hold secrets): see formatCompileDiagnostic.
  const show = (d: Diagnostic): string => formatCompileDiagnostic(compiled, d);
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
  if (compiled.ok) io.out(dataLineNote(compiled.rules));
  return 0;
}

/**
 * `check` compiles as a filter starting with the file would, so it never warns
 * that data-line is missing (W008, a reload-time warning). Registration is
 * fixed at startup, though, so say which steps need it: added by a reload to a
 * filter started without them, they need an smtpd restart. Every chain counts:
 * the filter registers data-line when any chain of its file needs it.
 */
function dataLineNote(rules: CompiledRules): string {
  const steps = [...rules.chains.values()].flatMap((chain) => chain.steps.filter((step) => step.needsDataLine === true).map((step) => ({ chain, step })));
  if (steps.length === 0) return '';
  const lines = [
    `note: ${steps.length === 1 ? '1 step needs' : `${steps.length} steps need`} the message lines (smtpd's data-line phase), to add headers:`,
    ...steps.map(({ chain, step }) => {
      return `  ${step.span.file}:${step.span.line}:${step.span.column}: ${step.name} at ${step.phase} (chain "${chain.name}")`;
    }),
    '  smtpd sends message lines only to a filter that asked for them when smtpd started it, and a filter',
    '  started with this file asks. A hot reload cannot ask later: if it adds such a step to a filter',
    '  started without one, the step runs without adding headers until smtpd is restarted.',
  ];
  return `${lines.join('\n')}\n`;
}
