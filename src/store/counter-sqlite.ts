/**
 * The counter store in one SQLite file (better-sqlite3, WAL), as the
 * greylist store keeps its triplets (sqlite.ts): each call is one small
 * IMMEDIATE transaction running limits/' pure cores. Its tables may share a
 * file with the greylist tables; it does not touch the file's user_version,
 * which is the greylist schema's.
 */
import Database from 'better-sqlite3';
import { admit, release, type Admission, type ConcurrencySpec, type Member } from '../limits/concurrency.js';
import { consume, type CountMode, type GcraOutcome, type RateSpec } from '../limits/gcra.js';
import { err, type Result } from '../support/result.js';
import { describeSqliteError, openSqliteFile } from './sqlite-file.js';
import { CounterStoreError, type CounterEntry, type CounterStore } from './counter-types.js';
import type { ListOptions, ListPage } from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS limit_rates (
  key        TEXT PRIMARY KEY,
  tat_ms     INTEGER NOT NULL,
  frac       INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS limit_rates_expires ON limit_rates (expires_at);
CREATE TABLE IF NOT EXISTS limit_sessions (
  key        TEXT NOT NULL,
  member     TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (key, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS limit_sessions_expires ON limit_sessions (expires_at);
`;

interface RateRow {
  key: string;
  tat_ms: number;
  frac: number;
  expires_at: number;
}

function prepare(db: Database.Database) {
  return {
    getRate: db.prepare<[string], RateRow>('SELECT * FROM limit_rates WHERE key = ?'),
    putRate: db.prepare<[string, number, number, number]>(
      `INSERT INTO limit_rates (key, tat_ms, frac, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET tat_ms = excluded.tat_ms, frac = excluded.frac, expires_at = excluded.expires_at`,
    ),
    members: db.prepare<[string], { member: string; expires_at: number }>('SELECT member, expires_at FROM limit_sessions WHERE key = ?'),
    deleteMembers: db.prepare<[string]>('DELETE FROM limit_sessions WHERE key = ?'),
    putMember: db.prepare<[string, string, number]>('INSERT INTO limit_sessions (key, member, expires_at) VALUES (?, ?, ?)'),
    purgeRates: db.prepare<[number, number]>(
      'DELETE FROM limit_rates WHERE key IN (SELECT key FROM limit_rates WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)',
    ),
    purgeMembers: db.prepare<[number, number]>(
      `DELETE FROM limit_sessions WHERE (key, member) IN (SELECT key, member FROM limit_sessions WHERE expires_at <= ? LIMIT ?)`,
    ),
    list: db.prepare<[string, string, number], { kind: 'rate' | 'concurrency'; key: string; a: number; expires_at: number }>(
      `SELECT * FROM (
         SELECT 'rate' AS kind, key, tat_ms AS a, expires_at FROM limit_rates
         UNION ALL
         SELECT 'concurrency' AS kind, key, count(*) AS a, max(expires_at) AS expires_at FROM limit_sessions GROUP BY key
       ) WHERE key || char(0) || kind > ? || char(0) || ? ORDER BY key, kind LIMIT ?`,
    ),
    deleteRate: db.prepare<[string]>('DELETE FROM limit_rates WHERE key = ?'),
  };
}

type Statements = ReturnType<typeof prepare>;

export class SqliteCounterStore implements CounterStore {
  readonly description: string;
  private closed = false;
  private readonly consumeTx: (key: string, spec: RateSpec, cost: number, mode: CountMode, now: number) => GcraOutcome;
  private readonly admitTx: (key: string, member: string, spec: ConcurrencySpec, now: number) => Admission;
  private readonly releaseTx: (key: string, member: string, now: number) => void;

  constructor(
    private readonly db: Database.Database,
    private readonly st: Statements,
    description: string,
  ) {
    this.description = description;
    const consumeTx = db.transaction((key: string, spec: RateSpec, cost: number, mode: CountMode, now: number): GcraOutcome => {
      const row = st.getRate.get(key);
      const step = consume(spec, row ? { tatMs: row.tat_ms, frac: row.frac } : null, now, cost, mode);
      if (step.write) st.putRate.run(key, step.write.tatMs, step.write.frac, step.expiresAt);
      return step.outcome;
    });
    const membersOf = (key: string): Member[] => st.members.all(key).map((r) => ({ id: r.member, expiresAt: r.expires_at }));
    const store = (key: string, members: readonly Member[]): void => {
      st.deleteMembers.run(key);
      for (const m of members) st.putMember.run(key, m.id, m.expiresAt);
    };
    const admitTx = db.transaction((key: string, member: string, spec: ConcurrencySpec, now: number): Admission => {
      const r = admit(spec, membersOf(key), member, now);
      store(key, r.members);
      return r.admission;
    });
    const releaseTx = db.transaction((key: string, member: string, now: number): void => store(key, release(membersOf(key), member, now)));
    // IMMEDIATE: the write lock up front, as the greylist store takes it.
    this.consumeTx = (...a) => consumeTx.immediate(...a);
    this.admitTx = (...a) => admitTx.immediate(...a);
    this.releaseTx = (...a) => releaseTx.immediate(...a);
  }

  private call<T>(what: string, fn: () => T): T {
    if (this.closed) throw new CounterStoreError(this.description, 'store is closed');
    try {
      return fn();
    } catch (e) {
      throw new CounterStoreError(this.description, `${what} failed: ${describeSqliteError(e)}`, { cause: e });
    }
  }

  async consume(key: string, spec: RateSpec, cost: number, mode: CountMode, now: number): Promise<GcraOutcome> {
    return this.call('consume', () => this.consumeTx(key, spec, cost, mode, now));
  }

  async acquire(key: string, member: string, spec: ConcurrencySpec, now: number): Promise<Admission> {
    return this.call('acquire', () => this.admitTx(key, member, spec, now));
  }

  async release(key: string, member: string, now: number): Promise<void> {
    this.call('release', () => this.releaseTx(key, member, now));
  }

  async listCounters(options: ListOptions): Promise<ListPage<CounterEntry>> {
    return this.call('list', () => {
      const limit = Math.max(1, options.limit);
      const [afterKey, afterKind] = options.cursor ? (JSON.parse(options.cursor) as [string, string]) : ['', ''];
      const rows = this.st.list.all(afterKey, afterKind, limit);
      const items: CounterEntry[] = rows.map((r) =>
        r.kind === 'rate'
          ? { kind: 'rate', key: r.key, tatMs: r.a, expiresAt: r.expires_at }
          : { kind: 'concurrency', key: r.key, count: r.a, expiresAt: r.expires_at },
      );
      const last = rows[rows.length - 1];
      return { items, cursor: rows.length === limit && last ? JSON.stringify([last.key, last.kind]) : null };
    });
  }

  async resetCounter(key: string): Promise<boolean> {
    return this.call('reset', () => this.st.deleteRate.run(key).changes + this.st.deleteMembers.run(key).changes > 0);
  }

  async purgeExpired(now: number, limit: number): Promise<number> {
    return this.call('purge', () => {
      const rates = this.st.purgeRates.run(now, limit).changes;
      return rates + (rates < limit ? this.st.purgeMembers.run(now, limit - rates).changes : 0);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/** Open (creating if needed) the counter tables in the file at `path`: a new directory 0750, a new file 0600. */
export function openSqliteCounterStore(path: string, busyTimeoutMs = 250): Result<SqliteCounterStore, string> {
  const description = `sqlite:${path}`;
  const opened = openSqliteFile(path, busyTimeoutMs, (db) => {
    db.exec(SCHEMA);
    return new SqliteCounterStore(db, prepare(db), description);
  });
  return opened.ok ? opened : err(new CounterStoreError(description, opened.error).message);
}
