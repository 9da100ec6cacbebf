/**
 * The `dnsbl` runner and its service. The service uses the process's DNS
 * clients (dns/clients.ts: one cache, one set of queries in flight per
 * resolver, shared with the `spf` step) across reloads, so a reload keeps the
 * cache warm. A runner's lookup starts at connect
 * (`startEarly`, kept in the session's SessionDnsLists under the step), and
 * the step picks it up when it runs; a lookup never throws: an error is a
 * result, the chain goes on, and on-error does not apply (fail open).
 */
import { classify, type ListErrorKind, type ListKind, type ListVerdict } from '../../dns/classify.js';
import type { DnsClient } from '../../dns/client.js';
import { DnsClients, dnsClientsOf } from '../../dns/clients.js';
import type { HealthSettings, ProbeFailure } from '../../dns/health.js';
import { HealthMonitor, type WatchedList } from '../../dns/health-monitor.js';
import { formatResolverAddress, type ResolverAddress } from '../../dns/resolver-address.js';
import { clientQuery } from '../../dns/reverse.js';
import { domainOfAddress, domainQuery, underZone } from '../../dns/domain-name.js';
import type { DnsTransport } from '../../dns/types.js';
import type { DnsListEvents, DnsListResult } from '../../model/dns-lists.js';
import { SCORE_SCALE, scoreScopeAt } from '../../model/score.js';
import { stepsOfKind, type SessionFacts, type StepOf } from '../../model/plan.js';
import type { StepContext, StepDetail, StepOutcome, StepRunner } from '../../model/runner.js';
import type { Clock } from '../../support/clock.js';
import { silentLogger, type Logger } from '../../support/log.js';
import type { ServiceSpec, StepService } from '../service.js';
import { dnsblReply, type DnsblStepOptions } from './define.js';

/** A lookup's reading, and where its answer came from. */
interface Looked {
  readonly verdict: ListVerdict;
  readonly source: string;
}

/** What a runner needs of the lists' health: is its list degraded, and what its lookups found. */
export interface ListHealthView {
  isDegraded(key: string): boolean;
  lookedUp(key: string, error: { readonly error: ListErrorKind; readonly detail: string } | null): void;
}

/** Tells lists apart for their health: the same zone through another resolver, or of another kind, is another list. */
export function listKey(o: DnsblStepOptions): string {
  return `${kindOf(o)} ${o.entry.site.zone} ${o.resolver === null ? 'system' : formatResolverAddress(o.resolver)}`;
}

function kindOf(o: DnsblStepOptions): ListKind {
  return o.lookup === 'src' ? 'address' : 'domain';
}

export class DnsblRunner implements StepRunner {
  private readonly key: string;
  private readonly o: DnsblStepOptions;

  constructor(
    readonly step: StepOf<'dnsbl'>,
    private readonly client: DnsClient,
    private readonly health: ListHealthView | null = null,
    private readonly events: DnsListEvents | undefined = undefined,
  ) {
    this.o = step.action.options;
    this.key = `dnsbl ${step.index}`;
    this.listKey = listKey(this.o);
  }

  private readonly listKey: string;

  startEarly(facts: SessionFacts): void {
    // The HELO name and the sender come later: only what link-connect told can be asked now.
    if (this.o.lookup !== 'src' && this.o.lookup !== 'rdns') return;
    const name = this.queryName(facts);
    if (typeof name === 'string' && facts.dnsLists !== undefined) void facts.dnsLists.start(`${this.key} ${name}`, () => this.lookup(name));
  }

  async run(ctx: StepContext): Promise<StepOutcome> {
    const { facts } = ctx;
    const name = this.queryName(facts);
    if (typeof name !== 'string') return { type: 'continue', detail: { list: this.o.name, result: 'skipped', ...(name.skipped === null ? {} : { skipped: name.skipped }) } };
    // Keyed by the name too: a new transaction's sender is another question.
    const key = `${this.key} ${name}`;
    const looked = await (facts.dnsLists?.take(key, () => this.lookup(name)) ?? this.lookup(name));
    const { verdict } = looked;
    // A degraded list's listing counts for nothing (fail open): no weight, no decision, and `listed` does not see it.
    if (verdict.status === 'listed' && this.health?.isDegraded(this.listKey) === true) {
      facts.dnsLists?.record(this.o.name, { status: 'error', error: 'degraded' });
      return { type: 'continue', detail: { ...detailOf(this.o.name, looked), health: 'degraded' } };
    }
    facts.dnsLists?.record(this.o.name, resultOf(verdict));
    const detail = detailOf(this.o.name, looked);
    if (verdict.status !== 'listed') return { type: 'continue', detail };
    const weight = this.o.entry.site.weight;
    // Once per session (per transaction at mail-from and later), as every step that scores; never in dry-run.
    if (weight !== 0 && this.step.dryRun !== true) facts.score?.add(this.key, this.o.name, Math.round(weight * SCORE_SCALE), scoreScopeAt(ctx.phase));
    if (this.o.scoreOnly) return { type: 'continue', detail };
    if (weight < 0) return { type: 'accept', detail };
    if (weight === 0) return { type: 'continue', detail };
    const reply = dnsblReply(facts.src, this.o.name);
    // smtpd cannot reject before the banner: at connect the refusal is a disconnect with the same reply.
    return { type: 'decide', decision: ctx.phase === 'connect' ? { type: 'disconnect', reply } : { type: 'reject', reply }, detail };
  }

  /**
   * The name to ask, or why there is none: a session without an address
   * (smtpd's local socket), or a name a domain list is not asked about
   * (domain-name.ts: literals, bare IPs, `<unknown>`, malformed), or an rDNS
   * name FCrDNS did not confirm (anyone can set a PTR to any name).
   */
  private queryName(facts: SessionFacts): string | { readonly skipped: string | null } {
    const zone = this.o.entry.site.zone;
    const domain = (raw: string | null): string | { readonly skipped: string | null } => {
      if (raw === null) return { skipped: 'unknown' };
      const q = domainQuery(raw);
      if (!q.ok) return { skipped: q.skipped };
      return underZone(q.name, zone) ?? { skipped: 'too-long' };
    };
    switch (this.o.lookup) {
      case 'src': {
        const q = clientQuery(facts.src);
        return (q === null ? null : underZone(q.reversed, zone)) ?? { skipped: null };
      }
      case 'helo':
        return domain(facts.helo);
      case 'rdns':
        return facts.fcrdns === 'pass' ? domain(facts.rdns) : { skipped: 'no-fcrdns' };
      case 'mail-from':
        return domain(facts.mailFrom === null ? null : domainOfAddress(facts.mailFrom));
    }
  }

  private async lookup(name: string): Promise<Looked> {
    const outcome = await this.client.lookup(name, 'A', { deadlineMs: this.o.timeoutMs });
    const verdict = classify(outcome, { kind: kindOf(this.o), filter: this.o.entry.site.filter, codes: this.o.entry.codes });
    this.health?.lookedUp(this.listKey, verdict.status === 'error' ? { error: verdict.error, detail: verdict.detail } : null);
    this.events?.looked?.(this.o.name, verdict.status, verdict.status === 'error' ? verdict.error : null, outcome.waitedMs / 1000);
    return { verdict, source: outcome.source };
  }
}

/**
 * One probe round, RFC 5782 §5: the test entry (127.0.0.2, or TEST for a
 * domain list) must be listed, and 127.0.0.1 (INVALID) must not. Any answer
 * that is no error counts as listed here, whatever the step's filter: the
 * probe asks whether the list works, not what the step makes of it.
 */
export async function probeList(client: DnsClient, o: DnsblStepOptions): Promise<ProbeFailure | null> {
  const kind = kindOf(o);
  const zone = o.entry.site.zone;
  const [test, invalid] = kind === 'address' ? [`2.0.0.127.${zone}`, `1.0.0.127.${zone}`] : [`test.${zone}`, `invalid.${zone}`];
  const ask = async (name: string): Promise<ListVerdict> => classify(await client.lookup(name, 'A', { deadlineMs: o.timeoutMs, fresh: true }), { kind, filter: null, codes: [] });
  const [t, i] = await Promise.all([ask(test), ask(invalid)]);
  if (t.status === 'error') return { type: 'error', error: t.error, detail: t.detail };
  if (i.status === 'error') return { type: 'error', error: i.error, detail: i.detail };
  if (t.status !== 'listed') return { type: 'test-not-listed' };
  if (i.status === 'listed') return { type: 'invalid-listed' };
  return null;
}

function resultOf(v: ListVerdict): DnsListResult {
  switch (v.status) {
    case 'listed':
      return { status: 'listed', codes: v.codes };
    case 'clear':
      return { status: 'clear' };
    case 'error':
      return { status: 'error', error: v.error };
  }
}

/** For the decision line: the list's name, never its zone. */
function detailOf(name: string, looked: Looked): StepDetail {
  const v = looked.verdict;
  const base = { list: name, result: v.status, source: looked.source };
  switch (v.status) {
    case 'listed':
      return { ...base, answer: v.addresses.join(','), codes: v.codes.join(',') };
    case 'clear':
      return base;
    case 'error':
      return { ...base, error: v.error, answer: v.detail };
  }
}

/** What the service is made from. */
export interface DnsblServiceDeps {
  readonly clock: Clock;
  /** The transport to a resolver (tests: a fake, or a test server); default node:dns. */
  readonly transport?: (resolver: ResolverAddress | null) => DnsTransport;
  readonly maxCacheEntries?: number;
  /** The process's DNS clients, shared with the other steps that look up (default: a registry of its own). */
  readonly clients?: DnsClients;
  /** Where a list's change of health is told (default: nowhere). */
  readonly log?: Logger;
  /** Observers of the lists' lookups and health (metrics). */
  readonly events?: DnsListEvents;
  /** When a list is degraded, and how often it is probed (tests). */
  readonly health?: HealthSettings;
}

export interface DnsblService extends StepService<'dnsbl'> {
  /** The client of each resolver in use (`system` for resolv.conf's), for metrics and status. */
  readonly clients: ReadonlyMap<string, DnsClient>;
  /** The lists' health (status, tests). */
  readonly health: HealthMonitor;
}

export function createDnsblService(deps: DnsblServiceDeps): DnsblService {
  const registry = deps.clients ?? new DnsClients(deps);
  const monitor = new HealthMonitor({ clock: deps.clock, log: deps.log ?? silentLogger, ...(deps.health === undefined ? {} : { settings: deps.health }), ...(deps.events === undefined ? {} : { events: deps.events }) });
  return {
    clients: registry.all,
    health: monitor,
    factory: (step) => new DnsblRunner(step, registry.clientFor(step.action.options.resolver), monitor, deps.events),
    // A client holds no socket between queries: a resolver no longer named keeps only its cache until exit.
    // The lists the rules name are probed at start and periodically; the others are no longer probed.
    retain: (rules) => {
      const lists = new Map<string, WatchedList>();
      for (const step of stepsOfKind(rules, 'dnsbl')) {
        const o = step.action.options;
        const key = listKey(o);
        if (lists.has(key)) continue;
        const client = registry.clientFor(o.resolver);
        lists.set(key, { key, name: o.name, kind: kindOf(o), probe: () => probeList(client, o) });
      }
      monitor.watch([...lists.values()]);
    },
    close: () => {
      monitor.close();
      return Promise.resolve();
    },
  };
}

export const dnsblService: ServiceSpec<'dnsbl'> = {
  kind: 'dnsbl',
  external: true,
  createService: (deps) =>
    createDnsblService({
      clock: deps.clock,
      log: deps.log,
      ...(deps.events?.dnsLists === undefined ? {} : { events: deps.events.dnsLists }),
      ...deps.dns,
      clients: dnsClientsOf(deps, () => new DnsClients({ clock: deps.clock, ...deps.dns })),
    }),
};
