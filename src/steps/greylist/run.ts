/**
 * The built-in `greylist` step: postgrey's decision (src/greylist/machine.ts)
 * on the triplet (client network, normalized sender, recipient), stored in the
 * step's store (src/store).
 *
 *   greylisted         → decide: reject `451 4.7.1 Greylisted, please try again in N seconds`
 *   first pass         → continue (+ `X-Greylist: delayed N seconds by filter-rules-V at HOST; DATE`
 *                        when the step has `header`, once per message)
 *   known / whitelisted→ continue
 *   local-socket session → continue (nothing to greylist: the client is this host)
 *   no client address, not local → throws (never greylist-free on a guess)
 *   store down, or the store cannot be opened → throws; the runtime applies `on-error`
 *
 * At rcpt-to the recipient under consideration is checked. Moved later
 * (`at data`/`at commit`) every accepted recipient is checked and the message
 * is held while any one of them is greylisted. At mail-from (allowed by the
 * rules language) there is no recipient yet, so the pair (network, sender)
 * is greylisted, stored with an empty recipient.
 */
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { LRUCache } from 'lru-cache';
import { formatGreylistHeader, formatGreylistReply } from '../../greylist/header.js';
import type { GreylistPolicy, Verdict } from '../../greylist/machine.js';
import { buildTriplet, type Triplet } from '../../greylist/triplet.js';
import { stepsOfKind, type CompiledRules, type CompiledStep, type SessionFacts } from '../../model/plan.js';
import type { RulePhase } from '../../model/phases.js';
import type { StepContext, StepDetail, StepOutcome, StepRunner } from '../../model/runner.js';
import { GreylistStores, type GreylistStoresOptions } from '../../store/registry.js';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import { onAbort } from '../pause/run.js';
import type { ServiceSpec, StepService } from '../service.js';
import type { GreylistStepOptions } from './define.js';

export interface GreylistRunnerDeps {
  /** The runtime's clock; each decision reads the request's `ctx.clock`, which is the same one. */
  readonly clock: Clock;
  readonly log: Logger;
  readonly stores: GreylistStores;
  /** Host name in the X-Greylist header. Default: os.hostname(). */
  readonly hostname?: string;
  /** filter-rules version in the X-Greylist header. Default: package.json's. */
  readonly version?: string;
  /** Minutes east of UTC for the header date. Default: the local zone at that date. */
  readonly utcOffsetMinutes?: (epochMs: number) => number;
}

/** The policy a step's options describe, in whole milliseconds (stores compare integers). */
export function greylistPolicyOf(options: GreylistStepOptions): GreylistPolicy {
  return {
    delayMs: Math.max(0, Math.round(options.delayMs)),
    retryWindowMs: Math.max(0, Math.round(options.retryWindowMs)),
    maxAgeMs: Math.max(0, Math.round(options.maxAgeMs)),
    autoWhitelistAfter: Math.max(0, Math.round(options.autoWhitelistAfter)),
  };
}

let cachedVersion: string | null = null;
function packageVersion(): string {
  if (cachedVersion !== null) return cachedVersion;
  try {
    // dist/src/steps/greylist/run.js → the package root, in the repo and when installed.
    const text = readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8');
    const v: unknown = (JSON.parse(text) as { version?: unknown }).version;
    cachedVersion = typeof v === 'string' ? v : 'unknown';
  } catch {
    cachedVersion = 'unknown';
  }
  return cachedVersion;
}

const seconds = (ms: number): number => Math.max(0, Math.round(ms / 1000));

function describeVerdict(v: Verdict): StepDetail {
  switch (v.action) {
    case 'greylist':
      return { greylist: v.reason, retryIn: Math.max(1, Math.ceil(v.retryInMs / 1000)) };
    case 'pass':
      switch (v.reason) {
        case 'delayed':
          return { greylist: 'pass', delayed: seconds(v.delayedMs) };
        case 'known':
          return { greylist: 'known' };
        case 'auto-whitelist':
          return { greylist: 'client-awl', clientCount: v.clientCount };
      }
  }
}

/**
 * The recipients a check covers: the one under consideration at rcpt-to,
 * every accepted one later. At mail-from there is none yet: the pair
 * (client network, sender) is greylisted, keyed with an empty recipient.
 */
function recipientsToCheck(facts: SessionFacts, phase: RulePhase): readonly string[] {
  if (facts.rcptTo !== null) return [facts.rcptTo];
  if (facts.recipients.length > 0) return facts.recipients;
  return phase === 'mail-from' ? [''] : [];
}

/** Remembers the messages that already got an X-Greylist header (postgrey keeps the last 20 instances). */
const HEADER_MEMORY = 1024;

export function createGreylistRunnerFactory(deps: GreylistRunnerDeps): (step: CompiledStep) => StepRunner {
  const log = deps.log.child({ step: 'greylist' });
  const hostname = deps.hostname ?? osHostname();
  const version = deps.version ?? packageVersion();
  const offsetOf = deps.utcOffsetMinutes ?? ((ms: number) => -new Date(ms).getTimezoneOffset());
  const headered = new LRUCache<string, true>({ max: HEADER_MEMORY });

  return (step: CompiledStep): StepRunner => {
    const action = step.action;
    if (action.kind !== 'greylist') {
      throw new Error(`createGreylistRunnerFactory: step ${step.index} is a ${action.kind} step`);
    }
    const options = action.options;
    const policy = greylistPolicyOf(options);

    async function run(ctx: StepContext): Promise<StepOutcome> {
      if (ctx.signal.aborted) throw new Error('greylist: request aborted before the check');
      const facts = ctx.facts;
      // Local only when smtpd said so (its `unix:` socket). A missing address
      // is not "local": greylisting would be skipped for a remote client, so it
      // is a failure and the step's on-error decides (tempfail by default).
      if (facts.local) {
        return { type: 'continue', detail: { greylist: 'skipped', reason: 'local session' } };
      }
      if (facts.src === '') {
        throw new Error(`greylist at ${ctx.phase}: the client address is unknown (and the session is not local)`);
      }
      if (facts.mailFrom === null) {
        throw new Error(`greylist at ${ctx.phase}: no envelope sender yet (greylisting runs at rcpt-to or later)`);
      }
      const recipients = recipientsToCheck(facts, ctx.phase);
      if (recipients.length === 0) throw new Error(`greylist at ${ctx.phase}: no recipient to greylist`);

      const triplets: Triplet[] = [];
      for (const rcptTo of recipients) {
        const t = buildTriplet({ src: facts.src, mailFrom: facts.mailFrom, rcptTo }, options);
        if (!t.ok) throw new Error(`greylist: ${t.error}`);
        triplets.push(t.value);
      }
      const store = deps.stores.get(options.store);
      if (!store.ok) throw new Error(store.error);

      const now = Math.floor(ctx.clock.now());
      // A store that has to wait (Redis still connecting) waits no longer than this step may.
      const checkOptions = { onAbort: (listener: (reason: unknown) => void) => onAbort(ctx, listener) };
      const verdicts = await Promise.all(triplets.map((t) => store.value.check(t, policy, now, checkOptions)));
      const first = triplets[0] as Triplet;
      const base: StepDetail = { network: first.network, sender: first.sender };

      for (const [i, v] of verdicts.entries()) {
        if (v.action === 'pass' && v.reason === 'delayed' && v.clientCount !== null && v.clientCount === policy.autoWhitelistAfter) {
          log.info({ session: facts.sessionId, client: triplets[i]?.client, count: v.clientCount }, 'client auto-whitelisted');
        }
      }

      const held = verdicts.filter((v): v is Extract<Verdict, { action: 'greylist' }> => v.action === 'greylist');
      if (held.length > 0) {
        const worst = held.reduce((a, b) => (b.retryInMs > a.retryInMs ? b : a));
        return {
          type: 'decide',
          decision: { type: 'reject', reply: formatGreylistReply(worst.retryInMs) },
          detail: { ...base, ...describeVerdict(worst) },
        };
      }

      const delayed = verdicts.filter((v): v is Extract<Verdict, { reason: 'delayed' }> => v.action === 'pass' && v.reason === 'delayed');
      const longest = delayed.length > 0 ? delayed.reduce((a, b) => (b.delayedMs > a.delayedMs ? b : a)) : null;
      const detail: StepDetail = { ...base, ...describeVerdict(longest ?? (verdicts[0] as Verdict)) };
      if (longest !== null) {
        // A pass is a plain proceed, which the runtime does not log; postgrey logs
        // this moment too ("delay=N"), and it is what an admin looks for.
        log.info({ session: facts.sessionId, ...base, delayed: seconds(longest.delayedMs) }, 'greylisted sender retried after the delay: passed');
      }
      if (longest !== null && options.header) {
        const instance = `${facts.sessionId}|${facts.messageId ?? ''}`;
        if (!headered.has(instance)) {
          headered.set(instance, true);
          const header = formatGreylistHeader({
            delayedMs: longest.delayedMs,
            version,
            hostname,
            epochMs: now,
            offsetMinutes: offsetOf(now),
          });
          return { type: 'continue', addHeaders: [header], detail };
        }
      }
      return { type: 'continue', detail };
    }

    return { step, run };
  };
}

/** Every store URL the compiled rules use, once each: the stores the greylist service keeps open. */
export function storeUrlsOf(rules: CompiledRules): string[] {
  return [...new Set(stepsOfKind(rules, 'greylist').map((step) => step.action.options.store))];
}

/**
 * The greylist service: the open stores, kept across reloads; `retain` opens
 * the stores the current rules name (so a bad store URL or permission shows
 * at startup or reload, not at the first mail) and retires the others.
 */
export function createGreylistService(deps: Omit<GreylistRunnerDeps, 'stores'> & { readonly open?: GreylistStoresOptions['open'] }): StepService<'greylist'> {
  const { open, ...runnerDeps } = deps;
  const stores = new GreylistStores({ clock: deps.clock, log: deps.log, ...(open !== undefined ? { open } : {}) });
  return {
    factory: createGreylistRunnerFactory({ ...runnerDeps, stores }),
    retain(rules) {
      for (const problem of stores.retain(storeUrlsOf(rules))) {
        deps.log.error({ store: problem.url, err: problem.error }, 'greylist store cannot be opened; its steps answer per on-error until it can');
      }
    },
    close: () => stores.closeAll(),
  };
}

export const greylistService: ServiceSpec<'greylist'> = {
  kind: 'greylist',
  external: true,
  createService: (deps) => createGreylistService({ clock: deps.clock, log: deps.log, ...deps.greylist }),
};
