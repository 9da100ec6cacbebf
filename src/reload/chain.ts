/**
 * Which chain a filter process runs: the one named by --chain, or the only
 * chain of the file. Shared by startup and reload so both refuse the same
 * rules with the same words. Pure.
 */
import type { CompiledChain, CompiledRules } from '../dsl/plan.js';
import { err, ok, type Result } from '../support/result.js';

export type ChainSelector = (rules: CompiledRules) => Result<CompiledChain, string>;

export function selectChainByName(name: string | undefined): ChainSelector {
  return (rules) => {
    const names = [...rules.chains.keys()].sort();
    if (name !== undefined) {
      const chain = rules.chains.get(name);
      if (chain !== undefined) return ok(chain);
      return err(
        names.length === 0
          ? `chain "${name}" is not defined: the rules define no chain`
          : `chain "${name}" is not defined (chains: ${names.join(', ')})`,
      );
    }
    const only = names.length === 1 && names[0] !== undefined ? rules.chains.get(names[0]) : undefined;
    if (only !== undefined) return ok(only);
    return err(
      names.length === 0
        ? 'the rules define no chain'
        : `the rules define ${names.length} chains (${names.join(', ')}): choose one with --chain NAME`,
    );
  };
}
