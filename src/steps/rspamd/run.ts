/**
 * The `rspamd URL` runner. At the client's `.` (readMessage) it posts the
 * held message to rspamd with the session's headers and turns the answer
 * into a reading: the header edits and the outcome (src/rspamd/verdict.ts).
 * At commit (run) it answers from that reading. Skipped messages (an
 * authenticated or local client when told so, or over max-size) are not
 * sent: they go on, or an oversize one is tempfailed with oversize-tempfail.
 * A failure throws an RspamdError (refused, HTTP status, malformed or huge
 * answer, the deadline), which the runtime turns into the step's on-error.
 *
 * The service keeps one client (its keep-alive connections) per URL across
 * reloads; `retain` closes the clients of URLs the rules no longer name.
 */
import { hostname as osHostname } from 'node:os';
import type { MessageReading } from '../../model/message.js';
import { stepsOfKind, type CompiledRules, type StepOf } from '../../model/plan.js';
import { answerFromReading } from '../../model/reading.js';
import { SCORE_SCALE } from '../../model/score.js';
import type { MessageContext, StepContext, StepOutcome, StepRunner } from '../../model/runner.js';
import { RspamdClient, type HttpRequest } from '../../rspamd/client.js';
import { requestHeaders } from '../../rspamd/request.js';
import { judge } from '../../rspamd/verdict.js';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import type { ServiceSpec, StepService } from '../service.js';
import type { RspamdStepOptions } from './define.js';

export interface RspamdServiceDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /** `MTA-Name`. Default: os.hostname(). */
  readonly mtaName?: string;
  /** Tests: another HTTP request function. */
  readonly request?: HttpRequest;
}

/** The reply for a message over max-size with oversize-tempfail. */
export const OVERSIZE_REPLY = '451 4.7.1 Message too big to be scanned, try again later';

class Clients {
  private readonly byUrl = new Map<string, RspamdClient>();
  constructor(private readonly deps: RspamdServiceDeps) {}

  get(url: string): RspamdClient {
    let client = this.byUrl.get(url);
    if (client === undefined) {
      client = new RspamdClient({ url, clock: this.deps.clock, ...(this.deps.request !== undefined ? { request: this.deps.request } : {}) });
      this.byUrl.set(url, client);
    }
    return client;
  }

  retain(urls: ReadonlySet<string>): void {
    for (const [url, client] of this.byUrl) {
      if (urls.has(url)) continue;
      client.close();
      this.byUrl.delete(url);
    }
  }

  closeAll(): void {
    this.retain(new Set());
  }
}

export class RspamdRunner implements StepRunner {
  private readonly options: RspamdStepOptions;
  private readonly log: Logger;

  constructor(
    readonly step: StepOf<'rspamd'>,
    private readonly clients: Clients,
    private readonly deps: RspamdServiceDeps,
    private readonly mtaName: string,
  ) {
    this.options = step.action.options;
    this.log = deps.log.child({ step: step.index, rspamd: this.options.url });
  }

  async readMessage(ctx: MessageContext): Promise<MessageReading> {
    const o = this.options;
    const facts = ctx.facts;
    if (o.skipAuthenticated && facts.authUser !== null) return skipped('authenticated');
    if (o.skipLocal && facts.local) return skipped('local');
    if (o.maxSize !== null && ctx.message.size > o.maxSize) {
      if (!o.oversizeTempfail) return skipped('oversize');
      return {
        edits: [],
        outcome: { type: 'decide', decision: { type: 'reject', reply: OVERSIZE_REPLY }, detail: { rspamd: 'oversize', size: ctx.message.size } },
      };
    }
    const started = this.deps.clock.monotonic();
    const headers = requestHeaders(facts, { mtaName: this.mtaName, settingsId: o.settingsId ?? undefined });
    try {
      const answer = await this.clients.get(o.url).check({ headers, body: ctx.message.stream(), length: ctx.message.size, timeoutMs: o.timeoutMs, signal: ctx.signal });
      const { reading, dropped } = judge(answer, { discard: this.step.action.options.discard, quarantine: this.step.action.options.quarantine });
      const latencyMs = Math.round(this.deps.clock.monotonic() - started);
      if (dropped.length > 0) this.log.warn({ session: facts.sessionId, headers: dropped }, 'rspamd asked for headers with invalid names; dropped');
      this.log.debug({ session: facts.sessionId, action: answer.action, score: answer.score, latencyMs }, 'rspamd answer');
      const outcome = reading.outcome;
      const detail = { ...(outcome.detail ?? {}), latencyMs };
      return { ...reading, outcome: { ...outcome, detail } as StepOutcome };
    } catch (error) {
      this.log.warn(
        { session: facts.sessionId, err: error instanceof Error ? error.message : String(error), latencyMs: Math.round(this.deps.clock.monotonic() - started), onError: this.step.onError },
        'rspamd request failed',
      );
      throw error;
    }
  }

  run(ctx: StepContext): StepOutcome {
    const outcome = answerFromReading(this.step, ctx.facts);
    // rspamd's score joins the transaction's score (issue 12's), once, as a
    // DNS list's weight does: `score >= N` after this step counts it. Never
    // in dry-run, and nothing when rspamd was not asked or failed (thrown above).
    const reading = ctx.facts.messageReadings?.get(this.step.index);
    const verdict = reading?.ok === true ? reading.reading.rspamd : undefined;
    if (verdict !== undefined && this.step.dryRun !== true && Number.isFinite(verdict.score)) {
      ctx.facts.score?.add(`rspamd ${this.step.index}`, 'rspamd', Math.round(verdict.score * SCORE_SCALE), 'transaction');
    }
    return outcome;
  }
}

function skipped(why: 'authenticated' | 'local' | 'oversize'): MessageReading {
  return { edits: [], outcome: { type: 'continue', detail: { rspamd: `skipped (${why})` } } };
}

export function createRspamdService(deps: RspamdServiceDeps): StepService<'rspamd'> {
  const clients = new Clients(deps);
  const mtaName = deps.mtaName ?? osHostname();
  return {
    factory: (step) => new RspamdRunner(step, clients, deps, mtaName),
    retain: (rules: CompiledRules) => clients.retain(new Set(stepsOfKind(rules, 'rspamd').map((s) => s.action.options.url))),
    close: () => {
      clients.closeAll();
      return Promise.resolve();
    },
  };
}

export const rspamdService: ServiceSpec<'rspamd'> = {
  kind: 'rspamd',
  external: true,
  createService: (deps) => createRspamdService({ clock: deps.clock, log: deps.log, ...deps.rspamd }),
};
