import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { allowsHost, type HostAllowlist } from '../config/index.js';
import type { MetricsExposition } from '../observability/metrics.js';

export interface MetricsListener {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The metrics listener (`SLIPWAY_METRICS_PORT`): `GET /metrics` without a token, for Prometheus
 * scrapers, and nothing else. It reads the same exposition as `/metrics` on the main port, and
 * refuses a `Host` the server does not answer to (a page on another site cannot read it through DNS
 * rebinding).
 */
export async function startMetricsListener(
  exposition: MetricsExposition,
  host: string,
  port: number,
  allowedHosts: HostAllowlist,
): Promise<MetricsListener> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    const answer = (status: number, text: string, type = 'text/plain; charset=utf-8') => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : text);
    };
    if (!allowsHost(allowedHosts, request.headers.host)) return answer(421, 'Host not allowed.\n');
    if (path !== '/metrics') return answer(404, 'Only /metrics is served here.\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return answer(405, 'Use GET.\n');
    }
    exposition.text().then(
      (text) => answer(200, text, exposition.contentType),
      (error: Error) => answer(503, `Metrics are unavailable: ${error.message}\n`),
    );
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
