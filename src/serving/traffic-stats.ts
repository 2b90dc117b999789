import { type Clock, systemClock } from '../domain/clock.js';
import {
  addHistogram,
  latencyBucket,
  MAX_WINDOW_PREDICTIONS,
  type ServedWindow,
  type ShadowWindow,
  windowOf,
} from '../domain/traffic.js';

/** How a mirrored request's shadow answer compared with the served one. */
export type ShadowOutcome =
  | { readonly failed: true }
  | { readonly failed: false; readonly agreed: boolean; readonly maxAbsDiff: number };

/**
 * This process's traffic figures not yet written: the outcome of each served request, per version
 * and per window of WINDOW_MS, and each shadow comparison. The deployments module drains them into
 * the registry every window (`TrafficFigures`), where canary analysis sums every replica's windows.
 * Only requests the model itself answered or failed count: a client's bad input (4xx) says nothing
 * about the version.
 */
export class TrafficStats {
  private served = new Map<string, ServedWindow>();
  private shadows = new Map<string, ShadowWindow>();

  /** `clock` puts each request in its window; analysis compares windows with a step's start on it. */
  constructor(private readonly clock: Clock = systemClock) {}

  record(
    environment: string,
    model: string,
    version: number,
    latencyMs: number,
    failed: boolean,
    predictions: readonly (number | string)[] | null = null,
  ): void {
    const windowStart = windowOf(this.clock.now());
    const key = `${environment}/${model}@${version}/${windowStart}`;
    let window = this.served.get(key);
    if (!window) {
      window = {
        environment,
        model,
        version,
        windowStart,
        requests: 0,
        failures: 0,
        latency: {},
        predictions: [],
      };
      this.served.set(key, window);
    }
    window.requests += 1;
    if (failed) window.failures += 1;
    const bucket = latencyBucket(latencyMs);
    window.latency[bucket] = (window.latency[bucket] ?? 0) + 1;
    if (predictions) {
      const room = MAX_WINDOW_PREDICTIONS - window.predictions.length;
      if (room > 0) window.predictions.push(...predictions.slice(0, room));
    }
  }

  /** One mirrored request of a deployment's revision, answered by its shadow version (or failed). */
  recordShadow(
    environment: string,
    model: string,
    revision: number,
    version: number,
    outcome: ShadowOutcome,
  ): void {
    const windowStart = windowOf(this.clock.now());
    const key = `${environment}/${model}#${revision}/${windowStart}`;
    let window = this.shadows.get(key);
    if (!window) {
      window = {
        environment,
        model,
        revision,
        version,
        windowStart,
        requests: 0,
        failures: 0,
        agreed: 0,
        maxAbsDiff: 0,
      };
      this.shadows.set(key, window);
    }
    window.requests += 1;
    if (outcome.failed) window.failures += 1;
    else {
      if (outcome.agreed) window.agreed += 1;
      window.maxAbsDiff = Math.max(window.maxAbsDiff, outcome.maxAbsDiff);
    }
  }

  /** Hands over every window recorded since the last drain, and forgets them. */
  drain(): { served: ServedWindow[]; shadow: ShadowWindow[] } {
    const drained = { served: [...this.served.values()], shadow: [...this.shadows.values()] };
    this.served = new Map();
    this.shadows = new Map();
    return drained;
  }

  /** Puts windows back that could not be written, to go with the next drain. */
  restore(windows: { served: readonly ServedWindow[]; shadow: readonly ShadowWindow[] }): void {
    for (const window of windows.served) {
      const key = `${window.environment}/${window.model}@${window.version}/${window.windowStart}`;
      const newer = this.served.get(key);
      if (!newer) {
        this.served.set(key, window);
        continue;
      }
      newer.requests += window.requests;
      newer.failures += window.failures;
      addHistogram(newer.latency, window.latency);
      newer.predictions.push(
        ...window.predictions.slice(0, MAX_WINDOW_PREDICTIONS - newer.predictions.length),
      );
    }
    for (const window of windows.shadow) {
      const key = `${window.environment}/${window.model}#${window.revision}/${window.windowStart}`;
      const newer = this.shadows.get(key);
      if (!newer) {
        this.shadows.set(key, window);
        continue;
      }
      newer.requests += window.requests;
      newer.failures += window.failures;
      newer.agreed += window.agreed;
      newer.maxAbsDiff = Math.max(newer.maxAbsDiff, window.maxAbsDiff);
    }
  }
}
