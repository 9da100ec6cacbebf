/**
 * The `spf` runner and its service. The service keeps one DnsClient (one
 * cache, one set of queries in flight) for the system's resolver across
 * reloads. A check never throws and never outlasts its step's timeout: each
 * lookup gets what is left of the check's deadline, and a lookup past it is a
 * timeout, which SPF calls temperror. The results go into the session's
 * SessionAuth, for the `spf` and `spf-helo` conditions, and into the
 * decision line.
 */
import { hostname } from 'node:os';
import { checkSpf, type SpfResolver, type SpfVerdict } from '../../auth/spf.js';
import { DnsClient } from '../../dns/client.js';
import { nodeTransport } from '../../dns/node-transport.js';
import type { ResolverAddress } from '../../dns/resolver-address.js';
import type { DnsTransport } from '../../dns/types.js';
import type { StepOf } from '../../model/plan.js';
import type { StepContext, StepDetail, StepOutcome, StepRunner } from '../../model/runner.js';
import type { Clock } from '../../support/clock.js';
import type { ServiceSpec, StepService } from '../service.js';
import type { SpfStepOptions } from './define.js';

/** Client-chosen text (a sender's domain, mailauth's reason quoting it) in a log line: a bounded prefix. */
const MAX_LOGGED_CHARS = 200;

function bounded(text: string): string {
  return text.length > MAX_LOGGED_CHARS ? `${text.slice(0, MAX_LOGGED_CHARS)}…` : text;
}

/** What mailauth's resolver reads as a timeout (it maps ETIMEOUT to temperror). */
function timeoutError(name: string): Error {
  return Object.assign(new Error(`SPF check deadline passed before ${name} was resolved`), { code: 'ETIMEOUT', hostname: name });
}

export class SpfRunner implements StepRunner {
  private readonly o: SpfStepOptions;

  constructor(
    readonly step: StepOf<'spf'>,
    private readonly client: DnsClient,
    private readonly mta: string,
  ) {
    this.o = step.action.options;
  }

  async run(ctx: StepContext): Promise<StepOutcome> {
    const { facts } = ctx;
    // smtpd's local socket has no address to check.
    if (facts.src === '') return { type: 'continue', detail: { spf: 'skipped' } };
    const helo = facts.helo ?? '';
    const heloIdentity = `postmaster@${helo}`;
    // RFC 7208 §2.4: the null sender is checked as postmaster at the HELO name.
    const sender = facts.mailFrom === null || facts.mailFrom === '' ? heloIdentity : facts.mailFrom;
    const resolver = this.resolverUntil(ctx.clock.monotonic() + this.o.timeoutMs, ctx);
    const check = (identity: string): Promise<SpfVerdict> => checkSpf({ ip: facts.src, sender: identity, helo }, { resolver, hostname: this.mta });
    const mailFrom = check(sender);
    // The null sender's identity is the HELO one: checked once.
    const heloCheck = this.o.checkHelo ? (sender === heloIdentity ? mailFrom : check(heloIdentity)) : null;
    const [m, h] = await Promise.all([mailFrom, heloCheck]);
    facts.auth?.recordSpf('mailfrom', m.result);
    if (h !== null) facts.auth?.recordSpf('helo', h.result);
    return { type: 'continue', detail: detailOf(m, h) };
  }

  /** Lookups through the shared client, each with what is left of the check's deadline. */
  private resolverUntil(deadline: number, ctx: StepContext): SpfResolver {
    return async (name, rrtype) => {
      const left = deadline - ctx.clock.monotonic();
      if (left <= 0 || ctx.signal.aborted) throw timeoutError(name);
      return this.client.mailauthResolver({ deadlineMs: left })(name, rrtype);
    };
  }
}

/** For the decision line: each result, its domain, the lookups it took, and why when it is an error. */
function detailOf(m: SpfVerdict, h: SpfVerdict | null): StepDetail {
  const out: Record<string, string | number> = { spf: m.result, domain: bounded(m.domain), lookups: m.lookups };
  if (m.result === 'temperror' || m.result === 'permerror') out.reason = bounded(m.reason);
  if (h !== null) {
    out['spf-helo'] = h.result;
    out['helo-domain'] = bounded(h.domain);
    if (h.result === 'temperror' || h.result === 'permerror') out['helo-reason'] = bounded(h.reason);
  }
  return out;
}

/** What the service is made from. */
export interface SpfServiceDeps {
  readonly clock: Clock;
  /** The transport to the resolver (tests: a fake, or a test server); default node:dns with resolv.conf. */
  readonly transport?: (resolver: ResolverAddress | null) => DnsTransport;
  readonly maxCacheEntries?: number;
  /** The name mailauth's reasons give for us. Default: os.hostname(). */
  readonly hostname?: string;
}

export interface SpfService extends StepService<'spf'> {
  readonly client: DnsClient;
}

export function createSpfService(deps: SpfServiceDeps): SpfService {
  const transport = deps.transport?.(null) ?? nodeTransport();
  const client = new DnsClient({ transport, clock: deps.clock, ...(deps.maxCacheEntries === undefined ? {} : { maxCacheEntries: deps.maxCacheEntries }) });
  const mta = deps.hostname ?? hostname();
  return {
    client,
    factory: (step) => new SpfRunner(step, client, mta),
    // The client holds no socket between queries.
    retain: () => {},
    close: () => Promise.resolve(),
  };
}

export const spfService: ServiceSpec<'spf'> = {
  kind: 'spf',
  external: true,
  createService: (deps) => createSpfService({ clock: deps.clock, ...deps.dns }),
};
