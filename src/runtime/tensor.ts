import type { Datatype } from '../domain/signature.js';

export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/**
 * A tensor as it crosses between the HTTP thread and inference workers: row-major data in the typed
 * array onnxruntime expects for its datatype (BigInt64Array for INT64, Uint8Array for BOOL), or an
 * array of strings for BYTES.
 */
export interface Tensor {
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly data: NumericArray | readonly string[];
}

export type NamedTensors = Readonly<Record<string, Tensor>>;

/**
 * The values an integer input takes; INT64/UINT64 are limited to exact (safe) JavaScript integers,
 * because requests and warehouse rows carry them as numbers.
 */
export const INTEGER_RANGE: Partial<Record<Datatype, readonly [number, number]>> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
};

/** Allocates the typed array for `length` elements of a datatype (BYTES gets a plain array). */
export function allocate(datatype: Datatype, length: number): NumericArray | string[] {
  switch (datatype) {
    case 'FP32':
      return new Float32Array(length);
    case 'FP64':
      return new Float64Array(length);
    case 'INT8':
      return new Int8Array(length);
    case 'INT16':
      return new Int16Array(length);
    case 'INT32':
      return new Int32Array(length);
    case 'INT64':
      return new BigInt64Array(length);
    case 'UINT8':
    case 'BOOL':
      return new Uint8Array(length);
    case 'UINT16':
      return new Uint16Array(length);
    case 'UINT32':
      return new Uint32Array(length);
    case 'UINT64':
      return new BigUint64Array(length);
    case 'BYTES':
      return new Array<string>(length).fill('');
  }
}

/** onnxruntime-node's name for each datatype. */
export const ORT_TYPE: Readonly<Record<Datatype, string>> = {
  FP32: 'float32',
  FP64: 'float64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  BOOL: 'bool',
  BYTES: 'string',
};

export const DATATYPE_OF_ORT: Readonly<Record<string, Datatype>> = Object.fromEntries(
  Object.entries(ORT_TYPE).map(([datatype, ort]) => [ort, datatype as Datatype]),
);

/** Converts tensor data to plain JSON values. INT64/UINT64 become numbers (exact up to 2^53). */
export function toJsonValues(tensor: Tensor): (number | string | boolean)[] {
  const { data, datatype } = tensor;
  if (datatype === 'BYTES') return [...(data as readonly string[])];
  if (datatype === 'BOOL') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  return Array.from(data as Exclude<NumericArray, BigInt64Array | BigUint64Array>);
}

export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Joins tensors along the batch dimension (0), name by name: the inputs of several requests merged into
 * one call, or the results of a batch scored in parts. Every part has the names of the first.
 */
export function concatRows(parts: readonly NamedTensors[]): NamedTensors {
  if (parts.length === 1) return parts[0] as NamedTensors;
  const merged: Record<string, Tensor> = {};
  for (const name of Object.keys(parts[0] as NamedTensors)) {
    const tensors = parts.map((part) => part[name] as Tensor);
    const first = tensors[0] as Tensor;
    const rows = tensors.reduce((sum, t) => sum + (t.shape[0] as number), 0);
    const shape = [rows, ...first.shape.slice(1)];
    if (first.datatype === 'BYTES') {
      merged[name] = {
        datatype: 'BYTES',
        shape,
        data: tensors.flatMap((t) => [...(t.data as readonly string[])]),
      };
      continue;
    }
    const length = tensors.reduce((sum, t) => sum + t.data.length, 0);
    const data = allocate(first.datatype, length) as NumericArray;
    let at = 0;
    for (const tensor of tensors) {
      (data as unknown as { set(array: ArrayLike<number | bigint>, offset: number): void }).set(
        tensor.data as ArrayLike<number | bigint>,
        at,
      );
      at += tensor.data.length;
    }
    merged[name] = { datatype: first.datatype, shape, data };
  }
  return merged;
}

/**
 * The rows [start, end) of every tensor, copied (a copy, not a view: the part may be sent to a worker
 * process, and a view would carry the whole buffer with it).
 */
export function sliceRows(tensors: NamedTensors, start: number, end: number): NamedTensors {
  const sliced: Record<string, Tensor> = {};
  for (const [name, tensor] of Object.entries(tensors)) {
    const rows = tensor.shape[0] as number;
    const width = rows > 0 ? tensor.data.length / rows : tensor.shape.slice(1).reduce((a, b) => a * b, 1);
    const data = tensor.data.slice(start * width, end * width) as Tensor['data'];
    sliced[name] = { datatype: tensor.datatype, shape: [end - start, ...tensor.shape.slice(1)], data };
  }
  return sliced;
}
