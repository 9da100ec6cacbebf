/**
 * Which chain of a rules file the filter runs: the only one, or the one named
 * with --chain. Used at startup and on every reload (a reload keeps the name).
 */
import { closest } from '../support/closest.js';
import { err, ok, type Result } from '../support/result.js';
import type { CompiledChain, CompiledRules } from './plan.js';

export function selectChain(rules: CompiledRules, name: string | null): Result<CompiledChain, string> {
  const names = [...rules.chains.keys()];
  const list = names.map((n) => `"${n}"`).join(', ');
  if (name === null) {
    const only = names.length === 1 ? rules.chains.get(names[0] as string) : undefined;
    if (only !== undefined) return ok(only);
    if (names.length === 0) return err('the rules file defines no chain');
    return err(`the rules file defines ${names.length} chains (${list}); choose one with --chain NAME`);
  }
  const chain = rules.chains.get(name);
  if (chain !== undefined) return ok(chain);
  if (names.length === 0) return err(`no chain named "${name}": the rules file defines no chain`);
  const guess = closest(name, names);
  return err(
    guess !== null
      ? `no chain named "${name}"; did you mean "${guess}"? (chains: ${list})`
      : `no chain named "${name}"; the rules file defines ${list}`,
  );
}
