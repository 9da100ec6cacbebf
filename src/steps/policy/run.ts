/**
 * The `postgrey ADDRESS` / `policy ADDRESS` step: ask a Postfix policy
 * delegation server about the session and turn its answer into a step
 * outcome (see src/policy/action.ts for the access(5) mapping).
 *
 * OK/RELAY/PERMIT/all digits accept (for accept's scope at this phase);
 * DEFER_IF_PERMIT / DEFER_IF_REJECT arm a deferral the evaluator resolves at
 * the end of the phase; PREPEND adds a sanitised header.
 *
 * Failures (server down, slow, garbled, or an action we cannot act on) are
 * thrown as PolicyError; the runtime turns a throw into the step's on-error
 * decision (`tempfail` by default, or `proceed`). Answers other than DUNNO
 * are logged with the server's text and the latency, and carried in the
 * outcome's detail for the decision's log line.
 */
import { formatPolicyAddress, type PolicyAddress } from '../../model/address.js';
import { stepsOfKind, type CompiledRules, type CompiledStep } from '../../model/plan.js';
import type { StepContext, StepDetail, StepOutcome, StepRunner } from '../../model/runner.js';
import { interpretPolicyAction } from '../../policy/action.js';
import type { PolicyAnswer } from '../../policy/codec.js';
import type { PolicyConnector } from '../../policy/connection.js';
import { PolicyError, isPolicyError } from '../../policy/errors.js';
import { netConnector } from '../../policy/net.js';
import { PolicyClients, type PolicyClientSettings } from '../../policy/registry.js';
import { buildPolicyRequest } from '../../policy/request.js';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import { printableText } from '../../support/printable.js';
import type { ServiceSpec, StepService } from '../service.js';
import type { PolicyStepOptions } from './define.js';

export interface PolicyRunnerDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /** The shared clients; they survive reloads, runners do not. */
  readonly pool: PolicyClients;
}

/** How much of the server's answer goes into logs and details. */
const MAX_LOGGED_ANSWER = 300;

export function createPolicyRunnerFactory(deps: PolicyRunnerDeps): (step: CompiledStep) => StepRunner {
  return (step) => {
    if (step.action.kind !== 'policy') {
      throw new Error(`policy runner given a ${step.action.kind} step`);
    }
    return new PolicyStepRunner(step, step.action.options, deps);
  };
}

/**
 * The policy service: the runner factory plus the clients behind it, kept
 * across reloads. `retain` closes the clients of servers the current rules
 * no longer name; `close` (smtpd is gone) drops every connection now, as
 * nobody is left to answer.
 */
export interface PolicyService extends StepService<'policy'> {
  /** Takes any step and refuses one of another kind (a throw: the step answers per its on-error). */
  readonly factory: (step: CompiledStep) => StepRunner;
  readonly clients: PolicyClients;
}

/** Every policy server address named by a rule set, for `closeUnused` after a reload. */
export function policyAddressesOf(rules: CompiledRules): PolicyAddress[] {
  return stepsOfKind(rules, 'policy').map((step) => step.action.options.address);
}

export interface PolicyServiceDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /** Default: real sockets (node:net). */
  readonly connect?: PolicyConnector;
  readonly settings?: PolicyClientSettings;
}

export function createPolicyService(deps: PolicyServiceDeps): PolicyService {
  const clients = new PolicyClients({
    connect: deps.connect ?? netConnector,
    clock: deps.clock,
    log: deps.log,
    ...(deps.settings === undefined ? {} : { settings: deps.settings }),
  });
  return {
    factory: createPolicyRunnerFactory({ clock: deps.clock, log: deps.log, pool: clients }),
    clients,
    retain: (rules) => clients.closeUnused(policyAddressesOf(rules)),
    close: () => {
      clients.destroyAll();
      return Promise.resolve();
    },
  };
}

export const policyService: ServiceSpec<'policy'> = {
  kind: 'policy',
  external: true,
  createService: (deps) => createPolicyService({ clock: deps.clock, log: deps.log, ...deps.policy }),
};

class PolicyStepRunner implements StepRunner {
  private readonly server: string;
  private readonly log: Logger;

  constructor(
    readonly step: CompiledStep,
    private readonly options: PolicyStepOptions,
    private readonly deps: PolicyRunnerDeps,
  ) {
    this.server = formatPolicyAddress(options.address);
    this.log = deps.log.child({ step: step.index, policy: options.flavor, policyServer: this.server });
  }

  async run(ctx: StepContext): Promise<StepOutcome> {
    const started = this.deps.clock.monotonic();
    const request = buildPolicyRequest(ctx.facts, ctx.phase);
    let answer: PolicyAnswer;
    try {
      answer = await this.deps.pool.get(this.options.address).query(request, {
        timeoutMs: this.options.timeoutMs,
        signal: ctx.signal,
      });
    } catch (e) {
      const latencyMs = this.elapsed(started);
      const error = isPolicyError(e) ? e : new PolicyError('protocol', this.server, String(e), { cause: e });
      this.log.warn(
        { session: ctx.facts.sessionId, kind: error.kind, err: error.message, latencyMs, onError: this.step.onError },
        'policy request failed',
      );
      throw error;
    }
    const latencyMs = this.elapsed(started);
    const shown = printableText(answer.action ?? '').slice(0, MAX_LOGGED_ANSWER);
    const detail: StepDetail = { policyServer: this.server, answer: shown, latencyMs };
    const fields = { session: ctx.facts.sessionId, answer: shown, latencyMs };
    const verdict = interpretPolicyAction(answer.action, { invalidUtf8: answer.invalidUtf8.includes('action') });

    switch (verdict.kind) {
      case 'dunno':
        this.log.debug(fields, 'policy answer');
        return { type: 'continue', detail };
      case 'permit':
        // Postfix's OK ends the restriction list with a permit: here, the phase (for accept's scope).
        this.log.info(fields, 'policy answer');
        return { type: 'accept', detail };
      case 'reject':
        this.log.info({ ...fields, reply: verdict.reply }, 'policy answer');
        return { type: 'decide', decision: { type: 'reject', reply: verdict.reply }, detail };
      case 'disconnect':
        this.log.info({ ...fields, reply: verdict.reply }, 'policy answer');
        return { type: 'decide', decision: { type: 'disconnect', reply: verdict.reply }, detail };
      case 'defer-if-permit':
        this.log.info({ ...fields, reply: verdict.reply }, 'policy answer');
        return { type: 'arm', deferral: { when: 'if-permit', reply: verdict.reply }, detail };
      case 'defer-if-reject':
        this.log.info({ ...fields, reply: verdict.reply }, 'policy answer');
        return { type: 'arm', deferral: { when: 'if-reject', reply: verdict.reply }, detail };
      case 'prepend':
        if (ctx.phase === 'commit') {
          // The message is already through data-line: no header can be added any more.
          this.log.warn(fields, 'policy answer PREPEND at commit: too late to add a header, ignored');
          return { type: 'continue', detail };
        }
        if (verdict.fixed.length > 0) {
          this.log.warn({ ...fields, header: verdict.header, fixed: verdict.fixed }, 'policy answer PREPEND sanitised (control characters replaced by spaces, or cut to 998 octets)');
        } else {
          this.log.info(fields, 'policy answer');
        }
        return { type: 'continue', addHeaders: [verdict.header], detail };
      case 'log':
        this.log[verdict.level]({ ...fields, action: verdict.keyword, text: verdict.text }, 'policy answer');
        return { type: 'continue', detail };
      case 'invalid':
        this.log.warn({ ...fields, err: verdict.reason, onError: this.step.onError }, 'policy answer not understood');
        throw new PolicyError('action', this.server, verdict.reason);
    }
  }

  private elapsed(started: number): number {
    return Math.round(this.deps.clock.monotonic() - started);
  }
}
