/**
 * Live figures per served version, computed in the page from two successive reads of `/metrics`
 * (the counters `slipway_requests_total` and the histogram `slipway_request_duration_seconds`), as the
 * PromQL in docs/observability.md computes them from Prometheus: requests per second, the share of
 * server errors (5xx), and the p99 latency over the interval between the reads.
 */
export interface VersionFigures {
  readonly requestsPerSecond: number;
  readonly errorRate: number | null;
  readonly p99Ms: number | null;
  /** Requests answered since the server started. */
  readonly total: number;
}

export interface Sample {
  readonly at: number;
  /** `env/model/version` → counts. */
  readonly requests: Map<string, { total: number; errors: number }>;
  /** `env/model/version` → upper bound (le) → cumulative count. */
  readonly buckets: Map<string, Map<number, number>>;
}

export const figureKey = (environment: string, model: string, version: number | string) =>
  `${environment}/${model}/${version}`;

const LINE = /^([a-zA-Z_:][\w:]*)\{(.*)\}\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

export function parseSample(text: string, at: number): Sample {
  const requests = new Map<string, { total: number; errors: number }>();
  const buckets = new Map<string, Map<number, number>>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('slipway_request')) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const [, name, labelText, valueText] = match;
    const labels: Record<string, string> = {};
    for (const [, key, value] of labelText!.matchAll(LABEL)) labels[key!] = value!;
    if (!labels.model || !labels.version) continue;
    const key = figureKey(labels.environment ?? '', labels.model, labels.version);
    const value = Number(valueText);
    if (name === 'slipway_requests_total') {
      const entry = requests.get(key) ?? { total: 0, errors: 0 };
      entry.total += value;
      if (labels.code?.startsWith('5')) entry.errors += value;
      requests.set(key, entry);
    } else if (name === 'slipway_request_duration_seconds_bucket' && labels.le !== undefined) {
      const le = labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le);
      const entry = buckets.get(key) ?? new Map<number, number>();
      entry.set(le, (entry.get(le) ?? 0) + value);
      buckets.set(key, entry);
    }
  }
  return { at, requests, buckets };
}

/** The 0.99 quantile of the requests between two histogram reads, interpolated within its bucket. */
function p99(before: Map<number, number> | undefined, after: Map<number, number>): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => (after.get(le) ?? 0) - (before?.get(le) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = 0.99 * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i]! >= rank) {
      const upper = bounds[i]!;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      if (!Number.isFinite(upper)) return lower * 1000;
      const below = i === 0 ? 0 : counts[i - 1]!;
      const inBucket = counts[i]! - below;
      const fraction = inBucket > 0 ? (rank - below) / inBucket : 1;
      return (lower + (upper - lower) * fraction) * 1000;
    }
  }
  return null;
}

export function figuresBetween(before: Sample | null, after: Sample): Map<string, VersionFigures> {
  const figures = new Map<string, VersionFigures>();
  const seconds = before ? (after.at - before.at) / 1000 : 0;
  for (const [key, now] of after.requests) {
    const then = before?.requests.get(key) ?? { total: 0, errors: 0 };
    const requests = Math.max(0, now.total - then.total);
    const errors = Math.max(0, now.errors - then.errors);
    const histogram = after.buckets.get(key);
    figures.set(key, {
      requestsPerSecond: before && seconds > 0 ? requests / seconds : 0,
      errorRate: before && requests > 0 ? errors / requests : null,
      p99Ms: before && histogram ? p99(before.buckets.get(key), histogram) : null,
      total: now.total,
    });
  }
  return figures;
}
