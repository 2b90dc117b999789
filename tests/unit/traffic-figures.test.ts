import { describe, expect, it } from 'vitest';
import {
  bucketUpperMs,
  histogramQuantile,
  type LatencyHistogram,
  latencyBucket,
  sumServed,
  WINDOW_MS,
} from '../../src/domain/traffic.js';
import { TrafficStats } from '../../src/serving/traffic-stats.js';
import { ManualClock } from '../helpers/manual-clock.js';

const histogramOf = (latencies: readonly number[]): LatencyHistogram => {
  const histogram: LatencyHistogram = {};
  for (const ms of latencies) {
    const bucket = latencyBucket(ms);
    histogram[bucket] = (histogram[bucket] ?? 0) + 1;
  }
  return histogram;
};

describe('latency histograms', () => {
  it('puts each latency in a bucket whose upper bound is at most 9% above it', () => {
    for (const ms of [0.0005, 0.001, 0.0123, 0.5, 1, 1.7, 10, 99.9, 250, 1234.5, 60_000]) {
      const upper = bucketUpperMs(latencyBucket(ms));
      expect(upper).toBeGreaterThanOrEqual(Math.min(ms, 0.001) * 0.999999);
      if (ms >= 0.001) expect(upper / ms).toBeLessThanOrEqual(2 ** (1 / 8) + 1e-9);
    }
  });

  it('reads the p99 within 9% of the nearest-rank p99, for any mix of windows', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let trial = 0; trial < 50; trial++) {
      const latencies = Array.from(
        { length: 1 + Math.floor(random() * 3000) },
        () => 0.2 + random() ** 4 * 400,
      );
      const sorted = [...latencies].sort((a, b) => a - b);
      const exact = sorted[Math.ceil(sorted.length * 0.99) - 1] as number;
      // Split among three replicas' windows: the sum reads the same.
      const thirds = [0, 1, 2].map((k) => latencies.filter((_, i) => i % 3 === k));
      const figures = sumServed(
        thirds.map((part) => ({ requests: part.length, failures: 0, latency: histogramOf(part) })),
      );
      expect(figures.requests).toBe(latencies.length);
      expect(figures.p99Ms as number).toBeGreaterThanOrEqual(exact);
      expect((figures.p99Ms as number) / exact).toBeLessThanOrEqual(2 ** (1 / 8) + 1e-9);
    }
    expect(histogramQuantile({}, 0.99)).toBeNull();
    expect(sumServed([])).toEqual({ requests: 0, failures: 0, errorRate: 0, p99Ms: null });
  });
});

describe('TrafficStats', () => {
  it('counts requests per version and window, keeps at most 1000 predictions a window, and drains once', async () => {
    const clock = new ManualClock();
    const stats = new TrafficStats(clock);
    for (let i = 0; i < 1200; i++) stats.record('prod', 'm', 1, 2, i % 100 === 0, ['a']);
    stats.record('prod', 'm', 2, 3, false);
    await clock.advance(WINDOW_MS);
    stats.record('prod', 'm', 1, 4, false, ['b']);
    stats.recordShadow('prod', 'm', 5, 2, { failed: false, agreed: true, maxAbsDiff: 0 });
    stats.recordShadow('prod', 'm', 5, 2, { failed: false, agreed: false, maxAbsDiff: 0.5 });
    stats.recordShadow('prod', 'm', 5, 2, { failed: true });

    const drained = stats.drain();
    const first = drained.served.find((w) => w.version === 1 && w.requests === 1200);
    expect(first).toMatchObject({ failures: 12 });
    expect(first?.predictions).toHaveLength(1000);
    expect(drained.served.map((w) => w.requests).sort((a, b) => a - b)).toEqual([1, 1, 1200]);
    expect(drained.shadow).toEqual([
      expect.objectContaining({
        revision: 5,
        version: 2,
        requests: 3,
        failures: 1,
        agreed: 1,
        maxAbsDiff: 0.5,
      }),
    ]);
    expect(stats.drain()).toEqual({ served: [], shadow: [] });

    // What could not be written goes with the next drain, added to what came meanwhile.
    stats.restore(drained);
    stats.record('prod', 'm', 1, 4, true, ['c']);
    const again = stats.drain();
    expect(again.served.map((w) => w.requests).sort((a, b) => a - b)).toEqual([1, 2, 1200]);
    expect(again.served.find((w) => w.requests === 2)).toMatchObject({
      failures: 1,
      predictions: ['b', 'c'],
    });
    expect(again.shadow[0]).toMatchObject({ requests: 3 });
  });
});
