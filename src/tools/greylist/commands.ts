/**
 * `filter-rules greylist list|delete|stats RULES-FILE`: look at and edit the
 * built-in greylisting state, in the store the rules' `greylist` step uses
 * (SQLite or Redis), or the one given with `--store URL`.
 *
 *   list   [--triplets|--clients] [--limit N] [--json] [TEXT...]
 *          tables of triplets (KEY = network/sender/recipient, as `delete`
 *          takes it) and client auto-whitelist records; TEXT shows only the
 *          rows containing one of the texts
 *   delete KEY|CLIENT...
 *          forget triplets (NETWORK/SENDER/RECIPIENT; a full client address
 *          and raw sender are normalised like the filter does) or client
 *          auto-whitelist records (an IP address)
 *   stats  [--json]
 *
 * Everything with effects is injected (compile, open, clock, output), so the
 * commands are tested against real SQLite and Redis stores and in memory.
 * Opening never creates anything: a SQLite file that does not exist yet is
 * reported, not created (a file created by root would lock the filter out).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { compileRulesFile, formatDiagnostic, type CompileResult } from '../../dsl/index.js';
import type { CompiledRules, GreylistStepOptions } from '../../dsl/plan.js';
import { GREYLIST_DEFAULTS } from '../../dsl/values.js';
import { formatIp, networkOf, parseIp } from '../../greylist/ip.js';
import { normalizeSender } from '../../greylist/sender.js';
import { openStore } from '../../store/open.js';
import type { ClientEntry, GreylistStore, ListPage, TripletEntry } from '../../store/types.js';
import { parseStoreUrl, redactStoreUrl } from '../../store/url.js';
import type { Clock } from '../../support/clock.js';
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

// --- which store ---------------------------------------------------------------

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

// --- running -------------------------------------------------------------------

export interface AdminIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

export interface GreylistAdminDeps {
  readonly io: AdminIo;
  readonly clock: Pick<Clock, 'now'>;
  readonly compile?: (file: string) => CompileResult;
  readonly open?: (url: string) => Promise<Result<GreylistStore, string>>;
}

/**
 * Opens a store for administration: never creates a SQLite file (run as root
 * it would be root's, and the filter could not open it), waits for Redis.
 */
export async function openStoreForAdmin(url: string): Promise<Result<GreylistStore, string>> {
  const spec = parseStoreUrl(url);
  if (!spec.ok) return spec;
  if (spec.value.kind === 'sqlite' && !existsSync(spec.value.path)) {
    return err(`${spec.value.path} does not exist: nothing is stored yet (the filter creates it when it starts)`);
  }
  const opened = openStore(url, { sqlite: { busyTimeoutMs: 2000 }, redis: { connectTimeoutMs: 3000, commandTimeoutMs: 5000 } });
  if (!opened.ok) return opened;
  const store = opened.value;
  const ready = (store as { whenReady?: (ms: number) => Promise<void> }).whenReady;
  if (typeof ready === 'function') {
    try {
      await ready.call(store, 5000);
    } catch (e) {
      await store.close().catch(() => undefined);
      return err(e instanceof Error ? e.message : String(e));
    }
  }
  return ok(store);
}

export async function runGreylistAdmin(cmd: GreylistCommand, deps: GreylistAdminDeps): Promise<number> {
  const { io } = deps;
  const compiled = (deps.compile ?? compileRulesFile)(cmd.rulesFile);
  if (!compiled.ok) {
    const show = (d: Parameters<typeof formatDiagnostic>[0]): string => formatDiagnostic(d, (p) => compiled.sources.get(p));
    io.err(`${compiled.diagnostics.map(show).join('\n\n')}\n${cmd.rulesFile}: invalid rules; fix them first (\`filter-rules check\`)\n`);
    return 1;
  }
  const selected = selectStore(compiled.rules, cmd.chain, cmd.store);
  if (!selected.ok) {
    io.err(`filter-rules greylist: ${cmd.rulesFile}: ${selected.error}\n`);
    return 1;
  }
  const shown = redactStoreUrl(selected.value.url);
  const opened = await (deps.open ?? openStoreForAdmin)(selected.value.url);
  if (!opened.ok) {
    io.err(`filter-rules greylist: store ${shown}: ${opened.error}\n`);
    return 1;
  }
  const store = opened.value;
  try {
    switch (cmd.action) {
      case 'stats':
        return await stats(store, selected.value, cmd, deps);
      case 'list':
        return await list(store, selected.value, cmd, deps);
      case 'delete':
        return await remove(store, selected.value, cmd, deps);
    }
  } catch (e) {
    io.err(`filter-rules greylist: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    await store.close().catch(() => undefined);
  }
}

function usedBy(sel: SelectedStore): string {
  if (sel.uses.length === 0) return 'no step of these rules (--store)';
  return sel.uses.map((u) => `chain ${u.chain} step #${u.index} (${u.where})`).join(', ');
}

async function stats(store: GreylistStore, sel: SelectedStore, cmd: GreylistCommand, deps: GreylistAdminDeps): Promise<number> {
  const s = await store.stats(deps.clock.now());
  if (cmd.json) {
    deps.io.out(`${JSON.stringify({ store: store.description, triplets: s.triplets, passedTriplets: s.passedTriplets, waitingTriplets: s.triplets - s.passedTriplets, clients: s.clients })}\n`);
    return 0;
  }
  deps.io.out(
    [
      `store     ${store.description}`,
      `used by   ${usedBy(sel)}`,
      `triplets  ${s.triplets} (${s.passedTriplets} passed, ${s.triplets - s.passedTriplets} waiting for a retry)`,
      `clients   ${s.clients} auto-whitelist record${s.clients === 1 ? '' : 's'}`,
      '',
    ].join('\n'),
  );
  return 0;
}

/** Every page, up to `limit` matching rows; also tells whether more matched. */
async function collect<T>(
  page: (cursor: string | null) => Promise<ListPage<T>>,
  matches: (item: T) => boolean,
  limit: number | null,
): Promise<{ items: T[]; more: boolean }> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (;;) {
    const p: ListPage<T> = await page(cursor);
    for (const item of p.items) {
      if (!matches(item)) continue;
      if (limit !== null && items.length >= limit) return { items, more: true };
      items.push(item);
    }
    cursor = p.cursor;
    if (cursor === null) return { items, more: false };
  }
}

/** `2026-11-25 12:00:00` (UTC). */
export function formatTime(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
}

/** Columns padded to the widest cell; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function tripletState(t: TripletEntry, now: number): string {
  if (t.expiresAt < now) return 'expired';
  return t.passed ? 'passed' : 'waiting';
}

function clientState(c: ClientEntry, now: number, threshold: number): string {
  if (c.expiresAt < now) return 'expired';
  return threshold > 0 && c.count >= threshold ? 'whitelisted' : 'counting';
}

async function list(store: GreylistStore, sel: SelectedStore, cmd: GreylistCommand, deps: GreylistAdminDeps): Promise<number> {
  const now = deps.clock.now();
  const needles = cmd.args.map((a) => a.toLowerCase());
  const hit = (text: string): boolean => needles.length === 0 || needles.some((n) => text.toLowerCase().includes(n));
  const threshold = sel.uses[0]?.options.autoWhitelistAfter ?? GREYLIST_DEFAULTS.autoWhitelistAfter;
  const out: string[] = [];
  if (!cmd.json) out.push(`store ${store.description}, used by ${usedBy(sel)}; times in UTC`);

  if (cmd.show !== 'clients') {
    const { items, more } = await collect((cursor) => store.listTriplets({ limit: 500, cursor }), (t) => hit(t.key), cmd.limit);
    items.sort((a, b) => a.key.localeCompare(b.key));
    if (cmd.json) {
      for (const t of items) out.push(JSON.stringify({ type: 'triplet', state: tripletState(t, now), ...t }));
    } else {
      out.push('', `triplets (${items.length}${more ? `, more not shown: --limit 0 shows all` : ''})`);
      const rows = items.map((t) => [tripletState(t, now), formatTime(t.firstSeen), formatTime(t.lastSeen), formatTime(t.expiresAt), t.key]);
      if (rows.length > 0) out.push(table(['STATE', 'FIRST SEEN', 'LAST SEEN', 'EXPIRES', 'KEY (network/sender/recipient)'], rows));
    }
  }
  if (cmd.show !== 'triplets') {
    const { items, more } = await collect((cursor) => store.listClients({ limit: 500, cursor }), (c) => hit(c.client), cmd.limit);
    items.sort((a, b) => a.client.localeCompare(b.client));
    if (cmd.json) {
      for (const c of items) out.push(JSON.stringify({ type: 'client', state: clientState(c, now, threshold), ...c }));
    } else {
      out.push('', `clients (${items.length}${more ? `, more not shown: --limit 0 shows all` : ''}; whitelisted from ${threshold} passes)`);
      const rows = items.map((c) => [clientState(c, now, threshold), String(c.count), formatTime(c.lastSeen), formatTime(c.expiresAt), c.client]);
      if (rows.length > 0) out.push(table(['STATE', 'PASSES', 'LAST SEEN', 'EXPIRES', 'CLIENT'], rows));
    }
  }
  if (out.length > 0) deps.io.out(`${out.join('\n')}\n`);
  return 0;
}

export type DeleteTarget =
  | { readonly kind: 'client'; readonly client: string }
  | { readonly kind: 'triplet'; readonly key: string; readonly written: string };

/**
 * What a `delete` argument names: an IP address is a client record; anything
 * else is `NETWORK/SENDER/RECIPIENT`, normalised as the filter builds keys
 * (client address → its network, sender tags folded, lower case).
 */
export function parseDeleteTarget(arg: string, prefixes: { ipv4Prefix: number; ipv6Prefix: number }): Result<DeleteTarget, string> {
  const ip = parseIp(arg);
  if (ip !== null) return ok({ kind: 'client', client: formatIp(ip) });
  const first = arg.indexOf('/');
  const last = arg.lastIndexOf('/');
  if (first < 0 || last === first) {
    return err(`"${arg}" is neither a client address nor a triplet NETWORK/SENDER/RECIPIENT`);
  }
  const network = parseIp(arg.slice(0, first));
  if (network === null) return err(`"${arg}": "${arg.slice(0, first)}" is not an address or network`);
  const sender = normalizeSender(arg.slice(first + 1, last));
  const recipient = arg.slice(last + 1).toLowerCase();
  return ok({ kind: 'triplet', key: `${networkOf(network, prefixes)}/${sender}/${recipient}`, written: arg });
}

async function remove(store: GreylistStore, sel: SelectedStore, cmd: GreylistCommand, deps: GreylistAdminDeps): Promise<number> {
  const prefixes = sel.uses[0]?.options ?? GREYLIST_DEFAULTS;
  let missing = 0;
  let bad = 0;
  for (const arg of cmd.args) {
    const target = parseDeleteTarget(arg, prefixes);
    if (!target.ok) {
      deps.io.err(`filter-rules greylist delete: ${target.error}\n`);
      bad++;
      continue;
    }
    const t = target.value;
    let deleted: boolean;
    let name: string;
    if (t.kind === 'client') {
      deleted = await store.deleteClient(t.client);
      name = `client ${t.client}`;
    } else {
      deleted = await store.deleteTriplet(t.key);
      // A key copied from another installation's listing may not be normalised like ours.
      if (!deleted && t.written !== t.key) deleted = await store.deleteTriplet(t.written);
      name = `triplet ${t.key}`;
    }
    if (deleted) deps.io.out(`deleted ${name}\n`);
    else {
      deps.io.out(`not found: ${name}\n`);
      missing++;
    }
  }
  return bad > 0 || missing > 0 ? 1 : 0;
}
