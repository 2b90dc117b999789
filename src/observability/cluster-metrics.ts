import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { MetricsExposition } from './metrics.js';

const REQUEST = 'slipway:metrics-request';
const RESPONSE = 'slipway:metrics-response';
/** How long an HTTP process waits for the primary to gather every process's metrics. */
const TIMEOUT_MS = 5_000;

interface MetricsMessage {
  readonly type: typeof REQUEST | typeof RESPONSE;
  readonly id: number;
  readonly text?: string;
  readonly error?: string;
}

/**
 * In the primary of `SLIPWAY_HTTP_PROCESSES=N`: answers an HTTP process that asks for the server's
 * metrics with every process's metrics summed (prom-client's AggregatorRegistry), so a scrape that
 * reaches any process counts every request exactly once.
 */
export function gatherClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: MetricsMessage) => {
    if (message?.type !== REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: RESPONSE, id: message.id, text }),
      (error: Error) => worker.send({ type: RESPONSE, id: message.id, error: error.message }),
    );
  });
}

/**
 * In an HTTP process of a cluster: offers `registry` to the primary's aggregation, and answers
 * `/metrics` with the primary's sum over every process.
 */
export function clusterExposition(registry: Registry): MetricsExposition {
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  let next = 0;
  const pending = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  process.on('message', (message: MetricsMessage) => {
    if (message?.type !== RESPONSE) return;
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.text !== undefined) waiting.resolve(message.text);
    else waiting.reject(new Error(`the primary could not gather metrics: ${message.error ?? 'no answer'}`));
  });
  return {
    contentType: registry.contentType,
    text: () =>
      new Promise<string>((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`the primary did not gather metrics within ${TIMEOUT_MS} ms`));
        }, TIMEOUT_MS);
        pending.set(id, {
          resolve: (text) => {
            clearTimeout(timer);
            resolve(text);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        process.send?.({ type: REQUEST, id } satisfies MetricsMessage);
      }),
  };
}
