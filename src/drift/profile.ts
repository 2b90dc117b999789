import {
  type Cell,
  columnOf,
  type FeatureKind,
  type FeatureSpec,
  featuresOf,
  predictionOf,
} from '../domain/features.js';
import type { ModelVersion } from '../domain/model.js';

/** Where a version's reference data came from, in the order they are looked for. */
export type ReferenceSource =
  | 'dataset:reference'
  | 'dataset:training'
  | 'dataset:validation'
  | 'manifest:sample';

/** The most reference rows a profile keeps; larger data sets are sampled evenly. */
export const MAX_REFERENCE_ROWS = 10_000;

/** One feature of the reference data: its summary, and the values drift tests compare against. */
export interface FeatureProfile {
  readonly name: string;
  readonly kind: FeatureKind;
  readonly count: number;
  /** Share of rows where the value is missing (or not of the feature's kind). */
  readonly nullShare: number;
  /** Numerical features: min, p5, p25, p50, p75, p95, max, mean and standard deviation. */
  readonly summary?: {
    readonly min: number;
    readonly p5: number;
    readonly p25: number;
    readonly p50: number;
    readonly p75: number;
    readonly p95: number;
    readonly max: number;
    readonly mean: number;
    readonly std: number;
  };
  /** Categorical features: each category's share of the non-missing values. */
  readonly categories?: Readonly<Record<string, number>>;
  /** The reference values, nulls left out, in row order (at most MAX_REFERENCE_ROWS). */
  readonly values: readonly (number | string)[];
}

/**
 * A version's reference profile: its reference data (the training data, else the validation data,
 * else the manifest's sample rows) profiled per feature, and the version's own predictions on it.
 * Drift compares a window of live data with this.
 */
export interface ReferenceProfile {
  readonly model: string;
  readonly version: number;
  readonly source: ReferenceSource;
  readonly rows: number;
  readonly createdAt: string;
  readonly features: readonly FeatureProfile[];
  readonly prediction: FeatureProfile | null;
}

/** Evenly spaced rows, keeping the first and the order, when there are more than `limit`. */
export function evenSample<T>(rows: readonly T[], limit = MAX_REFERENCE_ROWS): readonly T[] {
  if (rows.length <= limit) return rows;
  return Array.from({ length: limit }, (_, i) => rows[Math.floor((i * rows.length) / limit)] as T);
}

/** Profiles reference rows and the version's predictions on them (rows shaped like its outputs). */
export function buildProfile(
  version: Pick<ModelVersion, 'model' | 'version' | 'signature' | 'task'>,
  source: ReferenceSource,
  rows: readonly Record<string, unknown>[],
  predictions: readonly Record<string, unknown>[] | null,
  now: Date,
): ReferenceProfile {
  const prediction = predictionOf(version);
  return {
    model: version.model,
    version: version.version,
    source,
    rows: rows.length,
    createdAt: now.toISOString(),
    features: featuresOf(version).map((feature) => profileOf(feature, columnOf(rows, feature))),
    prediction: prediction && predictions ? profileOf(prediction, columnOf(predictions, prediction)) : null,
  };
}

export function profileOf(feature: FeatureSpec, cells: readonly Cell[]): FeatureProfile {
  const values = cells.filter((c): c is number | string => c !== null);
  const base = {
    name: feature.name,
    kind: feature.kind,
    count: cells.length,
    nullShare: cells.length === 0 ? 0 : (cells.length - values.length) / cells.length,
    values,
  };
  if (feature.kind === 'categorical') {
    const counts: Record<string, number> = {};
    for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
    const categories: Record<string, number> = {};
    for (const [category, count] of Object.entries(counts).sort((a, b) => b[1] - a[1])) {
      categories[category] = count / values.length;
    }
    return { ...base, categories };
  }
  const numbers = values as number[];
  if (numbers.length === 0) return base;
  const sorted = [...numbers].sort((a, b) => a - b);
  const mean = numbers.reduce((a, b) => a + b, 0) / numbers.length;
  const variance = numbers.reduce((a, b) => a + (b - mean) ** 2, 0) / numbers.length;
  return {
    ...base,
    summary: {
      min: sorted[0] as number,
      p5: quantile(sorted, 0.05),
      p25: quantile(sorted, 0.25),
      p50: quantile(sorted, 0.5),
      p75: quantile(sorted, 0.75),
      p95: quantile(sorted, 0.95),
      max: sorted.at(-1) as number,
      mean,
      std: Math.sqrt(variance),
    },
  };
}

/** numpy's default (linear) quantile of sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  const a = sorted[low] as number;
  const b = sorted[high] as number;
  return a + (b - a) * (position - low);
}
