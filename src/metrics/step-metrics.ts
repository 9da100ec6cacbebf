/**
 * The series a step kind has of its own, fed by the runtime's `stepRan`
 * events: latency and failure kind per policy server, result per greylist
 * check. Every kind has the per-step series (runs, decisions, errors) in
 * filter-metrics.ts; a kind listed here adds its own, a kind without an
 * entry adds none. The runners know nothing about metrics.
 */
import { formatPolicyAddress } from '../model/address.js';
import type { StepKind, StepOf } from '../model/plan.js';
import type { StepOutcome } from '../model/runner.js';
import type { StepRanEvent } from '../runtime/events.js';

/** A run of a step of kind K, typed by it. */
export type StepRanOf<K extends StepKind> = StepRanEvent & { readonly step: StepOf<K> };

/** What the runs of each kind add to the metrics; absent: nothing of the kind's own. */
export type StepRunMetrics = { readonly [K in StepKind]?: (e: StepRanOf<K>) => void };

/** The series these feed (FilterMetrics owns them). */
export interface StepSeries {
  /** A policy request ended: `failure` is the PolicyError kind (`timeout`, `connect`, …), `other`, or null when answered. */
  policyDone(server: string, seconds: number, failure: string | null): void;
  /** A greylist check ended with this result (`new`, `early-retry`, `pass`, `known`, `client-awl`, `skipped`, `error`). */
  greylistDone(result: string): void;
  /** An SPF check of this identity (`mailfrom`, `helo`) ended with this result (RFC 7208's seven, or `skipped`, `error`). */
  spfDone(identity: string, result: string): void;
  /** A limit step found its key over the limit (dry-run ones too: they would have acted). */
  limitExceeded(step: StepOf<'limit'>): void;
}

function greylistResult(outcome: StepOutcome): string {
  const value = outcome.detail?.['greylist'];
  return typeof value === 'string' ? value : 'other';
}

export function stepRunMetrics(series: StepSeries): StepRunMetrics {
  return {
    policy: (e) => {
      const failure = e.result.ok ? null : (e.result.errorKind ?? 'other');
      series.policyDone(formatPolicyAddress(e.step.action.options.address), e.ms / 1000, failure);
    },
    greylist: (e) => series.greylistDone(e.result.ok ? greylistResult(e.result.outcome) : 'error'),
    spf: (e) => {
      if (!e.result.ok) return series.spfDone('mailfrom', 'error');
      const d = e.result.outcome.detail ?? {};
      series.spfDone('mailfrom', typeof d['spf'] === 'string' ? d['spf'] : 'other');
      if (typeof d['spf-helo'] === 'string') series.spfDone('helo', d['spf-helo']);
    },
    limit: (e) => {
      if (e.result.ok && e.result.outcome.detail?.['limit'] === 'over') series.limitExceeded(e.step);
    },
  };
}

/** The entry of the event's kind, typed by it: a record read by a generic kind yields its handler for that kind. */
export function feedStepRun<K extends StepKind>(metrics: StepRunMetrics, e: StepRanOf<K>): void {
  const byKind: { readonly [J in StepKind]?: (e: StepRanOf<J>) => void } = metrics;
  byKind[e.step.action.kind as K]?.(e);
}
