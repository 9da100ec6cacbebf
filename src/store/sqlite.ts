/**
 * The embedded store: one SQLite file (better-sqlite3, WAL), the default for
 * a single MX. better-sqlite3 is synchronous, so every call here is one tiny
 * transaction on prepared statements (tens of microseconds); the busy timeout
 * is short so that a second process holding the lock (an admin tool) can
 * never stall every session for long.
 */
import Database from 'better-sqlite3';
import { decide, type GreylistPolicy, type Verdict } from '../greylist/machine.js';
import type { Triplet } from '../greylist/triplet.js';
import { err, type Result } from '../support/result.js';
import { describeSqliteError, openSqliteFile } from './sqlite-file.js';
import {
  StoreError,
  type ClientEntry,
  type GreylistStore,
  type ListOptions,
  type ListPage,
  type StoreStats,
  type TripletEntry,
} from './types.js';

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS greylist_triplets (
  key        TEXT PRIMARY KEY,
  network    TEXT NOT NULL,
  sender     TEXT NOT NULL,
  recipient  TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen  INTEGER NOT NULL,
  passed     INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS greylist_triplets_expires ON greylist_triplets (expires_at);
CREATE TABLE IF NOT EXISTS greylist_clients (
  client     TEXT PRIMARY KEY,
  count      INTEGER NOT NULL,
  last_seen  INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS greylist_clients_expires ON greylist_clients (expires_at);
`;

interface TripletRow {
  key: string;
  network: string;
  sender: string;
  recipient: string;
  first_seen: number;
  last_seen: number;
  passed: number;
  expires_at: number;
}

interface ClientRow {
  client: string;
  count: number;
  last_seen: number;
  expires_at: number;
}

const toTriplet = (r: TripletRow): TripletEntry => ({
  key: r.key,
  network: r.network,
  sender: r.sender,
  recipient: r.recipient,
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
  passed: r.passed !== 0,
  expiresAt: r.expires_at,
});

const toClient = (r: ClientRow): ClientEntry => ({
  client: r.client,
  count: r.count,
  lastSeen: r.last_seen,
  expiresAt: r.expires_at,
});

export interface SqliteStoreOptions {
  /** How long a call may wait for a lock held by another process. Default 250 ms. */
  readonly busyTimeoutMs?: number;
}

function prepareStatements(db: Database.Database) {
  return {
    getTriplet: db.prepare<[string], TripletRow>('SELECT * FROM greylist_triplets WHERE key = ?'),
    getClient: db.prepare<[string], ClientRow>('SELECT * FROM greylist_clients WHERE client = ?'),
    putTriplet: db.prepare<[string, string, string, string, number, number, number, number]>(
      `INSERT INTO greylist_triplets (key, network, sender, recipient, first_seen, last_seen, passed, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET first_seen = excluded.first_seen, last_seen = excluded.last_seen,
         passed = excluded.passed, expires_at = excluded.expires_at`,
    ),
    putClient: db.prepare<[string, number, number, number]>(
      `INSERT INTO greylist_clients (client, count, last_seen, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (client) DO UPDATE SET count = excluded.count, last_seen = excluded.last_seen,
         expires_at = excluded.expires_at`,
    ),
    purgeTriplets: db.prepare<[number, number]>(
      `DELETE FROM greylist_triplets WHERE key IN
         (SELECT key FROM greylist_triplets WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
    ),
    purgeClients: db.prepare<[number, number]>(
      `DELETE FROM greylist_clients WHERE client IN
         (SELECT client FROM greylist_clients WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
    ),
    listTriplets: db.prepare<[string, number], TripletRow>(
      'SELECT * FROM greylist_triplets WHERE key > ? ORDER BY key LIMIT ?',
    ),
    listClients: db.prepare<[string, number], ClientRow>(
      'SELECT * FROM greylist_clients WHERE client > ? ORDER BY client LIMIT ?',
    ),
    deleteTriplet: db.prepare<[string]>('DELETE FROM greylist_triplets WHERE key = ?'),
    deleteClient: db.prepare<[string]>('DELETE FROM greylist_clients WHERE client = ?'),
    countTriplets: db.prepare<[number], { n: number; passed: number | null }>(
      'SELECT count(*) AS n, sum(passed) AS passed FROM greylist_triplets WHERE expires_at >= ?',
    ),
    countClients: db.prepare<[number], { n: number }>(
      'SELECT count(*) AS n FROM greylist_clients WHERE expires_at >= ?',
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

export class SqliteGreylistStore implements GreylistStore {
  readonly description: string;
  private closed = false;
  private readonly checkTx: (triplet: Triplet, policy: GreylistPolicy, now: number) => Verdict;

  constructor(
    private readonly db: Database.Database,
    private readonly st: Statements,
    description: string,
  ) {
    this.description = description;
    const tx = db.transaction((triplet: Triplet, policy: GreylistPolicy, now: number): Verdict => {
      const t = this.st.getTriplet.get(triplet.key);
      const c = this.st.getClient.get(triplet.client);
      const d = decide(policy, now, {
        triplet: t ? { firstSeen: t.first_seen, lastSeen: t.last_seen, passed: t.passed !== 0, expiresAt: t.expires_at } : null,
        client: c ? { count: c.count, lastSeen: c.last_seen, expiresAt: c.expires_at } : null,
      });
      if (d.triplet) {
        const r = d.triplet;
        this.st.putTriplet.run(
          triplet.key,
          triplet.network,
          triplet.sender,
          triplet.recipient,
          r.firstSeen,
          r.lastSeen,
          r.passed ? 1 : 0,
          r.expiresAt,
        );
      }
      if (d.client) this.st.putClient.run(triplet.client, d.client.count, d.client.lastSeen, d.client.expiresAt);
      return d.verdict;
    });
    // IMMEDIATE: take the write lock up front, so a concurrent writer makes us
    // wait (bounded) instead of failing the upgrade half-way with SQLITE_BUSY.
    this.checkTx = (triplet, policy, now) => tx.immediate(triplet, policy, now);
  }

  /** Run a synchronous database call, turning its exceptions into a named StoreError. */
  private call<T>(what: string, fn: () => T): T {
    if (this.closed) throw new StoreError(this.description, 'store is closed');
    try {
      return fn();
    } catch (e) {
      throw new StoreError(this.description, `${what} failed: ${describeSqliteError(e)}`, { cause: e });
    }
  }

  async check(triplet: Triplet, policy: GreylistPolicy, now: number): Promise<Verdict> {
    return this.call('check', () => this.checkTx(triplet, policy, now));
  }

  async purgeExpired(now: number, limit: number): Promise<number> {
    return this.call('purge', () => {
      const triplets = this.st.purgeTriplets.run(now, limit).changes;
      const clients = triplets < limit ? this.st.purgeClients.run(now, limit - triplets).changes : 0;
      return triplets + clients;
    });
  }

  async listTriplets(options: ListOptions): Promise<ListPage<TripletEntry>> {
    return this.call('list', () => {
      const limit = Math.max(1, options.limit);
      const rows = this.st.listTriplets.all(options.cursor ?? '', limit);
      const last = rows[rows.length - 1];
      return { items: rows.map(toTriplet), cursor: rows.length === limit && last ? last.key : null };
    });
  }

  async listClients(options: ListOptions): Promise<ListPage<ClientEntry>> {
    return this.call('list', () => {
      const limit = Math.max(1, options.limit);
      const rows = this.st.listClients.all(options.cursor ?? '', limit);
      const last = rows[rows.length - 1];
      return { items: rows.map(toClient), cursor: rows.length === limit && last ? last.client : null };
    });
  }

  async deleteTriplet(key: string): Promise<boolean> {
    return this.call('delete', () => this.st.deleteTriplet.run(key).changes > 0);
  }

  async deleteClient(client: string): Promise<boolean> {
    return this.call('delete', () => this.st.deleteClient.run(client).changes > 0);
  }

  async stats(now: number): Promise<StoreStats> {
    return this.call('stats', () => {
      const t = this.st.countTriplets.get(now);
      const c = this.st.countClients.get(now);
      return { triplets: t?.n ?? 0, passedTriplets: t?.passed ?? 0, clients: c?.n ?? 0 };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/**
 * Open (creating if needed) the database at `path`. A missing directory is
 * created with mode 0750 and a new file with 0600 (SQLite gives its -wal and
 * -shm files the database file's mode). Failures come back as one message
 * naming the path and the errno, e.g.
 * `greylist store sqlite:/var/lib/x/g.db: cannot open /var/lib/x/g.db: EACCES: permission denied, …`.
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Result<SqliteGreylistStore, string> {
  const description = `sqlite:${path}`;
  const opened = openSqliteFile(path, options.busyTimeoutMs ?? 250, (db) => {
    const version = Number(db.pragma('user_version', { simple: true }));
    if (version > SCHEMA_VERSION) {
      throw new Error(`the database has schema version ${version}, newer than this filter-rules understands (${SCHEMA_VERSION})`);
    }
    db.exec(SCHEMA);
    if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    return new SqliteGreylistStore(db, prepareStatements(db), description);
  });
  return opened.ok ? opened : err(new StoreError(description, opened.error).message);
}
