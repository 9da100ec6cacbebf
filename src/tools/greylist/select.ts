/**
 * What a `greylist` command works on, read from the compiled rules and the
 * arguments: the store (--store, or the one the greylist steps name) with the
 * steps using it, and the record a `delete` argument names. Pure.
 */
import type { CompiledRules } from '../../model/plan.js';
import type { GreylistStepOptions } from '../../steps/greylist/define.js';
import { formatIp, parseIp, type NetworkPrefixes } from '../../greylist/ip.js';
import { tripletFromKey } from '../../greylist/triplet.js';
import { redactStoreUrl } from '../../store/url.js';
import { err, ok, type Result } from '../../support/result.js';

/** A greylist step that uses a store, for messages and its settings. */
export interface StoreUse {
  readonly url: string;
  readonly chain: string;
  readonly index: number;
  readonly where: string;
  readonly options: GreylistStepOptions;
}

export function greylistStepsOf(rules: CompiledRules, chain: string | null): StoreUse[] {
  const out: StoreUse[] = [];
  for (const c of rules.chains.values()) {
    if (chain !== null && c.name !== chain) continue;
    for (const s of c.steps) {
      if (s.action.kind !== 'greylist') continue;
      out.push({ url: s.action.options.store, chain: c.name, index: s.index, where: `${s.span.file}:${s.span.line}`, options: s.action.options });
    }
  }
  return out;
}

export interface SelectedStore {
  readonly url: string;
  /** The steps using it (empty for a --store the rules do not name). */
  readonly uses: readonly StoreUse[];
}

/** The store to work on: --store, or the one store the greylist steps name. */
export function selectStore(rules: CompiledRules, chain: string | null, store: string | null): Result<SelectedStore, string> {
  if (chain !== null && !rules.chains.has(chain)) {
    return err(`no chain "${chain}" in the rules (chains: ${[...rules.chains.keys()].join(', ') || 'none'})`);
  }
  const steps = greylistStepsOf(rules, chain);
  if (store !== null) return ok({ url: store, uses: steps.filter((s) => s.url === store) });
  const urls = [...new Set(steps.map((s) => s.url))];
  if (urls.length === 0) {
    return err(`no greylist step${chain === null ? '' : ` in chain "${chain}"`}: name the store with --store URL`);
  }
  if (urls.length > 1) {
    const list = urls.map((u) => `  ${redactStoreUrl(u)} (${steps.filter((s) => s.url === u).map((s) => s.where).join(', ')})`).join('\n');
    return err(`the greylist steps use ${urls.length} stores; pick one with --store URL or --chain NAME:\n${list}`);
  }
  const url = urls[0] as string;
  return ok({ url, uses: steps });
}

export type DeleteTarget =
  | { readonly kind: 'client'; readonly client: string }
  | { readonly kind: 'triplet'; readonly key: string; readonly written: string };

/**
 * What a `delete` argument names: an IP address is a client record; anything
 * else is `NETWORK/SENDER/RECIPIENT`, normalised as the filter builds keys
 * (client address → its network, sender tags folded, lower case), by the
 * triplet module that builds them.
 */
export function parseDeleteTarget(arg: string, prefixes: NetworkPrefixes): Result<DeleteTarget, string> {
  const ip = parseIp(arg);
  if (ip !== null) return ok({ kind: 'client', client: formatIp(ip) });
  const triplet = tripletFromKey(arg, prefixes);
  if (triplet.ok) return ok({ kind: 'triplet', key: triplet.value.key, written: arg });
  const why = triplet.error;
  switch (why.kind) {
    case 'not-a-key':
      return err(`"${arg}" is neither a client address nor a triplet NETWORK/SENDER/RECIPIENT`);
    case 'bad-network':
      return err(`"${arg}": "${why.network}" is not an address or network`);
  }
}
