import autocannon from 'autocannon';

/** One POST endpoint under load: the same body on every request. */
export interface Target {
  readonly url: string;
  readonly body: string;
}

export interface Measurement {
  readonly connections: number;
  /** Successful (2xx) responses per second over the whole run. */
  readonly requestsPerSecond: number;
  /** Latency of the 2xx responses, in milliseconds. */
  readonly p50: number;
  readonly p99: number;
  /** Non-2xx responses, connection errors and timeouts. */
  readonly errors: number;
}

/**
 * Closed-loop load with autocannon: `connections` keep-alive connections, each sending the next
 * request as soon as the last answer arrived, for `seconds`.
 *
 * Latencies are taken from autocannon's per-response event rather than its histogram, which keeps
 * whole milliseconds only: sub-millisecond percentiles would all read 0 or 1.
 */
export async function measure(target: Target, connections: number, seconds: number): Promise<Measurement> {
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const options: autocannon.Options = {
      url: target.url,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: target.body,
      connections,
      duration: seconds,
      timeout: 10,
    };
    const instance = autocannon(options, (error: unknown, done) => (error ? reject(error) : resolve(done)));
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
  latencies.sort((a, b) => a - b);
  return {
    connections,
    requestsPerSecond: latencies.length / (result.duration || seconds),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors: result.non2xx + result.errors + result.timeouts,
  };
}

/** Nearest-rank percentile of sorted values; NaN when there are none. */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}
