/**
 * The filter's Prometheus metrics, in a private prom-client Registry (never
 * the global one). It subscribes to what the other layers tell: the
 * runtime's events (RuntimeEvents: steps started and run, decisions, the
 * three session events; kind-specific series through step-metrics.ts) and
 * the pause service's PauseEvents (`pause`), so no other module imports
 * prom-client.
 *
 * Cardinality stays bounded: labels are phases, decision kinds, step kinds
 * and results (fixed sets), policy servers and steps (as written in the
 * rules). Steps are identified by chain, index, kind and `file:line`; when the
 * rules change, the series of steps that no longer exist are removed, so
 * reloads do not pile up series.
 */
import { createRequire } from 'node:module';
import type * as PromClientModule from 'prom-client';
import type { Registry, RegistryContentType } from 'prom-client';
import type { DnsListEvents } from '../model/dns-lists.js';
import type { PauseEnd, PauseEvents } from '../steps/pause/run.js';
import { SPF_RESULTS } from '../model/auth.js';
import type { CompiledChain, CompiledStep, StepOf } from '../model/plan.js';
import type { PregreetOptions } from '../steps/pause/define.js';
import type { DecisionEvent, EarlyTalkerEvent, RuntimeEvents, SessionEvictedEvent, StepRanEvent, UnknownSessionEvent } from '../runtime/events.js';
import { feedStepRun, stepRunMetrics, type StepRunMetrics, type StepSeries } from './step-metrics.js';

type PromClient = typeof PromClientModule;
let promClient: PromClient | undefined;

/**
 * prom-client costs about 13 MB of memory once loaded, and metrics are off by
 * default: it is loaded (it is CommonJS, so synchronously) only when a
 * FilterMetrics is made, i.e. only with --metrics.
 */
function loadPromClient(): PromClient {
  promClient ??= createRequire(import.meta.url)('prom-client') as PromClient;
  return promClient;
}

export const METRIC_PREFIX = 'filter_rules_';

/** Live values the metrics read when scraped. */
export interface MetricsSources {
  /** Sessions the filter knows now. */
  readonly sessions?: () => number;
  /** Reload passes by outcome (applied, unchanged, rejected, refused, missing, failed, abandoned), since start. */
  readonly reloads?: () => Readonly<Record<string, number>>;
}

export interface FilterMetricsOptions {
  /** The chain this filter process runs (a label of step series). */
  readonly chain: string;
  readonly version: string;
  readonly sources?: MetricsSources;
  /** Process metrics (CPU, memory, event-loop delay, ...). Default true. */
  readonly defaultMetrics?: boolean;
}

export interface RenderedMetrics {
  readonly contentType: string;
  readonly body: string;
}

const DECISION_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const DNS_LIST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5];
const POLICY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const GREYLIST_RESULTS = new Set(['new', 'early-retry', 'pass', 'known', 'client-awl', 'skipped', 'error']);
const SPF_RESULT_LABELS = new Set([...SPF_RESULTS, 'skipped', 'error']);

type StepLabelNames = 'chain' | 'step' | 'kind' | 'rule';
type StepLabels = Record<StepLabelNames, string>;

interface TrackedStep {
  readonly id: string;
  readonly labels: StepLabels;
  readonly decisions: Set<string>;
  readonly errors: Set<string>;
}

export class FilterMetrics implements RuntimeEvents, StepSeries {
  /** Prometheus text format 0.0.4. */
  readonly registry: Registry<RegistryContentType>;
  /** The same metrics in OpenMetrics 1.0 text (content negotiation). */
  readonly openMetricsRegistry: Registry<RegistryContentType>;

  private readonly chain: string;
  private readonly stepCache = new WeakMap<CompiledStep, TrackedStep>();
  private readonly tracked = new Map<string, TrackedStep>();
  private pausedNow = 0;
  private readonly byKind: StepRunMetrics;
  /** What the pause service tells (ServiceDeps.events.pause): the paused-sessions gauge, pause ends, pregreet early talkers. */
  readonly pause: PauseEvents;
  /**
   * What the DNS lists tell (ServiceDeps.events.dnsLists), labelled by the
   * list's display name, never its zone (which may hold a key).
   */
  readonly dnsLists: DnsListEvents;

  private readonly decisions;
  private readonly decisionSeconds;
  private readonly stepRuns;
  private readonly stepDecisions;
  private readonly stepErrors;
  private readonly greylist;
  private readonly spf;
  private readonly limitsExceeded;
  private readonly policyRequests;
  private readonly policySeconds;
  private readonly earlyTalkers;
  private readonly pauses;
  private readonly evictions;
  private readonly unknownSessions;

  constructor(options: FilterMetricsOptions) {
    const client = loadPromClient();
    const { Counter, Gauge, Histogram, collectDefaultMetrics } = client;
    this.chain = options.chain;
    this.registry = new client.Registry<RegistryContentType>();
    this.openMetricsRegistry = new client.Registry<RegistryContentType>();
    this.openMetricsRegistry.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
    const registers = [this.registry, this.openMetricsRegistry];
    const name = (n: string): string => `${METRIC_PREFIX}${n}`;
    const sources = options.sources ?? {};
    // collect() callbacks run at scrape time; `self` keeps the metric's own `this`.
    const self = this;

    new Gauge({
      name: name('build_info'),
      help: 'Always 1; the labels say which filter-rules and Node.js run',
      labelNames: ['version', 'node', 'chain'] as const,
      registers,
    }).set({ version: options.version, node: process.version, chain: options.chain }, 1);

    new Gauge({
      name: name('sessions'),
      help: 'SMTP sessions the filter is tracking now',
      registers,
      collect() {
        if (sources.sessions !== undefined) this.set(sources.sessions());
      },
    });
    new Gauge({
      name: name('paused_sessions'),
      help: 'Requests waiting in a pause step now (at connect: clients waiting for the banner)',
      registers,
      collect() {
        this.set(self.pausedNow);
      },
    });

    this.evictions = new Counter({
      name: name('sessions_evicted_total'),
      help: 'Sessions forgotten because the session table was full (the least recently active one goes)',
      registers,
    });
    this.unknownSessions = new Counter({
      name: name('unknown_session_requests_total'),
      help: 'Requests after connect for a session the filter does not know (evicted, or never seen connecting), answered with a tempfail',
      labelNames: ['phase'] as const,
      registers,
    });

    this.decisions = new Counter({
      name: name('decisions_total'),
      help: 'Filter requests answered, by request phase and decision (accept: a step accepted; proceed: no step decided)',
      labelNames: ['phase', 'decision'] as const,
      registers,
    });
    this.decisionSeconds = new Histogram({
      name: name('decision_duration_seconds'),
      help: 'Time from a filter request to its answer, pauses included',
      labelNames: ['phase'] as const,
      buckets: DECISION_BUCKETS,
      registers,
    });

    const stepLabelNames = ['chain', 'step', 'kind', 'rule'] as const;
    this.stepRuns = new Counter({
      name: name('step_runs_total'),
      help: 'Times a step ran (its condition held); rule is file:line',
      labelNames: stepLabelNames,
      registers,
    });
    this.stepDecisions = new Counter({
      name: name('step_decisions_total'),
      help: 'Times a step ended its phase, by the decision sent',
      labelNames: [...stepLabelNames, 'decision'] as const,
      registers,
    });
    this.stepErrors = new Counter({
      name: name('step_errors_total'),
      help: 'Step failures (server down, store error, deadline); timeout="true" when the step missed its deadline',
      labelNames: [...stepLabelNames, 'timeout'] as const,
      registers,
    });

    this.greylist = new Counter({
      name: name('greylist_checks_total'),
      help: 'Built-in greylisting checks by result: new, early-retry (refused), pass, known, client-awl (let through), skipped, error',
      labelNames: ['result'] as const,
      registers,
    });
    this.spf = new Counter({
      name: name('spf_checks_total'),
      help: 'SPF checks by identity (mailfrom, helo) and result: pass, fail, softfail, neutral, none, temperror, permerror, skipped (no address), error (the step failed)',
      labelNames: ['identity', 'result'] as const,
      registers,
    });
    this.limitsExceeded = new Counter({
      name: name('limit_exceeded_total'),
      help: 'Events a limit step found over its limit, per step (dry-run steps too: what they would have refused)',
      labelNames: stepLabelNames,
      registers,
    });
    this.policyRequests = new Counter({
      name: name('policy_requests_total'),
      help: 'Policy server requests by server and result: answered, or the failure kind (timeout, connect, closed, protocol, ...)',
      labelNames: ['server', 'result'] as const,
      registers,
    });
    this.policySeconds = new Histogram({
      name: name('policy_request_duration_seconds'),
      help: 'Policy server request latency, failures included',
      labelNames: ['server'] as const,
      buckets: POLICY_BUCKETS,
      registers,
    });

    this.earlyTalkers = new Counter({
      name: name('early_talkers_total'),
      help: 'Clients that talked before their turn: detected_by="smtpd" (refused for pipelining) or "pause" (pregreet), with what was done',
      labelNames: ['detected_by', 'action'] as const,
      registers,
    });
    this.pauses = new Counter({
      name: name('pauses_total'),
      help: 'Pauses by how they ended: waited, talked (early talker refused), gone (client hung up), aborted, paid (skipped: pay-once)',
      labelNames: ['result'] as const,
      registers,
    });

    new Counter({
      name: name('reloads_total'),
      help: 'Rules reload passes by outcome: applied, unchanged, rejected (the new rules do not compile), refused, missing, failed (internal error), abandoned (past the time limit)',
      labelNames: ['result'] as const,
      registers,
      collect() {
        if (sources.reloads === undefined) return;
        // The reloader counts; mirror its totals (they only grow).
        this.reset();
        for (const [result, n] of Object.entries(sources.reloads())) if (n > 0) this.inc({ result }, n);
      },
    });

    if (options.defaultMetrics !== false) {
      for (const register of registers) collectDefaultMetrics({ register });
    }
    const dnsLookups = new Counter({
      name: name('dns_list_lookups_total'),
      help: 'DNS list lookups by list (its name, never its zone) and result: listed, clear, error (cache hits included)',
      labelNames: ['list', 'result'] as const,
      registers,
    });
    const dnsErrors = new Counter({
      name: name('dns_list_errors_total'),
      help: 'DNS list lookups that failed, by list and kind: timeout, servfail, refused, unreachable, malformed, other, not-loopback, list-refused',
      labelNames: ['list', 'error'] as const,
      registers,
    });
    const dnsSeconds = new Histogram({
      name: name('dns_list_lookup_duration_seconds'),
      help: 'How long a DNS list lookup took (0 from the cache), by list',
      labelNames: ['list'] as const,
      buckets: DNS_LIST_BUCKETS,
      registers,
    });
    const dnsUp = new Gauge({
      name: name('dns_list_up'),
      help: '1 while a DNS list is healthy, 0 while it is degraded (its weight skipped: its lookups or probes keep failing)',
      labelNames: ['list'] as const,
      registers,
    });
    this.dnsLists = {
      looked: (list, result, error, seconds) => {
        dnsLookups.inc({ list, result });
        if (error !== null) dnsErrors.inc({ list, error });
        dnsSeconds.observe({ list }, seconds);
      },
      health: (list, state) => dnsUp.set({ list }, state === 'up' ? 1 : 0),
      forgotten: (list) => dnsUp.remove({ list }),
    };
    this.byKind = stepRunMetrics(this);
    this.pause = {
      started: () => {
        this.pausedNow++;
      },
      ended: (_step: CompiledStep, end: PauseEnd) => {
        this.pausedNow = Math.max(0, this.pausedNow - 1);
        this.pauses.inc({ result: end });
      },
      skipped: () => this.pauses.inc({ result: 'paid' }),
      earlyTalker: (_step: CompiledStep, action: PregreetOptions['action']) => {
        this.earlyTalkers.inc({ detected_by: 'pause', action: action === 'disconnect' ? 'disconnected' : 'logged' });
      },
    };
  }

  // --- RuntimeEvents ---------------------------------------------------------

  stepStarted(step: CompiledStep): void {
    this.stepRuns.inc(this.stepEntry(step).labels);
  }

  stepRan(e: StepRanEvent): void {
    feedStepRun(this.byKind, e);
  }

  decision(e: DecisionEvent): void {
    const decision = e.kind === 'accept' ? 'accept' : e.sent.type;
    this.decisions.inc({ phase: e.request, decision });
    this.decisionSeconds.observe({ phase: e.request }, e.ms / 1000);
    const evaluation = e.evaluation;
    if (evaluation === null) return;
    if (evaluation.step !== null && (e.kind === 'decide' || e.kind === 'accept')) {
      const t = this.stepEntry(evaluation.step);
      this.stepDecisions.inc({ ...t.labels, decision });
      t.decisions.add(decision);
    }
    for (const f of evaluation.faults) {
      const t = this.stepEntry(f.step);
      const timeout = f.timedOut ? 'true' : 'false';
      this.stepErrors.inc({ ...t.labels, timeout });
      t.errors.add(timeout);
    }
  }

  earlyTalker(_e: EarlyTalkerEvent): void {
    this.earlyTalkers.inc({ detected_by: 'smtpd', action: 'dropped' });
  }

  sessionEvicted(_e: SessionEvictedEvent): void {
    this.evictions.inc();
  }

  unknownSession(e: UnknownSessionEvent): void {
    this.unknownSessions.inc({ phase: e.request });
    // Answered too, so it counts among the decisions (no step ran, no duration to speak of).
    this.decisions.inc({ phase: e.request, decision: e.decision.type });
  }

  // --- StepSeries (step-metrics.ts) ------------------------------------------

  policyDone(server: string, seconds: number, failure: string | null): void {
    this.policyRequests.inc({ server, result: failure ?? 'answered' });
    this.policySeconds.observe({ server }, seconds);
  }

  greylistDone(result: string): void {
    this.greylist.inc({ result: GREYLIST_RESULTS.has(result) ? result : 'other' });
  }

  spfDone(identity: string, result: string): void {
    this.spf.inc({ identity, result: SPF_RESULT_LABELS.has(result) ? result : 'other' });
  }

  limitExceeded(step: StepOf<'limit'>): void {
    this.limitsExceeded.inc(this.stepEntry(step).labels);
  }

  // --- reloads and output ----------------------------------------------------

  /**
   * The rules now running: drop the series of steps that are not in `chain`
   * any more (sessions started under older rules may bring one back until
   * the next change, which is harmless).
   */
  rulesApplied(chain: CompiledChain): void {
    const live = new Set(chain.steps.map((s) => identity(this.chain, s)));
    for (const [id, t] of this.tracked) {
      if (live.has(id)) continue;
      this.stepRuns.remove(t.labels);
      if (t.labels.kind === 'limit') this.limitsExceeded.remove(t.labels);
      for (const decision of t.decisions) this.stepDecisions.remove({ ...t.labels, decision });
      for (const timeout of t.errors) this.stepErrors.remove({ ...t.labels, timeout });
      this.tracked.delete(id);
    }
  }

  /** The exposition for a scrape; OpenMetrics when the Accept header asks for it. */
  async render(accept?: string): Promise<RenderedMetrics> {
    const registry = accept !== undefined && /application\/openmetrics-text/i.test(accept) ? this.openMetricsRegistry : this.registry;
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  /** The step's labels and what was counted for it; (re)tracked, so pruned series can be pruned again. */
  private stepEntry(step: CompiledStep): TrackedStep {
    let t = this.stepCache.get(step);
    if (t === undefined) {
      const id = identity(this.chain, step);
      // Another CompiledStep object of an identical step (a reload that kept it) shares the series.
      t = this.tracked.get(id) ?? {
        id,
        labels: { chain: this.chain, step: String(step.index), kind: step.action.kind, rule: `${step.span.file}:${step.span.line}` },
        decisions: new Set(),
        errors: new Set(),
      };
      this.stepCache.set(step, t);
    }
    if (!this.tracked.has(t.id)) this.tracked.set(t.id, t);
    return t;
  }
}

function identity(chain: string, step: CompiledStep): string {
  return `${chain}|${step.index}|${step.action.kind}|${step.span.file}:${step.span.line}`;
}
