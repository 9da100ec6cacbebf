/**
 * `--metrics [HOST:]PORT`: the metrics and their HTTP endpoint. Off unless
 * asked for. The CLI subscribes `metrics` to the host's events and gives
 * `metrics.pause` to the pause service.
 */
import type { Logger } from '../support/log.js';
import { FilterMetrics, type MetricsSources } from './filter-metrics.js';
import type { ListenAddress } from './listen-address.js';
import { startMetricsServer, type MetricsServer } from './server.js';

export { FilterMetrics, METRIC_PREFIX, type MetricsSources, type RenderedMetrics } from './filter-metrics.js';
export { formatListenAddress, parseListenAddress, type ListenAddress } from './listen-address.js';

export interface RunningMetrics {
  readonly metrics: FilterMetrics;
  readonly server: MetricsServer;
  close(): Promise<void>;
}

export interface StartMetricsOptions {
  readonly listen: ListenAddress;
  readonly chain: string;
  readonly version: string;
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
    close: () => server.close(),
  };
}
