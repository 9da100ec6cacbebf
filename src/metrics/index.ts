/**
 * `--metrics [HOST:]PORT`: the metrics, their HTTP endpoint, and the hooks
 * the CLI plugs into the runtime. Off unless asked for.
 */
import type { StepServices } from '../steps/service.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { FilterMetrics, type MetricsSources } from './filter-metrics.js';
import { instrumentServices } from './instrument.js';
import type { ListenAddress } from './listen-address.js';
import { startMetricsServer, type MetricsServer } from './server.js';

export { FilterMetrics, METRIC_PREFIX, type MetricsSources, type RenderedMetrics } from './filter-metrics.js';
export { formatListenAddress, parseListenAddress, type ListenAddress } from './listen-address.js';

export interface RunningMetrics {
  readonly metrics: FilterMetrics;
  readonly server: MetricsServer;
  /** The services with policy and greylist runners measured. */
  instrument(services: StepServices): StepServices;
  close(): Promise<void>;
}

export interface StartMetricsOptions {
  readonly listen: ListenAddress;
  readonly chain: string;
  readonly version: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly sources: MetricsSources;
  readonly defaultMetrics?: boolean;
}

export function startMetrics(options: StartMetricsOptions): RunningMetrics {
  const metrics = new FilterMetrics({
    chain: options.chain,
    version: options.version,
    sources: options.sources,
    ...(options.defaultMetrics !== undefined ? { defaultMetrics: options.defaultMetrics } : {}),
  });
  const server = startMetricsServer({ listen: options.listen, render: (accept) => metrics.render(accept), log: options.log });
  return {
    metrics,
    server,
    instrument: (services) => instrumentServices(services, metrics, options.clock),
    close: () => server.close(),
  };
}
