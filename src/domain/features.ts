import type { ModelVersion } from './model.js';
import type { TensorSpec } from './signature.js';

/** Evidently's column types that drift applies to: measurements, or categories. */
export type FeatureKind = 'numerical' | 'categorical';

/** One column drift is measured on: an input (or one position of a wide input), or the prediction. */
export interface FeatureSpec {
  readonly name: string;
  readonly kind: FeatureKind;
  /** The input (or output) it is read from. */
  readonly source: string;
  /** Its position when the input holds several values per row (`x[2]`). */
  readonly index?: number;
}

/** Strings and booleans are categories; numbers are measurements. */
const kindOf = (spec: TensorSpec): FeatureKind =>
  spec.datatype === 'BYTES' || spec.datatype === 'BOOL' ? 'categorical' : 'numerical';

/** How many values one row of a tensor holds: the product of its dimensions after the batch one. */
function widthOf(spec: TensorSpec): number {
  const rest = spec.shape.slice(1);
  if (rest.some((d) => d < 0)) return 1;
  return rest.reduce((a, b) => a * b, 1);
}

/**
 * The widest input measured position by position. Wider ones (an image, an embedding) are left out:
 * drift of each pixel says nothing a person can act on, and would make profiles and reports huge.
 */
export const MAX_FEATURE_WIDTH = 64;

/**
 * A model's features, from its signature: one per input, or one per position of an input of at most
 * MAX_FEATURE_WIDTH values per row.
 */
export function featuresOf(version: Pick<ModelVersion, 'signature'>): FeatureSpec[] {
  return version.signature.inputs.flatMap((input) => {
    const width = widthOf(input);
    const kind = kindOf(input);
    if (width <= 1) return [{ name: input.name, kind, source: input.name }];
    if (width > MAX_FEATURE_WIDTH) return [];
    return Array.from({ length: width }, (_, index) => ({
      name: `${input.name}[${index}]`,
      kind,
      source: input.name,
      index,
    }));
  });
}

/**
 * The prediction whose distribution is watched: a classifier's label output (integers or strings, a
 * category), else the first output's first value (a regression's number). Null when the model has
 * no output of one value per row that fits.
 */
export function predictionOf(version: Pick<ModelVersion, 'signature' | 'task'>): FeatureSpec | null {
  const outputs = version.signature.outputs;
  const classifier = version.task === 'classification' || version.signature.labels !== undefined;
  const label = outputs.find((o) => ['INT64', 'INT32', 'BYTES'].includes(o.datatype) && widthOf(o) === 1);
  if (classifier && label) return { name: 'prediction', kind: 'categorical', source: label.name };
  const first = outputs[0];
  if (!first) return null;
  const kind = version.task === 'classification' ? 'categorical' : kindOf(first);
  return { name: 'prediction', kind, source: first.name, ...(widthOf(first) > 1 ? { index: 0 } : {}) };
}

/** A value as drift measures it: a number, a category, or null (missing, or not of the feature's kind). */
export type Cell = number | string | null;

/**
 * One feature's values from rows shaped `{input name: value or array}` (a dataset's rows, a V1
 * request's instances, the prediction log's inputs and outputs). Missing and malformed values are
 * null; statistics leave nulls out and the profile counts them.
 */
export function columnOf(rows: readonly Record<string, unknown>[], feature: FeatureSpec): Cell[] {
  return rows.map((row) => {
    let value = row[feature.source];
    if (feature.index !== undefined) {
      const flat = Array.isArray(value) ? value.flat(Number.POSITIVE_INFINITY) : [];
      value = flat[feature.index];
    } else if (Array.isArray(value) && value.length === 1) {
      value = value[0];
    }
    return cellOf(value, feature.kind);
  });
}

function cellOf(value: unknown, kind: FeatureKind): Cell {
  if (value === null || value === undefined) return null;
  if (kind === 'categorical') {
    // A missing string reaches a model (and the prediction log) as '' (the input decoder's stand-in
    // for null), so '' counts as missing like null does, and logged rows compare with data set rows.
    if (value === '') return null;
    return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
      ? String(value)
      : null;
  }
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isFinite(number) ? number : null;
}
