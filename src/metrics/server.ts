/**
 * The HTTP edge of the metrics: GET /metrics serves the exposition, anything
 * else is 404. A failure to bind (port in use, no permission) is logged and
 * the filter runs on without metrics: mail must never stop for them.
 * The server does not keep the process alive (smtpd's EOF ends it).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../support/log.js';
import type { RenderedMetrics } from './filter-metrics.js';
import { formatListenAddress, type ListenAddress } from './listen-address.js';

export interface MetricsServerOptions {
  readonly listen: ListenAddress;
  readonly render: (accept: string | undefined) => Promise<RenderedMetrics>;
  readonly log: Logger;
}

export interface MetricsServer {
  /** Resolves with the bound address once listening, or null when binding failed (logged). */
  readonly ready: Promise<ListenAddress | null>;
  close(): Promise<void>;
}

/** Scrapers are few; a flood of connections gets refused rather than queued. */
const MAX_CONNECTIONS = 32;

export function startMetricsServer(options: MetricsServerOptions): MetricsServer {
  const { log } = options;
  const where = formatListenAddress(options.listen);
  const server: Server = createServer((req, res) => {
    void handle(req, res, options.render, log);
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;

  const ready = new Promise<ListenAddress | null>((resolve) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      log.error({ listen: where, err: error.code ?? error.message }, 'metrics endpoint cannot listen; running without metrics');
      resolve(null);
    };
    server.once('error', onError);
    server.listen({ host: options.listen.host, port: options.listen.port }, () => {
      server.off('error', onError);
      server.on('error', (error) => log.warn({ err: error.message }, 'metrics endpoint error'));
      const addr = server.address();
      const bound = typeof addr === 'object' && addr !== null ? { host: addr.address, port: addr.port } : options.listen;
      log.info({ listen: formatListenAddress(bound), path: '/metrics' }, 'metrics endpoint listening');
      resolve(bound);
    });
    server.unref();
  });

  return {
    ready,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        if (!server.listening) resolve();
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  render: MetricsServerOptions['render'],
  log: Logger,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found: metrics are at /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    res.end('method not allowed\n');
    return;
  }
  try {
    const out = await render(req.headers.accept);
    res.writeHead(200, { 'content-type': out.contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : out.body);
  } catch (error) {
    log.warn({ err: error instanceof Error ? error.message : String(error) }, 'rendering metrics failed');
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('metrics unavailable\n');
  }
}
