/**
 * The health of one DNS list, as a pure state machine (issue 12). It is fed
 * two kinds of evidence: the result of each real lookup (an error or an
 * answer) and the result of each probe round (RFC 5782 §5: 127.0.0.2 must be
 * listed and 127.0.0.1 must not; TEST listed and INVALID not for a domain
 * list). A list whose lookups fail, or whose probes fail, `failuresToDegrade`
 * times in a row is *degraded*: the dnsbl step then skips its weight (fail
 * open). Only a passing probe brings it back: a list that answers
 * 127.255.255.254 to everything gives no "good" lookup to trust. The machine
 * returns a change only when the state changes, so the caller logs one
 * warning per change. No clock, no I/O: prober.ts drives it.
 */
import type { DnsListHealthState } from '../model/dns-lists.js';
import { likelyCause, type ListErrorKind, type ListKind } from './classify.js';

export type HealthState = DnsListHealthState;

export interface HealthSettings {
  /** Failures in a row (lookups, or probe rounds) that degrade a list; at least 2, so one timeout never does. */
  readonly failuresToDegrade: number;
  /** Between probe rounds of a healthy list. */
  readonly probeIntervalMs: number;
  /** Between probe rounds of a degraded list: it should come back soon after it is fixed. */
  readonly degradedProbeIntervalMs: number;
}

export const DEFAULT_HEALTH: HealthSettings = { failuresToDegrade: 3, probeIntervalMs: 300_000, degradedProbeIntervalMs: 60_000 };

/** Why a probe round failed, or null when it passed. */
export type ProbeFailure =
  | { readonly type: 'error'; readonly error: ListErrorKind; readonly detail: string }
  /** The test entry (127.0.0.2, TEST) was not listed. */
  | { readonly type: 'test-not-listed' }
  /** The entry that must never be listed (127.0.0.1, INVALID) was. */
  | { readonly type: 'invalid-listed' };

export type HealthInput =
  | { readonly type: 'lookup'; readonly error: { readonly error: ListErrorKind; readonly detail: string } | null }
  | { readonly type: 'probe'; readonly failure: ProbeFailure | null };

export interface HealthChange {
  readonly state: HealthState;
  /** Degraded: the likely cause, for the warning; up: what brought it back. */
  readonly cause: string;
}

export class ListHealth {
  private current: HealthState = 'up';
  private lookupErrors = 0;
  private probeFailures = 0;

  constructor(
    private readonly kind: ListKind,
    private readonly settings: HealthSettings = DEFAULT_HEALTH,
  ) {
    if (!(settings.failuresToDegrade >= 2)) throw new RangeError(`failuresToDegrade must be at least 2, not ${settings.failuresToDegrade}`);
  }

  get state(): HealthState {
    return this.current;
  }

  /** The evidence of one lookup or probe round; the change of state it makes, or null. */
  observe(input: HealthInput): HealthChange | null {
    switch (input.type) {
      case 'lookup': {
        if (input.error === null) {
          this.lookupErrors = 0;
          return null;
        }
        this.lookupErrors++;
        if (this.current === 'degraded' || this.lookupErrors < this.settings.failuresToDegrade) return null;
        this.current = 'degraded';
        return { state: 'degraded', cause: `${this.lookupErrors} lookups in a row failed: ${likelyCause(input.error.error, input.error.detail)}` };
      }
      case 'probe': {
        if (input.failure === null) {
          this.lookupErrors = 0;
          this.probeFailures = 0;
          if (this.current === 'up') return null;
          this.current = 'up';
          return { state: 'up', cause: 'the probes pass again' };
        }
        this.probeFailures++;
        if (this.current === 'degraded' || this.probeFailures < this.settings.failuresToDegrade) return null;
        this.current = 'degraded';
        return { state: 'degraded', cause: `${this.probeFailures} probes in a row failed: ${this.probeCause(input.failure)}` };
      }
    }
  }

  /** When the next probe round is due, from the last one. */
  nextProbeInMs(): number {
    return this.current === 'up' ? this.settings.probeIntervalMs : this.settings.degradedProbeIntervalMs;
  }

  private probeCause(f: ProbeFailure): string {
    const [test, invalid] = this.kind === 'address' ? ['127.0.0.2', '127.0.0.1'] : ['TEST', 'INVALID'];
    switch (f.type) {
      case 'error':
        return likelyCause(f.error, f.detail);
      case 'test-not-listed':
        return `the list does not list its test entry ${test} (RFC 5782): a mistyped zone, or a zone that is no DNS list`;
      case 'invalid-listed':
        return `the list lists ${invalid}, which RFC 5782 says is never listed: it may list everything`;
    }
  }
}
