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
 * The arguments are parsed in args.ts and what they name is chosen in
 * select.ts; this module runs the commands. Everything with effects is
 * injected (compile, open, clock, output), so the commands are tested against
 * real SQLite and Redis stores and in memory.
 * Opening never creates anything: a SQLite file that does not exist yet is
 * reported, not created (a file created by root would lock the filter out).
 */
import { existsSync } from 'node:fs';
import { compileRulesFile, formatCompileDiagnostic, type CompileResult } from '../../dsl/index.js';
import { greylistStep } from '../../steps/greylist/define.js';
import { openStore } from '../../store/open.js';
import type { ClientEntry, GreylistStore, ListPage, TripletEntry } from '../../store/types.js';
import { parseStoreUrl, redactStoreUrl } from '../../store/url.js';
import type { Clock } from '../../support/clock.js';
import { err, ok, type Result } from '../../support/result.js';
import type { GreylistCommand } from './args.js';
import { parseDeleteTarget, selectStore, type SelectedStore } from './select.js';

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
    const show = (d: Parameters<typeof formatCompileDiagnostic>[1]): string => formatCompileDiagnostic(compiled, d);
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

/** What a store nobody's greylist step uses falls back to: the greylist options' defaults. */
const GREYLIST = greylistStep.options;
const DEFAULT_PREFIXES = { ipv4Prefix: GREYLIST['ipv4-prefix'].default, ipv6Prefix: GREYLIST['ipv6-prefix'].default };

async function list(store: GreylistStore, sel: SelectedStore, cmd: GreylistCommand, deps: GreylistAdminDeps): Promise<number> {
  const now = deps.clock.now();
  const needles = cmd.args.map((a) => a.toLowerCase());
  const hit = (text: string): boolean => needles.length === 0 || needles.some((n) => text.toLowerCase().includes(n));
  const threshold = sel.uses[0]?.options.autoWhitelistAfter ?? GREYLIST['auto-whitelist'].default;
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

async function remove(store: GreylistStore, sel: SelectedStore, cmd: GreylistCommand, deps: GreylistAdminDeps): Promise<number> {
  const prefixes = sel.uses[0]?.options ?? DEFAULT_PREFIXES;
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
