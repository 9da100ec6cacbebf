/**
 * The `limit` step: GCRA (or sessions at once) on the step's key, in its
 * counter store.
 *
 *   under the limit  → continue (the event is counted)
 *   over the limit   → reject `451 4.7.1 …, try again in N seconds` (or the
 *                      step's reply), disconnect 421, or a tarpit: wait
 *                      `delay`, then continue
 *   no key value     → continue (a per-user limit for a session without a user)
 *   local session    → continue (the client is this host)
 *   store failure    → throws: the runtime applies `on-error` (tempfail by default)
 *
 * `count sessions` admits the session at connect and releases it when the
 * session ends (endSession, from the runtime at link-disconnect); what a
 * lost release leaves expires after `orphans-after`.
 */
import { hostname as osHostname } from 'node:os';
import type { LimitKey } from '../../model/limits.js';
import { formatRate } from '../../model/limits.js';
import { stepsOfKind, type CompiledRules, type CompiledStep } from '../../model/plan.js';
import type { StepContext, StepOutcome, StepRunner } from '../../model/runner.js';
import { CounterStores, type CounterStoresOptions } from '../../store/registry.js';
import type { CounterStore } from '../../store/counter-types.js';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import { onAbort } from '../pause/run.js';
import type { ServiceSpec, StepService } from '../service.js';
import { LIMIT_DEFAULT_REPLY, LIMIT_DISCONNECT_REPLY, type LimitStepOptions } from './define.js';
import { keyName, limitKeyOf } from './key.js';

export interface LimitRunnerDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly stores: CounterStores;
  /** Names this host's sessions in a shared store. Default os.hostname(). */
  readonly hostname?: string;
}

/** The reply of a tempfail: the step's, or the default with the retry-after in whole seconds. */
export function tempfailReply(reply: string | null, retryAfterMs: number | null): string {
  if (reply !== null) return reply;
  if (retryAfterMs === null) return LIMIT_DEFAULT_REPLY;
  return `${LIMIT_DEFAULT_REPLY.replace(/, try again later$/, '')}, try again in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} seconds`;
}

/** What names a limit's counters: the same limit in a new rules version keeps its counts. */
export function limitPrefix(o: LimitStepOptions): string {
  return `${o.count}:${formatRate(o.rate)}:${o.burst}:${keyName(o.key)}`;
}

interface Held {
  readonly store: CounterStore;
  readonly key: string;
}

/** Sessions admitted by `count sessions` limits, to release at their end. */
class HeldSessions {
  private readonly bySession = new Map<string, Held[]>();
  add(sessionId: string, held: Held): void {
    const list = this.bySession.get(sessionId) ?? [];
    if (!list.some((h) => h.store === held.store && h.key === held.key)) list.push(held);
    this.bySession.set(sessionId, list);
  }
  take(sessionId: string): Held[] {
    const list = this.bySession.get(sessionId) ?? [];
    this.bySession.delete(sessionId);
    return list;
  }
}

function wait(ctx: StepContext, ms: number): Promise<void> {
  return new Promise((resolve) => {
    let unsubscribe = (): void => {};
    const timer = ctx.clock.setTimer(ms, () => {
      unsubscribe();
      resolve();
    });
    unsubscribe = onAbort(ctx, () => {
      timer.cancel();
      resolve();
    });
  });
}

export function createLimitRunnerFactory(deps: LimitRunnerDeps): {
  readonly factory: (step: CompiledStep) => StepRunner;
  readonly endSession: (sessionId: string) => void;
} {
  const log = deps.log.child({ step: 'limit' });
  const host = deps.hostname ?? osHostname();
  const held = new HeldSessions();

  const endSession = (sessionId: string): void => {
    for (const h of held.take(sessionId)) {
      h.store.release(h.key, `${host}:${sessionId}`, Math.floor(deps.clock.now())).catch((e: unknown) => {
        // The member expires after orphans-after: a lost release only counts a while too long.
        log.warn({ session: sessionId, err: e instanceof Error ? e.message : String(e) }, 'limit: releasing a session failed');
      });
    }
  };

  const factory = (step: CompiledStep): StepRunner => {
    const action = step.action;
    if (action.kind !== 'limit') throw new Error(`createLimitRunnerFactory: step ${step.index} is a ${action.kind} step`);
    const o = action.options;
    const prefix = limitPrefix(o);
    const key: LimitKey = o.key;

    async function run(ctx: StepContext): Promise<StepOutcome> {
      if (ctx.signal.aborted) throw new Error('limit: request aborted before the check');
      const facts = ctx.facts;
      if (facts.local) return { type: 'continue', detail: { limit: 'skipped', reason: 'local session' } };
      const counterKey = limitKeyOf(prefix, key, facts, facts.rcptTo);
      if (counterKey === null) return { type: 'continue', detail: { limit: 'skipped', reason: 'no value for the key' } };
      const store = deps.stores.get(o.store);
      if (!store.ok) throw new Error(store.error);
      const now = Math.floor(ctx.clock.now());
      const checkOptions = { onAbort: (listener: (reason: unknown) => void) => onAbort(ctx, listener) };

      let retryAfterMs: number | null;
      if (o.count === 'sessions') {
        const admission = await store.value.acquire(counterKey, `${host}:${facts.sessionId}`, { max: o.rate.count, orphanAfterMs: o.orphanAfterMs }, now, checkOptions);
        if (admission.allowed) {
          held.add(facts.sessionId, { store: store.value, key: counterKey });
          return { type: 'continue', detail: { limit: 'under', key: counterKey, count: admission.count } };
        }
        retryAfterMs = null;
      } else {
        const cost = o.count === 'bytes' ? (facts.size ?? 0) : 1;
        const spec = { rate: o.rate.count, periodMs: o.rate.periodMs ?? 1000, burst: o.burst };
        const outcome = await store.value.consume(counterKey, spec, cost, o.strict ? 'strict' : 'lenient', now, checkOptions);
        if (outcome.allowed) return { type: 'continue', detail: { limit: 'under', key: counterKey, remaining: outcome.remaining } };
        retryAfterMs = outcome.retryAfterMs;
      }
      const detail = { limit: 'over', key: counterKey, ...(retryAfterMs === null ? {} : { retryAfter: Math.ceil(retryAfterMs / 1000) }) };
      const ex = o.exceeded;
      switch (ex.action) {
        case 'reject':
          return { type: 'decide', decision: { type: 'reject', reply: tempfailReply(ex.reply, retryAfterMs) }, detail };
        case 'disconnect':
          return { type: 'decide', decision: { type: 'disconnect', reply: ex.reply ?? LIMIT_DISCONNECT_REPLY }, detail };
        case 'tarpit':
          // A dry-run tarpit does not hold the client: it notes what it would do.
          if (step.dryRun !== true) await wait(ctx, o.delayMs);
          return { type: 'continue', detail: { ...detail, tarpit: o.delayMs } };
      }
    }

    return { step, run, endSession };
  };
  return { factory, endSession };
}

/** Every counter store URL the compiled rules use, once each. */
export function counterStoreUrlsOf(rules: CompiledRules): string[] {
  return [...new Set(stepsOfKind(rules, 'limit').map((step) => step.action.options.store))];
}

/** The limit service: the open counter stores, kept across reloads (so counts survive them). */
export function createLimitService(deps: Omit<LimitRunnerDeps, 'stores'> & { readonly open?: CounterStoresOptions['open'] }): StepService<'limit'> {
  const { open, ...runnerDeps } = deps;
  const stores = new CounterStores({ clock: deps.clock, log: deps.log, ...(open !== undefined ? { open } : {}) });
  const { factory } = createLimitRunnerFactory({ ...runnerDeps, stores });
  return {
    factory,
    retain(rules) {
      for (const problem of stores.retain(counterStoreUrlsOf(rules))) {
        deps.log.error({ store: problem.url, err: problem.error }, 'counter store cannot be opened; its limits answer per on-error until it can');
      }
    },
    close: () => stores.closeAll(),
  };
}

export const limitService: ServiceSpec<'limit'> = {
  kind: 'limit',
  external: true,
  createService: (deps) => createLimitService({ clock: deps.clock, log: deps.log, ...deps.limit }),
};
