/** `openCounterStore(url)`: the one way the rest of the program gets a counter store. */
import type { Logger } from '../support/log.js';
import { err, ok, type Result } from '../support/result.js';
import { MemoryCounterStore } from './counter-memory.js';
import { RedisCounterStore } from './counter-redis.js';
import { openSqliteCounterStore } from './counter-sqlite.js';
import type { CounterStore } from './counter-types.js';
import type { RedisStoreOptions } from './redis-connection.js';
import { parseCounterStoreUrl, redactStoreUrl } from './url.js';

export interface OpenCounterStoreOptions {
  readonly log?: Logger;
  readonly redis?: Omit<RedisStoreOptions, 'log'>;
}

/** As openStore: SQLite opens the file now; Redis connects in the background; memory is at once. */
export function openCounterStore(url: string, options: OpenCounterStoreOptions = {}): Result<CounterStore, string> {
  const parsed = parseCounterStoreUrl(url);
  if (!parsed.ok) return parsed;
  const spec = parsed.value;
  switch (spec.kind) {
    case 'memory':
      return ok(new MemoryCounterStore(spec.maxEntries, url));
    case 'sqlite': {
      const opened = openSqliteCounterStore(spec.path);
      return opened.ok ? ok(opened.value) : err(opened.error);
    }
    case 'redis': {
      const redisOptions: RedisStoreOptions = options.log ? { ...options.redis, log: options.log } : { ...options.redis };
      return ok(new RedisCounterStore(spec, redactStoreUrl(url), redisOptions));
    }
  }
}
