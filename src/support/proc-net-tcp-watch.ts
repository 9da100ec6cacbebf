/**
 * Watches the kernel's view of many connections at once: every paused
 * session registers its address pair, and ONE read of /proc/net/tcp (and/or
 * tcp6) per tick answers for all of them. Nothing runs while nobody watches.
 *
 * Per connection the listener hears, at most once each:
 *   - `talked`: the client sent bytes that smtpd has not read (it reads
 *     nothing before the banner), while the connection is established;
 *   - `gone`: the client closed (CLOSE_WAIT) or the row disappeared (reset)
 *     after it had been seen;
 *   - `unobservable`: the row was not in a table read after the watch began
 *     (another network namespace, an address we cannot map), or the tables
 *     cannot be read (not Linux). The watch ends; the caller carries on as if
 *     there were no watcher. A connection that was never seen is never called
 *     gone: a wrong mapping must not end anybody's pause.
 *
 * The clock and the table reader are injected, so tests drive ticks with a
 * FakeClock and feed table texts.
 */
import { readFile } from 'node:fs/promises';
import type { Clock, TimerHandle } from './clock.js';
import { rowKeys, scanSocketTable, TCP_CLOSE_WAIT, TCP_ESTABLISHED, type Endpoints, type SocketRow, type TableName } from './proc-net-tcp.js';

export type ConnectionEvent =
  | { readonly kind: 'talked'; readonly bytes: number }
  | { readonly kind: 'gone'; readonly how: 'closed' | 'vanished' }
  | { readonly kind: 'unobservable'; readonly reason: string };

export interface WatchHandle {
  /** Stop watching (idempotent). */
  cancel(): void;
}

/** Reads one table; resolves null when it does not exist (e.g. IPv6 disabled), rejects on other errors. */
export type TableReader = (table: TableName) => Promise<string | null>;

export const PROC_NET_FILES: Readonly<Record<TableName, string>> = { tcp: '/proc/net/tcp', tcp6: '/proc/net/tcp6' };

export const readProcNetTable: TableReader = async (table) => {
  try {
    return await readFile(PROC_NET_FILES[table], 'latin1');
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return null;
    throw e;
  }
};

export interface SocketWatcherOptions {
  readonly clock: Clock;
  /** Time between reads while something is watched. Default 250 ms. */
  readonly intervalMs?: number;
  readonly read?: TableReader;
  /** After both tables failed to read, no read is tried for this long. Default 60 s. */
  readonly retryUnavailableMs?: number;
  /** Told once per outage when the tables cannot be read. */
  readonly onUnavailable?: (reason: string) => void;
}

export interface SocketWatcherStats {
  readonly watching: number;
  readonly scans: number;
  readonly tableReads: number;
  readonly rowsLastScan: number;
  readonly unavailable: string | null;
}

interface Watch {
  readonly keys: { readonly tcp: string | null; readonly tcp6: string };
  readonly listener: (event: ConnectionEvent) => void;
  /** Scans numbered below this started before the watch: they prove nothing about it. */
  readonly firstScan: number;
  /** The table its row was found in. */
  table: TableName | null;
  talked: boolean;
  done: boolean;
  /** Set during a scan when the row was present. */
  hit: SocketRow | null;
}

export const DEFAULT_WATCH_INTERVAL_MS = 250;

export class SocketTableWatcher {
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly read: TableReader;
  private readonly retryUnavailableMs: number;
  private readonly onUnavailable: (reason: string) => void;
  private readonly watches = new Set<Watch>();
  private timer: TimerHandle | null = null;
  private scanning = false;
  private scanSeq = 0;
  private scans = 0;
  private tableReads = 0;
  private rowsLastScan = 0;
  private unavailable: { reason: string; until: number } | null = null;

  constructor(options: SocketWatcherOptions) {
    this.clock = options.clock;
    this.intervalMs = options.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
    this.read = options.read ?? readProcNetTable;
    this.retryUnavailableMs = options.retryUnavailableMs ?? 60_000;
    this.onUnavailable = options.onUnavailable ?? (() => {});
    if (!(this.intervalMs > 0) || !Number.isFinite(this.intervalMs)) {
      throw new RangeError(`SocketTableWatcher: intervalMs must be a positive number, got ${this.intervalMs}`);
    }
  }

  /**
   * Watch one connection. Returns null (and never calls the listener) when it
   * cannot be watched at all: not two IP endpoints, or the tables are known
   * to be unreadable.
   */
  watch(endpoints: Endpoints, listener: (event: ConnectionEvent) => void): WatchHandle | null {
    const keys = rowKeys(endpoints);
    if (keys === null) return null;
    if (this.unavailable !== null) {
      if (this.clock.monotonic() < this.unavailable.until) return null;
      this.unavailable = null;
    }
    // A scan in flight started before this watch: only the next one counts.
    const w: Watch = { keys, listener, firstScan: this.scanSeq + 1, table: null, talked: false, done: false, hit: null };
    this.watches.add(w);
    this.schedule();
    return {
      cancel: () => {
        w.done = true;
        this.watches.delete(w);
      },
    };
  }

  stats(): SocketWatcherStats {
    return {
      watching: this.watches.size,
      scans: this.scans,
      tableReads: this.tableReads,
      rowsLastScan: this.rowsLastScan,
      unavailable: this.unavailable?.reason ?? null,
    };
  }

  /** Forget every watch without telling anybody (shutdown). */
  close(): void {
    for (const w of this.watches) w.done = true;
    this.watches.clear();
    this.timer?.cancel();
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer !== null || this.scanning || this.watches.size === 0) return;
    this.timer = this.clock.setTimer(this.intervalMs, () => {
      this.timer = null;
      void this.scan();
    });
  }

  private async scan(): Promise<void> {
    if (this.watches.size === 0) return;
    this.scanning = true;
    const seq = ++this.scanSeq;
    const started = this.clock.monotonic();
    try {
      await this.scanOnce(seq);
    } finally {
      this.scanning = false;
    }
    // Keep the rhythm: a slow read shortens the wait before the next one.
    if (this.watches.size > 0 && this.timer === null) {
      const wait = Math.max(0, this.intervalMs - (this.clock.monotonic() - started));
      this.timer = this.clock.setTimer(wait, () => {
        this.timer = null;
        void this.scan();
      });
    }
  }

  private async scanOnce(seq: number): Promise<void> {
    const live = [...this.watches];
    // Read only the tables where some row can be: its known table, or every candidate.
    const needed = new Set<TableName>();
    for (const w of live) {
      if (w.table !== null) needed.add(w.table);
      else {
        if (w.keys.tcp !== null) needed.add('tcp');
        needed.add('tcp6');
      }
    }
    const texts = new Map<TableName, string | null>();
    const failures: string[] = [];
    await Promise.all(
      [...needed].map(async (table) => {
        try {
          this.tableReads++;
          texts.set(table, await this.read(table));
        } catch (e) {
          failures.push(`${table}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }),
    );
    this.scans++;
    if (texts.size === 0 || [...texts.values()].every((t) => t === null)) {
      const reason = failures.length > 0 ? failures.join('; ') : 'no /proc/net/tcp or /proc/net/tcp6';
      this.markUnavailable(reason);
      return;
    }

    const byKey = { tcp: new Map<string, Watch[]>(), tcp6: new Map<string, Watch[]>() };
    const add = (table: TableName, key: string, w: Watch): void => {
      const list = byKey[table].get(key);
      if (list === undefined) byKey[table].set(key, [w]);
      else list.push(w);
    };
    for (const w of live) {
      w.hit = null;
      if (w.keys.tcp !== null) add('tcp', w.keys.tcp, w);
      add('tcp6', w.keys.tcp6, w);
    }
    let rows = 0;
    for (const [table, text] of texts) {
      if (text === null) continue;
      rows += scanSocketTable(table, text, byKey[table], (ws, row) => {
        for (const w of ws) {
          w.hit = row;
          w.table = table;
        }
      });
    }
    this.rowsLastScan = rows;

    for (const w of live) {
      if (w.done) continue; // cancelled while the tables were read
      this.judge(w, seq, texts);
    }
  }

  private judge(w: Watch, seq: number, texts: ReadonlyMap<TableName, string | null>): void {
    const row = w.hit;
    if (row === null) {
      if (seq < w.firstScan) return;
      if (w.table === null) {
        // Never seen, in a scan that started after the watch and read every candidate table.
        const read = (t: TableName): boolean => texts.get(t) !== undefined && texts.get(t) !== null;
        const complete = read('tcp6') && (w.keys.tcp === null || read('tcp'));
        if (!complete) return;
        this.finish(w, { kind: 'unobservable', reason: 'connection not found in the socket table' });
        return;
      }
      if (texts.get(w.table) === null || texts.get(w.table) === undefined) return;
      this.finish(w, { kind: 'gone', how: 'vanished' });
      return;
    }
    if (row.state === TCP_CLOSE_WAIT) {
      this.finish(w, { kind: 'gone', how: 'closed' });
      return;
    }
    if (row.state === TCP_ESTABLISHED && row.rxQueue > 0 && !w.talked) {
      w.talked = true;
      this.notify(w, { kind: 'talked', bytes: row.rxQueue });
    }
  }

  private finish(w: Watch, event: ConnectionEvent): void {
    w.done = true;
    this.watches.delete(w);
    this.notify(w, event);
  }

  private notify(w: Watch, event: ConnectionEvent): void {
    try {
      w.listener(event);
    } catch {
      // A listener's bug must not stop the other sessions' watches.
    }
  }

  private markUnavailable(reason: string): void {
    const first = this.unavailable === null;
    this.unavailable = { reason, until: this.clock.monotonic() + this.retryUnavailableMs };
    const live = [...this.watches];
    this.watches.clear();
    for (const w of live) {
      w.done = true;
      this.notify(w, { kind: 'unobservable', reason: `cannot read the socket table: ${reason}` });
    }
    if (first) this.onUnavailable(reason);
  }
}
