import { createServer } from 'node:http';
import type { Registry } from 'prom-client';

export interface Probes {
  /** Why this server takes no new clients now, or undefined when it does: /readyz then answers 503 with it,
   * so that load balancers stop sending new clients (while draining, SIGTERM/SIGINT's grace period). */
  unready(): string | undefined;
}

export interface MetricsServer {
  /** The port chosen when 0 was asked for. */
  readonly address: { readonly host: string; readonly port: number };
  close(): void;
}

/** A registry, or what stands for one: the primary of `serve --workers` answers with its workers' totals. */
export type MetricsSource = Pick<Registry, 'metrics' | 'contentType'>;

/** Connections the metrics port holds at once; more are closed as they arrive. A scraper keeps one open, and
 * this fits in the descriptors serve keeps back from --max-connections (limits.ts): a flood of connections
 * to the metrics port cannot take the proxy's descriptors. */
const MAX_METRICS_CONNECTIONS = 32;

/** GET /metrics (the Prometheus text format), /healthz (200 while the process runs) and /readyz. */
export async function serveMetrics(registry: MetricsSource, probes: Probes, host: string, port: number): Promise<MetricsServer> {
  // Timeouts are checked every second rather than Node's 30, so a stalled connection is not held past them.
  const server = createServer({ connectionsCheckingInterval: 1000 }, (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const answer = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(request.method === 'HEAD' ? undefined : body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return answer(405, 'GET only\n');
    if (path === '/healthz') return answer(200, 'ok\n');
    if (path === '/readyz') {
      const why = probes.unready();
      return why === undefined ? answer(200, 'ready\n') : answer(503, `${why}\n`);
    }
    if (path !== '/metrics') return answer(404, 'not found: try /metrics, /healthz or /readyz\n');
    registry.metrics().then((text) => answer(200, text, registry.contentType), (error: unknown) => answer(500, `cannot collect metrics: ${String(error)}\n`));
  });
  // Scrapes are short; idle keep-alive sockets beyond a few seconds are of no use.
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.maxConnections = MAX_METRICS_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  const address = server.address();
  return {
    address: { host, port: typeof address === 'object' && address ? address.port : port },
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}
