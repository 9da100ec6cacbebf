/** `openStore(url)`: the one way the rest of the program gets a greylist store. */
import type { Logger } from '../support/log.js';
import type { Result } from '../support/result.js';
import { err, ok } from '../support/result.js';
import { openRedisStore, type RedisStoreOptions } from './redis.js';
import { openSqliteStore, type SqliteStoreOptions } from './sqlite.js';
import type { GreylistStore } from './types.js';
import { parseStoreUrl, redactStoreUrl } from './url.js';

export interface OpenStoreOptions {
  readonly log?: Logger;
  readonly sqlite?: SqliteStoreOptions;
  readonly redis?: Omit<RedisStoreOptions, 'log'>;
}

/**
 * Open the store a rules URL names. SQLite opens (and creates) the file now,
 * so a bad path or permission is reported here; Redis connects in the
 * background and reports an unreachable server on each check instead.
 */
export function openStore(url: string, options: OpenStoreOptions = {}): Result<GreylistStore, string> {
  const parsed = parseStoreUrl(url);
  if (!parsed.ok) return parsed;
  const spec = parsed.value;
  switch (spec.kind) {
    case 'sqlite': {
      const opened = openSqliteStore(spec.path, options.sqlite);
      return opened.ok ? ok(opened.value) : err(opened.error);
    }
    case 'redis': {
      const redisOptions: RedisStoreOptions = options.log ? { ...options.redis, log: options.log } : { ...options.redis };
      return ok(openRedisStore(spec, redactStoreUrl(url), redisOptions));
    }
  }
}
