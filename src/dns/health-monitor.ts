/**
 * The health of every DNS list the rules name, kept across reloads: one
 * ListHealth (health.ts) per list, fed by the lookups the steps make and by
 * probe rounds on the injected clock's timers, at start and periodically.
 * Each change of state is one warning naming the list (never its zone: it
 * may hold a key) and the likely cause, and one event for the `up` metric.
 */
import type { DnsListEvents } from '../model/dns-lists.js';
import type { Clock, TimerHandle } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import type { ListErrorKind, ListKind } from './classify.js';
import { DEFAULT_HEALTH, ListHealth, type HealthSettings, type HealthState, type ProbeFailure } from './health.js';

/** A list the rules name: `key` tells lists apart (zone, resolver, kind), `name` is what logs show. */
export interface WatchedList {
  readonly key: string;
  readonly name: string;
  readonly kind: ListKind;
  /** One probe round; never rejects. */
  readonly probe: () => Promise<ProbeFailure | null>;
}

interface Entry {
  list: WatchedList;
  readonly health: ListHealth;
  timer: TimerHandle | null;
  probing: boolean;
}

export interface HealthMonitorOptions {
  readonly clock: Clock;
  readonly log: Logger;
  readonly settings?: HealthSettings;
  readonly events?: DnsListEvents;
}

export class HealthMonitor {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(private readonly o: HealthMonitorOptions) {}

  /** The rules now name these lists: probe the new ones now, stop probing the ones gone. */
  watch(lists: readonly WatchedList[]): void {
    const live = new Set(lists.map((l) => l.key));
    for (const [key, e] of this.entries) {
      if (live.has(key)) continue;
      e.timer?.cancel();
      this.entries.delete(key);
      if (!lists.some((l) => l.name === e.list.name)) this.o.events?.forgotten?.(e.list.name);
    }
    for (const list of lists) {
      const had = this.entries.get(list.key);
      if (had !== undefined) {
        had.list = list;
        continue;
      }
      const e: Entry = { list, health: new ListHealth(list.kind, this.o.settings ?? DEFAULT_HEALTH), timer: null, probing: false };
      this.entries.set(list.key, e);
      this.o.events?.health?.(list.name, 'up');
      this.probe(e);
    }
  }

  /** Degraded lists add no weight; a list not watched (yet) counts as up. */
  isDegraded(key: string): boolean {
    return this.entries.get(key)?.health.state === 'degraded';
  }

  /** A step's lookup of the list ended, with an error or without. */
  lookedUp(key: string, error: { readonly error: ListErrorKind; readonly detail: string } | null): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.apply(e, e.health.observe({ type: 'lookup', error }));
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) e.timer?.cancel();
    this.entries.clear();
  }

  private probe(e: Entry): void {
    if (this.closed || e.probing) return;
    e.probing = true;
    void e.list
      .probe()
      .catch((err: unknown): ProbeFailure => ({ type: 'error', error: 'other', detail: err instanceof Error ? err.message : String(err) }))
      .then((failure) => {
        e.probing = false;
        // The rules dropped the list while it was probed.
        if (this.closed || this.entries.get(e.list.key) !== e) return;
        this.apply(e, e.health.observe({ type: 'probe', failure }));
        e.timer = this.o.clock.setTimer(e.health.nextProbeInMs(), () => {
          e.timer = null;
          this.probe(e);
        });
      });
  }

  private apply(e: Entry, change: { readonly state: HealthState; readonly cause: string } | null): void {
    if (change === null) return;
    const list = e.list.name;
    if (change.state === 'degraded' && e.timer !== null) {
      // Probe a degraded list sooner, so that it comes back soon after it is fixed.
      e.timer.cancel();
      e.timer = this.o.clock.setTimer(e.health.nextProbeInMs(), () => {
        e.timer = null;
        this.probe(e);
      });
    }
    if (change.state === 'degraded') this.o.log.warn({ list, health: 'degraded', cause: change.cause }, `DNS list ${list} is degraded: its weight is skipped until its probes pass (${change.cause})`);
    else this.o.log.warn({ list, health: 'up', cause: change.cause }, `DNS list ${list} is up again: ${change.cause}`);
    this.o.events?.health?.(list, change.state);
  }
}
