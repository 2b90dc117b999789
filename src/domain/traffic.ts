/**
 * Traffic figures: what the servers answered, per version and per window of time, as canary
 * analysis judges them. Every replica writes its own windows; the analysis sums them all.
 */

/** The length of one window of figures. */
export const WINDOW_MS = 1000;

/** The most predictions one window keeps for the divergence check (the first ones of the window). */
export const MAX_WINDOW_PREDICTIONS = 1000;

/**
 * Latencies as a histogram with 8 buckets per doubling: bucket `i` holds latencies up to 2^(i/8)
 * microseconds, so a quantile read from it is at most 9% above the true one. Sparse: only buckets
 * that hold something have a key. Histograms of any number of windows and replicas add up exactly.
 */
export type LatencyHistogram = Record<string, number>;

const BUCKETS_PER_DOUBLING = 8;

export function latencyBucket(latencyMs: number): number {
  const micros = latencyMs * 1000;
  return micros <= 1 ? 0 : Math.ceil(Math.log2(micros) * BUCKETS_PER_DOUBLING);
}

/** The largest latency (ms) bucket `i` holds. */
export function bucketUpperMs(bucket: number): number {
  return 2 ** (bucket / BUCKETS_PER_DOUBLING) / 1000;
}

/** Adds `from` into `into`. */
export function addHistogram(into: LatencyHistogram, from: Readonly<LatencyHistogram>): void {
  for (const [bucket, count] of Object.entries(from)) into[bucket] = (into[bucket] ?? 0) + count;
}

/**
 * The `q` quantile (0..1) of a histogram, as the upper bound of the bucket that holds the
 * ceil(q * n)-th latency (the convention of the nearest-rank percentile); null when it is empty.
 */
export function histogramQuantile(histogram: Readonly<LatencyHistogram>, q: number): number | null {
  const buckets = Object.entries(histogram)
    .map(([bucket, count]) => [Number(bucket), count] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(total * q));
  let seen = 0;
  for (const [bucket, count] of buckets) {
    seen += count;
    if (seen >= rank) return bucketUpperMs(bucket);
  }
  return bucketUpperMs((buckets.at(-1) as readonly [number, number])[0]);
}

/** One version's answers in one environment during one window, as one server counted them. */
export interface ServedWindow {
  readonly environment: string;
  readonly model: string;
  readonly version: number;
  /** Start of the window, ms since the epoch (a multiple of WINDOW_MS). */
  readonly windowStart: number;
  requests: number;
  /** Requests the model failed (not those refused for the caller's input). */
  failures: number;
  readonly latency: LatencyHistogram;
  /** The window's first predictions (one per row), kept only where the canary plan compares them. */
  readonly predictions: (number | string)[];
}

/** A deployment's shadow during one window: requests mirrored to it, and how its answers compared. */
export interface ShadowWindow {
  readonly environment: string;
  readonly model: string;
  /** The revision that set the shadow. */
  readonly revision: number;
  /** The shadow version. */
  readonly version: number;
  readonly windowStart: number;
  requests: number;
  failures: number;
  /** Requests whose every output equalled the served answer. */
  agreed: number;
  /** Largest absolute difference seen between numeric outputs. */
  maxAbsDiff: number;
}

/** One version's figures since a moment, every replica's requests counted. */
export interface WindowStats {
  readonly requests: number;
  readonly failures: number;
  /** failures / requests; 0 when there were no requests. */
  readonly errorRate: number;
  /** 99th percentile latency in ms (from the histogram); null when there were no requests. */
  readonly p99Ms: number | null;
}

/** A deployment's shadow comparison for one revision, every replica's mirrored requests counted. */
export interface ShadowStats {
  readonly revision: number;
  readonly version: number;
  readonly requests: number;
  readonly failures: number;
  readonly agreed: number;
  readonly maxAbsDiff: number;
}

/** The start of the window that holds a moment. */
export const windowOf = (ms: number): number => Math.floor(ms / WINDOW_MS) * WINDOW_MS;

/** Sums served windows into one version's figures. */
export function sumServed(
  windows: readonly Pick<ServedWindow, 'requests' | 'failures' | 'latency'>[],
): WindowStats {
  let requests = 0;
  let failures = 0;
  const latency: LatencyHistogram = {};
  for (const window of windows) {
    requests += window.requests;
    failures += window.failures;
    addHistogram(latency, window.latency);
  }
  return {
    requests,
    failures,
    errorRate: requests === 0 ? 0 : failures / requests,
    p99Ms: histogramQuantile(latency, 0.99),
  };
}
