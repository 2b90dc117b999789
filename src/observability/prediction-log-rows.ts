import type { NamedTensors, Tensor } from '../runtime/tensor.js';

/**
 * How the prediction log turns tensors into rows and times into partitions: the pure half of
 * `prediction-log.ts`, kept apart so the hot path's arithmetic can be read (and tested) on its own.
 */

/** Every key of the prediction log starts here. */
export const PREDICTION_LOG_ROOT = 'prediction-log';

/**
 * The rows of a prediction: the first dimension of its first input that has one (a V1 request with 5
 * instances gives 5), or 1 when every input is a scalar.
 */
export function rowCountOf(inputs: NamedTensors): number {
  for (const name in inputs) {
    const shape = (inputs[name] as Tensor).shape;
    if (shape.length > 0) return shape[0] as number;
  }
  return 1;
}

/**
 * What a prediction is charged against the buffer's byte limit before it is converted: roughly the
 * size of its JSON text (a number takes about a dozen characters), so the limit bounds the memory of
 * converted rows as well as of the tensors they come from. Strings are measured; only sampled
 * predictions get here.
 */
export function estimateBytes(inputs: NamedTensors, outputs: NamedTensors, rows: number): number {
  let bytes = 256 * rows;
  for (const tensors of [inputs, outputs]) {
    for (const name in tensors) {
      const { data } = tensors[name] as Tensor;
      if (Array.isArray(data)) {
        for (const text of data as readonly string[]) bytes += text.length + 4;
      } else {
        bytes += data.length * 12;
      }
      bytes += name.length * rows;
    }
  }
  return bytes;
}

/**
 * One JSON object per row, `{name: value}`: a row's only value as a scalar, several as a flat list,
 * strings for BYTES, booleans for BOOL, null for NaN and infinities. A tensor whose first dimension is
 * not the request's rows (a scalar, a model output without a batch dimension) is given whole on every row.
 */
export function rowsJson(tensors: NamedTensors, rows: number): string[] {
  const columns = Object.entries(tensors).map(([name, tensor]) => {
    const values = valueTexts(tensor);
    const perRow = tensor.shape.length > 0 && tensor.shape[0] === rows;
    return {
      key: `${JSON.stringify(name)}:`,
      values,
      width: perRow ? values.length / rows : 0,
      /** The value every row gets when the tensor is not split by row. */
      whole: perRow ? null : values.length === 1 ? (values[0] as string) : `[${values.join(',')}]`,
    };
  });
  const texts = new Array<string>(rows);
  for (let r = 0; r < rows; r += 1) {
    let text = '{';
    for (let c = 0; c < columns.length; c += 1) {
      const { key, values, width, whole } = columns[c] as (typeof columns)[number];
      if (c > 0) text += ',';
      text += key;
      if (whole !== null) text += whole;
      else if (width === 1) text += values[r];
      else text += `[${values.slice(r * width, (r + 1) * width).join(',')}]`;
    }
    texts[r] = `${text}}`;
  }
  return texts;
}

/** Each element of a tensor as JSON text. */
function valueTexts(tensor: Tensor): string[] {
  const { data, datatype } = tensor;
  const texts = new Array<string>(data.length);
  switch (datatype) {
    case 'BYTES':
      for (let i = 0; i < data.length; i += 1) texts[i] = JSON.stringify((data as readonly string[])[i]);
      return texts;
    case 'BOOL':
      for (let i = 0; i < data.length; i += 1) texts[i] = (data as Uint8Array)[i] !== 0 ? 'true' : 'false';
      return texts;
    case 'FP32':
      for (let i = 0; i < data.length; i += 1) texts[i] = float32Text((data as Float32Array)[i] as number);
      return texts;
    case 'FP64':
      for (let i = 0; i < data.length; i += 1) texts[i] = float64Text((data as Float64Array)[i] as number);
      return texts;
    default:
      // Integers, INT64 and UINT64 included: a bigint's digits are exact JSON.
      for (let i = 0; i < data.length; i += 1) texts[i] = String((data as ArrayLike<number | bigint>)[i]);
      return texts;
  }
}

const float64Text = (x: number): string => (Number.isFinite(x) ? String(x) : 'null');

/**
 * The shortest decimal that reads back as the same float32: the 39.1 a client sent, not the
 * 39.099998474121094 the float32 it became spells as a double. Drift analysis compares logged values
 * with training data written as decimals; a value logged just below a bin edge it was sent on would
 * land in the wrong bin. Nine significant digits always suffice; six or fewer is the common case.
 */
export function float32Text(x: number): string {
  if (!Number.isFinite(x)) return 'null';
  for (let digits = 6; digits < 9; digits += 1) {
    const shorter = Number(x.toPrecision(digits));
    if (Math.fround(shorter) === x) return String(shorter);
  }
  return String(Number(x.toPrecision(9)));
}

/** The UTC date and hour partition a time falls in: `{date: '2026-03-01', hour: '07'}`. */
export function partitionOf(time: Date): { date: string; hour: string } {
  const iso = time.toISOString();
  return { date: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/** The folder of one environment's log of one model. */
export const modelFolder = (environment: string, model: string): string =>
  `${PREDICTION_LOG_ROOT}/${environment}/${model}`;

/** The key of a partition's folder. */
export const partitionFolder = (environment: string, model: string, date: string, hour: string): string =>
  `${modelFolder(environment, model)}/date=${date}/hour=${hour}`;

const DATE_FOLDER = /^date=(\d{4}-\d{2}-\d{2})$/;
const HOUR_FOLDER = /^hour=(\d{2})$/;

/** The UTC start of a `date=YYYY-MM-DD` folder, or null for a name that is not one. */
export function dateFolderStart(name: string): number | null {
  const match = DATE_FOLDER.exec(name);
  if (!match) return null;
  const start = Date.parse(`${match[1]}T00:00:00Z`);
  return Number.isNaN(start) ? null : start;
}

/** The hour of an `hour=HH` folder, or null for a name that is not one. */
export function hourFolderHour(name: string): number | null {
  const match = HOUR_FOLDER.exec(name);
  const hour = match ? Number(match[1]) : Number.NaN;
  return hour >= 0 && hour < 24 ? hour : null;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
