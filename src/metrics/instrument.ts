/**
 * Measures the step kinds that talk to other processes — policy servers and
 * greylist stores — by wrapping their services' runner factories: latency
 * and failure kind per policy server, result per greylist check. The runners
 * themselves know nothing about metrics; a runner that answers synchronously
 * still does. (Until issue 11 stage 11a, when metrics subscribe to the
 * runtime's events instead.)
 */
import { formatPolicyAddress } from '../model/address.js';
import type { StepOutcome, StepRunner } from '../model/runner.js';
import { isPolicyError } from '../policy/errors.js';
import type { StepServices } from '../steps/service.js';
import type { Clock } from '../support/clock.js';

/** Where the wrapped runners report (FilterMetrics implements it). */
export interface StepServiceMetrics {
  /** A policy request ended: `failure` is the PolicyError kind (`timeout`, `connect`, ...) or null when answered. */
  policyDone(server: string, seconds: number, failure: string | null): void;
  /** A greylist check ended with this result (`new`, `early-retry`, `pass`, `known`, `client-awl`, `skipped`, `error`). */
  greylistDone(result: string): void;
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/**
 * Run `runner`; `begin` is called before each run, and `done` with what it
 * returned and the outcome or the error. Errors are rethrown unchanged.
 */
function observe<T>(runner: StepRunner, begin: () => T, done: (token: T, outcome: StepOutcome | null, error: unknown) => void): StepRunner {
  return {
    step: runner.step,
    run(ctx) {
      const token = begin();
      let result: StepOutcome | Promise<StepOutcome>;
      try {
        result = runner.run(ctx);
      } catch (error) {
        done(token, null, error);
        throw error;
      }
      if (!isPromise(result)) {
        done(token, result, null);
        return result;
      }
      return result.then(
        (outcome) => {
          done(token, outcome, null);
          return outcome;
        },
        (error: unknown) => {
          done(token, null, error);
          throw error;
        },
      );
    },
  };
}

function greylistResult(outcome: StepOutcome | null): string {
  if (outcome === null) return 'error';
  const value = outcome.detail?.['greylist'];
  return typeof value === 'string' ? value : 'other';
}

/** The same services, with the policy and greylist runners measured; retain and close are the services' own. */
export function instrumentServices(services: StepServices, metrics: StepServiceMetrics, clock: Clock): StepServices {
  const { policy, greylist } = services;
  return {
    ...services,
    policy: {
      ...policy,
      factory: (step) => {
        const server = formatPolicyAddress(step.action.options.address);
        return observe(
          policy.factory(step),
          () => clock.monotonic(),
          (started, _outcome, error) => {
            const failure = error === null ? null : isPolicyError(error) ? error.kind : 'other';
            metrics.policyDone(server, (clock.monotonic() - started) / 1000, failure);
          },
        );
      },
    },
    greylist: {
      ...greylist,
      factory: (step) =>
        observe(
          greylist.factory(step),
          () => null,
          (_t, outcome) => metrics.greylistDone(greylistResult(outcome)),
        ),
    },
  };
}
