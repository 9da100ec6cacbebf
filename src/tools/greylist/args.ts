/**
 * `filter-rules greylist …` arguments → a GreylistCommand. Pure: no rules, no
 * store, no I/O, so every form and every mistake is unit-tested; mistakes come
 * back as messages. What the arguments name is select.ts's, running them is
 * commands.ts's.
 */
import { parseArgs } from 'node:util';
import { parseStoreUrl } from '../../store/url.js';
import { err, ok, type Result } from '../../support/result.js';

export type GreylistAction = 'list' | 'delete' | 'stats';

export interface GreylistCommand {
  readonly kind: 'greylist';
  readonly action: GreylistAction;
  readonly rulesFile: string;
  readonly chain: string | null;
  /** `--store URL`: this store instead of the one in the rules. */
  readonly store: string | null;
  /** list: which tables. */
  readonly show: 'both' | 'triplets' | 'clients';
  /** list: rows per table at most; null for all. */
  readonly limit: number | null;
  readonly json: boolean;
  /** list: texts to look for; delete: keys and client addresses. */
  readonly args: readonly string[];
}

export const GREYLIST_USAGE = `usage:
  filter-rules greylist list   [OPTIONS] [--triplets|--clients] [--limit N] [--json] RULES-FILE [TEXT...]
  filter-rules greylist delete [OPTIONS] RULES-FILE KEY|CLIENT...
  filter-rules greylist stats  [OPTIONS] [--json] RULES-FILE

  The store is the one the rules' greylist step uses (store "URL").
  KEY is NETWORK/SENDER/RECIPIENT as \`list\` shows it; CLIENT is an IP address
  (its auto-whitelist record).

options:
  --chain NAME   look only at this chain's greylist steps
  --store URL    use this store (sqlite:/path or redis://host:port/db) instead
  --triplets, --clients   list only that table
  --limit N      list at most N rows per table (default 1000; 0: all)
  --json         one JSON object per line
`;

export const DEFAULT_LIST_LIMIT = 1000;

const ACTIONS: readonly GreylistAction[] = ['list', 'delete', 'stats'];

/** The arguments after `greylist`. */
export function parseGreylistArgs(argv: readonly string[]): Result<GreylistCommand, string> {
  const [action, ...rest] = argv;
  if (action === undefined || !(ACTIONS as readonly string[]).includes(action)) {
    return err(`greylist: expected list, delete or stats${action === undefined ? '' : `, not "${action}"`}`);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        chain: { type: 'string' },
        store: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        triplets: { type: 'boolean' },
        clients: { type: 'boolean' },
      },
    });
  } catch (error) {
    return err(`greylist ${action}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { values, positionals } = parsed;
  const act = action as GreylistAction;
  const [rulesFile, ...args] = positionals;
  if (rulesFile === undefined) return err(`greylist ${act}: missing RULES-FILE`);
  if (values.chain === '') return err('--chain needs a name');
  if (values.store !== undefined) {
    const url = parseStoreUrl(values.store);
    if (!url.ok) return err(`--store: ${url.error}`);
  }
  if (act !== 'list' && (values.limit !== undefined || values.triplets === true || values.clients === true)) {
    return err(`greylist ${act}: --limit, --triplets and --clients are options of list`);
  }
  if (act === 'delete' && values.json === true) return err('greylist delete: --json is an option of list and stats');
  if (values.triplets === true && values.clients === true) return err('greylist list: --triplets or --clients, not both');
  let limit: number | null = DEFAULT_LIST_LIMIT;
  if (values.limit !== undefined) {
    if (!/^[0-9]{1,9}$/.test(values.limit)) return err(`--limit must be a whole number, not "${values.limit}"`);
    limit = Number(values.limit) === 0 ? null : Number(values.limit);
  }
  if (act === 'delete' && args.length === 0) return err('greylist delete: name at least one KEY (network/sender/recipient) or CLIENT address');
  if (act === 'stats' && args.length > 0) return err(`greylist stats: unexpected argument "${args[0] ?? ''}"`);
  return ok({
    kind: 'greylist',
    action: act,
    rulesFile,
    chain: values.chain ?? null,
    store: values.store ?? null,
    show: values.triplets === true ? 'triplets' : values.clients === true ? 'clients' : 'both',
    limit,
    json: values.json === true,
    args,
  });
}
