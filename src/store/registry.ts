/**
 * StoreRegistry: the open stores of the running filter, keyed by the URL
 * written in the rules; one class for both kinds of store (GreylistStores,
 * CounterStores below), so greylisting and limits open, purge, retry, retire
 * and close their stores the same way. Get-or-create, so every greylist step naming the same
 * URL shares one store, and the stores survive a hot reload. After a reload
 * the greylist service (steps/greylist/run.ts) calls `retain(urls of the new
 * rules)`: stores no longer named are closed after a grace period (sessions
 * started under the old rules may still use them; `get` revives a store
 * whose close is pending).
 *
 * A store that fails to open is remembered with its message, which every
 * check reports (the runtime applies `on-error`), and is retried at most
 * every `reopenAfterMs`, so an admin fixing a permission needs no restart.
 *
 * Each open store is purged of expired entries in small batches on a timer:
 * one batch is a short synchronous call for SQLite, and a full batch is
 * followed by a pause, so a big purge never stalls the sessions.
 */
import type { Clock, TimerHandle } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { err, ok, type Result } from '../support/result.js';
import type { CounterStore } from './counter-types.js';
import { openCounterStore } from './counter-open.js';
import { openStore } from './open.js';
import type { GreylistStore } from './types.js';
import { redactStoreUrl } from './url.js';

/** What the registry needs of a store: a name for logs, a purge, a close. */
export interface RegisteredStore {
  readonly description: string;
  purgeExpired(now: number, limit: number): Promise<number>;
  close(): Promise<void>;
}

export interface StoreRegistryOptions<S extends RegisteredStore> {
  readonly clock: Clock;
  readonly log: Logger;
  /** Opens a store; default `openStore` with the logger. Tests inject fakes. */
  readonly open?: (url: string) => Result<S, string>;
  /** A failed open is retried no sooner than this. Default 30 s. */
  readonly reopenAfterMs?: number;
  /** Time between purge runs. Default 60 s. */
  readonly purgeIntervalMs?: number;
  /** Entries deleted per purge call. Default 500. */
  readonly purgeBatch?: number;
  /** Pause after a full batch before the next one. Default 20 ms. */
  readonly purgeBatchGapMs?: number;
  /** Delay before closing a store the rules stopped naming. Default 10 min. */
  readonly closeGraceMs?: number;
}

export type GreylistStoresOptions = StoreRegistryOptions<GreylistStore>;
export type CounterStoresOptions = StoreRegistryOptions<CounterStore>;

type Slot<S> =
  | {
      readonly kind: 'open';
      readonly store: S;
      purgeTimer: TimerHandle | null;
      purging: boolean;
      closeTimer: TimerHandle | null;
    }
  | { readonly kind: 'failed'; readonly error: string; readonly at: number };

export interface StoreOpenProblem {
  readonly url: string;
  readonly error: string;
}

export class StoreRegistry<S extends RegisteredStore> {
  private readonly slots = new Map<string, Slot<S>>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly open: (url: string) => Result<S, string>;
  private readonly reopenAfterMs: number;
  private readonly purgeIntervalMs: number;
  private readonly purgeBatch: number;
  private readonly purgeBatchGapMs: number;
  private readonly closeGraceMs: number;
  private shutDown = false;

  /** "greylist store", "counter store": what the log lines call one. */
  private readonly noun: string;

  constructor(options: StoreRegistryOptions<S>, noun: string, defaultOpen: (url: string, log: Logger) => Result<S, string>) {
    this.clock = options.clock;
    this.log = options.log;
    this.noun = noun;
    this.open = options.open ?? ((url) => defaultOpen(url, options.log));
    this.reopenAfterMs = options.reopenAfterMs ?? 30_000;
    this.purgeIntervalMs = options.purgeIntervalMs ?? 60_000;
    this.purgeBatch = options.purgeBatch ?? 500;
    this.purgeBatchGapMs = options.purgeBatchGapMs ?? 20;
    this.closeGraceMs = options.closeGraceMs ?? 600_000;
    for (const [name, v] of Object.entries({
      reopenAfterMs: this.reopenAfterMs,
      purgeIntervalMs: this.purgeIntervalMs,
      purgeBatch: this.purgeBatch,
      purgeBatchGapMs: this.purgeBatchGapMs,
      closeGraceMs: this.closeGraceMs,
    })) {
      if (!Number.isFinite(v) || v < 0 || (name === 'purgeBatch' && v < 1)) {
        throw new RangeError(`${noun === 'greylist store' ? 'GreylistStores' : 'CounterStores'}: ${name} must be a non-negative number${name === 'purgeBatch' ? ' ≥ 1' : ''}, got ${v}`);
      }
    }
  }

  /** The store for `url`, opening it on first use (or retrying a failed open when due). */
  get(url: string): Result<S, string> {
    if (this.shutDown) return err(`${this.noun} ${redactStoreUrl(url)}: the filter is shutting down`);
    const slot = this.slots.get(url);
    if (slot?.kind === 'open') {
      if (slot.closeTimer) {
        slot.closeTimer.cancel();
        slot.closeTimer = null;
      }
      return ok(slot.store);
    }
    if (slot?.kind === 'failed' && this.clock.monotonic() - slot.at < this.reopenAfterMs) return err(slot.error);
    return this.openSlot(url);
  }

  private openSlot(url: string): Result<S, string> {
    const opened = this.open(url);
    if (!opened.ok) {
      this.slots.set(url, { kind: 'failed', error: opened.error, at: this.clock.monotonic() });
      this.log.error({ store: redactStoreUrl(url), err: opened.error }, `cannot open ${this.noun}`);
      return opened;
    }
    const slot: Slot<S> = { kind: 'open', store: opened.value, purgeTimer: null, purging: false, closeTimer: null };
    this.slots.set(url, slot);
    this.log.info({ store: opened.value.description }, `${this.noun} open`);
    this.schedulePurge(slot, this.purgeIntervalMs);
    return ok(opened.value);
  }

  private schedulePurge(slot: Extract<Slot<S>, { kind: 'open' }>, ms: number): void {
    slot.purgeTimer = this.clock.setTimer(ms, () => {
      slot.purgeTimer = null;
      void this.purgeOnce(slot);
    });
  }

  private async purgeOnce(slot: Extract<Slot<S>, { kind: 'open' }>): Promise<void> {
    if (slot.purging) return;
    slot.purging = true;
    let next = this.purgeIntervalMs;
    try {
      const deleted = await slot.store.purgeExpired(this.clock.now(), this.purgeBatch);
      if (deleted > 0) this.log.debug({ store: slot.store.description, deleted }, `purged expired ${this.noun} entries`);
      if (deleted >= this.purgeBatch) next = this.purgeBatchGapMs;
    } catch (e) {
      this.log.warn({ store: slot.store.description, err: e instanceof Error ? e.message : String(e) }, `${this.noun} purge failed`);
    } finally {
      slot.purging = false;
    }
    // Not rescheduled once the slot was closed (closing clears it from the map).
    if (!this.shutDown && [...this.slots.values()].includes(slot)) this.schedulePurge(slot, next);
  }

  /**
   * Make the open stores match the rules: open every URL in `urls` now
   * (returning the ones that fail, for the startup/reload log) and schedule
   * the others to close after the grace period.
   */
  retain(urls: Iterable<string>): StoreOpenProblem[] {
    const wanted = new Set(urls);
    const problems: StoreOpenProblem[] = [];
    for (const url of wanted) {
      const r = this.get(url);
      if (!r.ok) problems.push({ url: redactStoreUrl(url), error: r.error });
    }
    for (const [url, slot] of this.slots) {
      if (wanted.has(url)) continue;
      if (slot.kind === 'failed') {
        this.slots.delete(url);
        continue;
      }
      if (slot.closeTimer) continue;
      slot.closeTimer = this.clock.setTimer(this.closeGraceMs, () => {
        slot.closeTimer = null;
        void this.closeSlot(url, slot);
      });
    }
    return problems;
  }

  private async closeSlot(url: string, slot: Extract<Slot<S>, { kind: 'open' }>): Promise<void> {
    if (this.slots.get(url) === slot) this.slots.delete(url);
    slot.purgeTimer?.cancel();
    slot.purgeTimer = null;
    slot.closeTimer?.cancel();
    slot.closeTimer = null;
    try {
      await slot.store.close();
      this.log.info({ store: slot.store.description }, `${this.noun} closed`);
    } catch (e) {
      this.log.warn({ store: slot.store.description, err: e instanceof Error ? e.message : String(e) }, `closing ${this.noun} failed`);
    }
  }

  /** URLs with an open store (for status output and tests). */
  openUrls(): string[] {
    return [...this.slots].filter(([, s]) => s.kind === 'open').map(([u]) => u);
  }

  /** Close every store; later `get` calls fail. For shutdown. */
  async closeAll(): Promise<void> {
    this.shutDown = true;
    const open = [...this.slots].filter((e): e is [string, Extract<Slot<S>, { kind: 'open' }>] => e[1].kind === 'open');
    this.slots.clear();
    await Promise.all(open.map(([url, slot]) => this.closeSlot(url, slot)));
  }
}

/** The greylist steps' stores: SQLite or Redis by the URL. */
export class GreylistStores extends StoreRegistry<GreylistStore> {
  constructor(options: GreylistStoresOptions) {
    super(options, 'greylist store', (url, log) => openStore(url, { log }));
  }
}

/** The limit steps' counter stores: memory, SQLite or Redis by the URL. */
export class CounterStores extends StoreRegistry<CounterStore> {
  constructor(options: CounterStoresOptions) {
    super(options, 'counter store', (url, log) => openCounterStore(url, { log }));
  }
}
