/**
 * `filter-rules limits …` arguments → a LimitsCommand. Pure, as the greylist
 * tool's args.ts: mistakes come back as messages.
 */
import { parseArgs } from 'node:util';
import { parseCounterStoreUrl } from '../../store/url.js';
import { err, ok, type Result } from '../../support/result.js';

export type LimitsAction = 'list' | 'reset';

export interface LimitsCommand {
  readonly kind: 'limits';
  readonly action: LimitsAction;
  readonly rulesFile: string;
  /** `--store URL`: this store instead of the one the rules' limit steps name. */
  readonly store: string | null;
  /** list: rows at most; null for all. */
  readonly limit: number | null;
  readonly json: boolean;
  /** list: texts to look for; reset: the keys. */
  readonly args: readonly string[];
}

export const LIMITS_USAGE = `usage:
  filter-rules limits list  [--store URL] [--limit N] [--json] RULES-FILE [TEXT...]
  filter-rules limits reset [--store URL] RULES-FILE KEY...

  The store is the one the rules' limit steps use (store "URL"); a "memory:"
  store lives inside the filter process and cannot be looked at from outside.
  KEY is a counter's key as \`list\` shows it (like postfwd's --delrate).

options:
  --store URL    use this store (sqlite:/path or redis://host:port/db) instead
  --limit N      list at most N counters (default 1000; 0: all)
  --json         one JSON object per line
`;

export function parseLimitsArgs(argv: readonly string[]): Result<LimitsCommand, string> {
  const [action, ...rest] = argv;
  if (action !== 'list' && action !== 'reset') return err(`limits: expected list or reset${action === undefined ? '' : `, not "${action}"`}`);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: { store: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
    });
  } catch (error) {
    return err(`limits ${action}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { values, positionals } = parsed;
  const [rulesFile, ...args] = positionals;
  if (rulesFile === undefined) return err(`limits ${action}: missing RULES-FILE`);
  if (values.store !== undefined) {
    const url = parseCounterStoreUrl(values.store);
    if (!url.ok) return err(`--store: ${url.error}`);
  }
  if (action === 'reset' && (values.limit !== undefined || values.json === true)) return err('limits reset: --limit and --json are options of list');
  if (action === 'reset' && args.length === 0) return err('limits reset: name at least one KEY');
  let limit: number | null = 1000;
  if (values.limit !== undefined) {
    if (!/^[0-9]{1,9}$/.test(values.limit)) return err(`--limit must be a whole number, not "${values.limit}"`);
    limit = Number(values.limit) === 0 ? null : Number(values.limit);
  }
  return ok({ kind: 'limits', action, rulesFile, store: values.store ?? null, limit, json: values.json === true, args });
}
