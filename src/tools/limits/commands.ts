/**
 * `filter-rules limits list|reset RULES-FILE`: look at and reset the limit
 * steps' counters in their store (SQLite or Redis), or the one given with
 * `--store URL`. Everything with effects is injected (compile, open, output),
 * as in the greylist tool. Opening never creates a SQLite file.
 */
import { existsSync } from 'node:fs';
import { compileRulesFile, formatCompileDiagnostic, type CompileResult } from '../../dsl/index.js';
import type { CompiledRules } from '../../model/plan.js';
import { openCounterStore } from '../../store/counter-open.js';
import type { CounterEntry, CounterStore } from '../../store/counter-types.js';
import type { ListPage } from '../../store/types.js';
import { parseCounterStoreUrl, redactStoreUrl } from '../../store/url.js';
import { err, ok, type Result } from '../../support/result.js';
import type { AdminIo } from '../greylist/commands.js';
import type { LimitsCommand } from './args.js';

export interface LimitsAdminDeps {
  readonly io: AdminIo;
  readonly compile?: (file: string) => CompileResult;
  readonly open?: (url: string) => Promise<Result<CounterStore, string>>;
}

/** The store to work on: --store, or the one store the limit steps name. */
export function selectCounterStore(rules: CompiledRules, store: string | null): Result<string, string> {
  if (store !== null) return ok(store);
  const urls = new Set<string>();
  for (const c of rules.chains.values()) for (const s of c.steps) if (s.action.kind === 'limit') urls.add(s.action.options.store);
  if (urls.size === 0) return err('no limit step: name the store with --store URL');
  if (urls.size > 1) return err(`the limit steps use ${urls.size} stores; pick one with --store URL: ${[...urls].map(redactStoreUrl).join(', ')}`);
  return ok([...urls][0] as string);
}

export async function openCounterStoreForAdmin(url: string): Promise<Result<CounterStore, string>> {
  const spec = parseCounterStoreUrl(url);
  if (!spec.ok) return spec;
  if (spec.value.kind === 'memory') return err('a memory: store lives inside the filter process; use a sqlite: or redis:// store to look at counters from outside');
  if (spec.value.kind === 'sqlite' && !existsSync(spec.value.path)) return err(`${spec.value.path} does not exist: nothing is stored yet (the filter creates it when it starts)`);
  const opened = openCounterStore(url, { redis: { connectTimeoutMs: 3000, commandTimeoutMs: 5000 } });
  if (!opened.ok) return opened;
  const ready = (opened.value as { whenReady?: (ms: number) => Promise<void> }).whenReady;
  if (typeof ready === 'function') {
    try {
      await ready.call(opened.value, 5000);
    } catch (e) {
      await opened.value.close().catch(() => undefined);
      return err(e instanceof Error ? e.message : String(e));
    }
  }
  return opened;
}

function row(e: CounterEntry): string {
  const what = e.kind === 'rate' ? `full again at ${new Date(e.tatMs).toISOString()}` : `${e.count} session${e.count === 1 ? '' : 's'} open`;
  return `${e.kind.padEnd(11)} ${e.key}  ${what}`;
}

export async function runLimitsAdmin(cmd: LimitsCommand, deps: LimitsAdminDeps): Promise<number> {
  const { io } = deps;
  const compiled = (deps.compile ?? compileRulesFile)(cmd.rulesFile);
  if (!compiled.ok) {
    io.err(`${compiled.diagnostics.map((d) => formatCompileDiagnostic(compiled, d)).join('\n\n')}\n${cmd.rulesFile}: invalid rules; fix them first (\`filter-rules check\`)\n`);
    return 1;
  }
  const url = selectCounterStore(compiled.rules, cmd.store);
  if (!url.ok) {
    io.err(`filter-rules limits: ${cmd.rulesFile}: ${url.error}\n`);
    return 1;
  }
  const opened = await (deps.open ?? openCounterStoreForAdmin)(url.value);
  if (!opened.ok) {
    io.err(`filter-rules limits: store ${redactStoreUrl(url.value)}: ${opened.error}\n`);
    return 1;
  }
  const store = opened.value;
  try {
    if (cmd.action === 'reset') {
      let missing = 0;
      for (const key of cmd.args) {
        const gone = await store.resetCounter(key);
        if (!gone) missing++;
        io.out(`${gone ? 'reset' : 'not found'}: ${key}\n`);
      }
      return missing === 0 ? 0 : 1;
    }
    let shown = 0;
    let cursor: string | null = null;
    do {
      const page: ListPage<CounterEntry> = await store.listCounters({ limit: 500, cursor });
      for (const e of page.items) {
        if (cmd.args.length > 0 && !cmd.args.some((t) => e.key.includes(t))) continue;
        if (cmd.limit !== null && shown >= cmd.limit) return 0;
        io.out(cmd.json ? `${JSON.stringify(e)}\n` : `${row(e)}\n`);
        shown++;
      }
      cursor = page.cursor;
    } while (cursor !== null);
    if (!cmd.json && shown === 0) io.out(`no counters in ${store.description}\n`);
    return 0;
  } catch (e) {
    io.err(`filter-rules limits: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    await store.close().catch(() => undefined);
  }
}
