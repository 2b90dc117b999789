import { type Clock, systemClock } from '../domain/clock.js';

/** One served request as rollout analysis sees it. */
interface Sample {
  at: number;
  latencyMs: number;
  failed: boolean;
  /** The request's predictions (one per row), when the model's prediction output is known. */
  predictions: readonly (number | string)[] | null;
}

export interface WindowStats {
  readonly requests: number;
  readonly failures: number;
  /** failures / requests; 0 when there were no requests. */
  readonly errorRate: number;
  /** 99th percentile latency in ms; null when there were no requests. */
  readonly p99Ms: number | null;
}

const CAPACITY = 20_000;

/**
 * Recent outcomes per deployment version, kept in a ring of the last 20,000 requests each, for canary
 * analysis. Only requests the model itself answered or failed count: a client's bad input (4xx) says
 * nothing about the version.
 */
export class TrafficStats {
  private readonly rings = new Map<string, { samples: Sample[]; next: number }>();

  /** `clock` stamps each sample; analysis compares the stamps with a step's start on the same clock. */
  constructor(private readonly clock: Clock = systemClock) {}

  record(
    environment: string,
    model: string,
    version: number,
    latencyMs: number,
    failed: boolean,
    predictions: readonly (number | string)[] | null = null,
  ): void {
    const key = keyOf(environment, model, version);
    let ring = this.rings.get(key);
    if (!ring) {
      ring = { samples: [], next: 0 };
      this.rings.set(key, ring);
    }
    const sample = { at: this.clock.now(), latencyMs, failed, predictions };
    if (ring.samples.length < CAPACITY) ring.samples.push(sample);
    else ring.samples[ring.next] = sample;
    ring.next = (ring.next + 1) % CAPACITY;
  }

  /** The predictions one version answered in one environment since a moment (canary quality analysis). */
  predictions(environment: string, model: string, version: number, sinceMs: number): (number | string)[] {
    return this.samplesSince(environment, model, version, sinceMs).flatMap((s) => s.predictions ?? []);
  }

  /** Outcomes of one version in one environment since a moment (ms since the epoch). */
  since(environment: string, model: string, version: number, sinceMs: number): WindowStats {
    const samples = this.samplesSince(environment, model, version, sinceMs);
    if (samples.length === 0) return { requests: 0, failures: 0, errorRate: 0, p99Ms: null };
    const failures = samples.filter((s) => s.failed).length;
    const latencies = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
    const p99 = latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)] as number;
    return { requests: samples.length, failures, errorRate: failures / samples.length, p99Ms: p99 };
  }

  private samplesSince(environment: string, model: string, version: number, sinceMs: number): Sample[] {
    return (this.rings.get(keyOf(environment, model, version))?.samples ?? []).filter((s) => s.at >= sinceMs);
  }
}

const keyOf = (environment: string, model: string, version: number) => `${environment}/${model}@${version}`;
