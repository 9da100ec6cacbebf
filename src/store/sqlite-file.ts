/**
 * Opening a store's SQLite file, the same for the greylist and the counter
 * stores (they may share one file): a missing directory is made 0750, a new
 * file 0600 whatever the umask (an existing file keeps the mode its admin
 * gave it), the journal is WAL with synchronous NORMAL (a commit does not
 * fsync: a power cut may lose the last few updates, which costs a sender one
 * more greylisting or a client a little more than its rate, once). Every
 * failure is a message naming the path and the errno; the store's own set-up
 * (schema, statements) runs inside, and a throw there closes the file.
 */
import { closeSync, constants as fsConstants, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { err, ok, type Result } from '../support/result.js';

/** An error as one line: fs errors already start with their errno name ("EACCES: permission denied, open '…'"). */
export function describeSqliteError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' && !e.message.startsWith(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}

export function openSqliteFile<T>(path: string, busyTimeoutMs: number, setUp: (db: Database.Database) => T): Result<T, string> {
  const dir = dirname(path);
  if (!existsSync(dir)) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o750 });
    } catch (e) {
      return err(`cannot create directory ${dir}: ${describeSqliteError(e)}`);
    }
  }
  try {
    closeSync(openSync(path, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o600));
  } catch (e) {
    return err(`cannot open ${path}: ${describeSqliteError(e)}`);
  }
  let db: Database.Database | null = null;
  try {
    db = new Database(path, { timeout: busyTimeoutMs });
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`cannot switch to WAL mode (journal_mode is ${String(mode)}); is ${dir} writable?`);
    db.pragma('synchronous = NORMAL');
    return ok(setUp(db));
  } catch (e) {
    db?.close();
    return err(`cannot open database ${path}: ${describeSqliteError(e)}`);
  }
}
