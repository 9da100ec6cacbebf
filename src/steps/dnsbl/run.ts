/**
 * The `dnsbl` runner and its service. The service keeps one DnsClient (one
 * cache, one set of queries in flight) per resolver across reloads, so a
 * reload keeps the cache warm. A runner's lookup starts at connect
 * (`startEarly`, kept in the session's SessionDnsLists under the step), and
 * the step picks it up when it runs; a lookup never throws: an error is a
 * result, the chain goes on, and on-error does not apply (fail open).
 */
import { classify, type ListVerdict } from '../../dns/classify.js';
import { DnsClient } from '../../dns/client.js';
import { nodeTransport } from '../../dns/node-transport.js';
import { formatResolverAddress, type ResolverAddress } from '../../dns/resolver-address.js';
import { clientQuery } from '../../dns/reverse.js';
import { underZone } from '../../dns/domain-name.js';
import type { DnsTransport } from '../../dns/types.js';
import type { DnsListResult } from '../../model/dns-lists.js';
import { SCORE_SCALE, scoreScopeAt } from '../../model/score.js';
import type { SessionFacts, StepOf } from '../../model/plan.js';
import type { StepContext, StepDetail, StepOutcome, StepRunner } from '../../model/runner.js';
import type { Clock } from '../../support/clock.js';
import type { ServiceSpec, StepService } from '../service.js';
import { dnsblReply, type DnsblStepOptions } from './define.js';

/** A lookup's reading, and where its answer came from. */
interface Looked {
  readonly verdict: ListVerdict;
  readonly source: string;
}

export class DnsblRunner implements StepRunner {
  private readonly key: string;
  private readonly o: DnsblStepOptions;

  constructor(
    readonly step: StepOf<'dnsbl'>,
    private readonly client: DnsClient,
  ) {
    this.o = step.action.options;
    this.key = `dnsbl ${step.index}`;
  }

  startEarly(facts: SessionFacts): void {
    const name = this.queryName(facts);
    if (name !== null && facts.dnsLists !== undefined) void facts.dnsLists.start(this.key, () => this.lookup(name));
  }

  async run(ctx: StepContext): Promise<StepOutcome> {
    const { facts } = ctx;
    const name = this.queryName(facts);
    if (name === null) return { type: 'continue', detail: { list: this.o.name, result: 'skipped' } };
    const looked = await (facts.dnsLists?.take(this.key, () => this.lookup(name)) ?? this.lookup(name));
    const { verdict } = looked;
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

  /** The name to ask, or null for a session without an address (smtpd's local socket). */
  private queryName(facts: SessionFacts): string | null {
    const q = clientQuery(facts.src);
    return q === null ? null : underZone(q.reversed, this.o.entry.site.zone);
  }

  private async lookup(name: string): Promise<Looked> {
    const outcome = await this.client.lookup(name, 'A', { deadlineMs: this.o.timeoutMs });
    return { verdict: classify(outcome, { kind: 'address', filter: this.o.entry.site.filter, codes: this.o.entry.codes }), source: outcome.source };
  }
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
}

export interface DnsblService extends StepService<'dnsbl'> {
  /** The client of each resolver in use (`system` for resolv.conf's), for metrics and status. */
  readonly clients: ReadonlyMap<string, DnsClient>;
}

export function createDnsblService(deps: DnsblServiceDeps): DnsblService {
  const clients = new Map<string, DnsClient>();
  const clientFor = (resolver: ResolverAddress | null): DnsClient => {
    const key = resolver === null ? 'system' : formatResolverAddress(resolver);
    let client = clients.get(key);
    if (client === undefined) {
      const transport = deps.transport?.(resolver) ?? nodeTransport(resolver === null ? {} : { server: resolver });
      client = new DnsClient({ transport, clock: deps.clock, ...(deps.maxCacheEntries === undefined ? {} : { maxCacheEntries: deps.maxCacheEntries }) });
      clients.set(key, client);
    }
    return client;
  };
  return {
    clients,
    factory: (step) => new DnsblRunner(step, clientFor(step.action.options.resolver)),
    // A client holds no socket between queries: a resolver no longer named keeps only its cache until exit.
    retain: () => {},
    close: () => Promise.resolve(),
  };
}

export const dnsblService: ServiceSpec<'dnsbl'> = {
  kind: 'dnsbl',
  external: true,
  createService: (deps) => createDnsblService({ clock: deps.clock, ...deps.dns }),
};
