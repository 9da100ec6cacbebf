/**
 * Store URLs as written in rules (`store "sqlite:/var/lib/filter-rules/greylist.db"`).
 * Pure, so the rules checker can validate a URL at compile time with the
 * same messages the runtime would give.
 *
 *   sqlite:/abs/path.db            (also sqlite:///abs/path.db)
 *   redis://[[user]:pass@]host[:port][/db][?prefix=P]   (valkey:// is the same)
 *   redis+unix:///run/redis/redis.sock[?db=N&prefix=P]
 *   memory:[?max=N]                (counter stores only: one host, bounded)
 */
import { isAbsolute } from 'node:path';
import { err, ok, type Result } from '../support/result.js';

export const DEFAULT_REDIS_PREFIX = 'filter-rules:greylist:';
/** The counter stores' default prefix, so greylisting and limits can share one Redis database. */
export const DEFAULT_COUNTER_PREFIX = 'filter-rules:limit:';
/** The memory counter store's default bound on keys (of each sort). */
export const DEFAULT_MEMORY_COUNTER_ENTRIES = 100_000;

export type StoreUrl =
  | { readonly kind: 'sqlite'; readonly path: string }
  | {
      readonly kind: 'redis';
      readonly connection:
        | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
        | { readonly kind: 'unix'; readonly path: string };
      readonly db: number;
      readonly username: string | null;
      readonly password: string | null;
      /** Prepended to every key, so several installations can share one Redis. */
      readonly prefix: string;
    };

function parseDb(text: string, url: string): Result<number, string> {
  if (text === '') return ok(0);
  if (!/^[0-9]{1,5}$/.test(text)) return err(`store ${url}: database must be a number, got ${JSON.stringify(text)}`);
  return ok(Number(text));
}

export function parseStoreUrl(url: string): Result<StoreUrl, string> {
  if (url.startsWith('sqlite:')) {
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') return err(`store ${url}: missing file path (e.g. sqlite:/var/lib/filter-rules/greylist.db)`);
    if (!isAbsolute(path)) {
      return err(`store ${url}: the path must be absolute (smtpd starts the filter in "/")`);
    }
    return ok({ kind: 'sqlite', path });
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return err(`store ${JSON.stringify(url)}: not a store URL (use sqlite:/path or redis://host:port/db)`);
  }
  const prefix = parsed.searchParams.get('prefix') ?? DEFAULT_REDIS_PREFIX;
  const username = parsed.username === '' ? null : decodeURIComponent(parsed.username);
  const password = parsed.password === '' ? null : decodeURIComponent(parsed.password);
  switch (parsed.protocol) {
    case 'redis:':
    case 'valkey:': {
      const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
      if (host === '') return err(`store ${redactStoreUrl(url)}: missing host`);
      const port = parsed.port === '' ? 6379 : Number(parsed.port);
      const db = parseDb(parsed.pathname.replace(/^\//, ''), redactStoreUrl(url));
      if (!db.ok) return db;
      return ok({ kind: 'redis', connection: { kind: 'tcp', host, port }, db: db.value, username, password, prefix });
    }
    case 'redis+unix:':
    case 'valkey+unix:': {
      const path = decodeURIComponent(parsed.pathname);
      if (!isAbsolute(path) || path === '/') {
        return err(`store ${redactStoreUrl(url)}: needs an absolute socket path (redis+unix:///run/redis/redis.sock)`);
      }
      const db = parseDb(parsed.searchParams.get('db') ?? '', redactStoreUrl(url));
      if (!db.ok) return db;
      return ok({ kind: 'redis', connection: { kind: 'unix', path }, db: db.value, username, password, prefix });
    }
    default:
      return err(
        `store ${redactStoreUrl(url)}: unknown scheme ${JSON.stringify(parsed.protocol.replace(/:$/, ''))} ` +
          '(use sqlite:/path, redis://host:port/db or redis+unix:///path)',
      );
  }
}

/** The URL with a password replaced by `***`, for logs. */
export function redactStoreUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^/@:]*:)[^/@]*@/i, '$1***@');
}

/** A counter store's URL: a greylist store's, or `memory:` (one host; `memory:?max=N` keys at most). */
export type CounterStoreUrl = StoreUrl | { readonly kind: 'memory'; readonly maxEntries: number };

export function parseCounterStoreUrl(url: string): Result<CounterStoreUrl, string> {
  if (url === 'memory:' || url.startsWith('memory:?')) {
    const query = new URLSearchParams(url.slice('memory:'.length));
    const max = query.get('max');
    for (const name of query.keys()) {
      if (name !== 'max') return err(`store ${url}: unknown parameter ${JSON.stringify(name)} (memory: takes only max=N)`);
    }
    if (max === null) return ok({ kind: 'memory', maxEntries: DEFAULT_MEMORY_COUNTER_ENTRIES });
    if (!/^[0-9]{1,9}$/.test(max) || Number(max) < 1) return err(`store ${url}: max must be a whole number from 1 to 999999999, got ${JSON.stringify(max)}`);
    return ok({ kind: 'memory', maxEntries: Number(max) });
  }
  if (url.startsWith('memory')) return err(`store ${JSON.stringify(url)}: a memory store is written memory: or memory:?max=N`);
  const parsed = parseStoreUrl(url);
  if (!parsed.ok || parsed.value.kind !== 'redis') return parsed;
  // Without ?prefix=, counters get their own prefix, not the greylist's.
  const explicit = /[?&]prefix=/.test(url);
  return explicit ? parsed : ok({ ...parsed.value, prefix: DEFAULT_COUNTER_PREFIX });
}
