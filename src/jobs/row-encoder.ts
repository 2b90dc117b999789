import type { InputPolicy } from '../domain/model.js';
import type { Datatype, Signature, TensorSpec } from '../domain/signature.js';
import type { ErrorCode } from '../errors/index.js';
import { SlipwayError } from '../errors/index.js';
import {
  allocate,
  INTEGER_RANGE,
  type NamedTensors,
  type NumericArray,
  type Tensor,
} from '../runtime/tensor.js';
import type { Column, ColumnType, RowBatch } from './warehouse/warehouse.js';

/** Why one row could not be scored. */
export interface RowError {
  readonly row: number;
  readonly code: ErrorCode;
  readonly message: string;
}

export interface EncodedBatch {
  /** Indexes (within the batch) of the rows in `tensors`, in order. */
  readonly rows: readonly number[];
  readonly tensors: NamedTensors;
  readonly errors: readonly RowError[];
}

/** Warehouse column types whose values a model input of each kind accepts. */
const ACCEPTS: Readonly<Record<'number' | 'integer' | 'string' | 'boolean', readonly ColumnType[]>> = {
  number: ['double', 'bigint'],
  integer: ['bigint'],
  string: ['text', 'json'],
  boolean: ['boolean'],
};

const kindOf = (datatype: Datatype): keyof typeof ACCEPTS =>
  datatype === 'FP32' || datatype === 'FP64'
    ? 'number'
    : datatype === 'BYTES'
      ? 'string'
      : datatype === 'BOOL'
        ? 'boolean'
        : 'integer';

/**
 * Turns warehouse rows into the tensors a model takes, one source column per model input, with the
 * same rules as online requests: a null is accepted only where the model's manifest declares the input
 * nullable (NaN for numbers, "" for strings), and integers must fit their type. A row that breaks a
 * rule is set aside with the reason instead of failing the batch.
 */
export class RowEncoder {
  private readonly bindings: { spec: TensorSpec; column: number; nullable: boolean }[];

  constructor(
    signature: Signature,
    policies: readonly InputPolicy[],
    columns: readonly Column[],
    inputs: Readonly<Record<string, string>>,
  ) {
    const nullable = new Set(policies.filter((p) => p.nullable).map((p) => p.name));
    const unknown = Object.keys(inputs).filter(
      (name) => !signature.inputs.some((spec) => spec.name === name),
    );
    if (unknown.length > 0) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `"inputs" maps ${unknown.map((name) => `"${name}"`).join(', ')}, which the model does not take; its inputs are ${signature.inputs.map((spec) => spec.name).join(', ')}.`,
        { inputs: unknown },
      );
    }
    this.bindings = signature.inputs.map((spec) => {
      const name = inputs[spec.name] ?? spec.name;
      const column = columns.findIndex((c) => c.name === name);
      if (column < 0) {
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `The source query has no column "${name}" for model input "${spec.name}"; select it, or map the input to another column with "inputs". The query returns: ${columns.map((c) => c.name).join(', ')}.`,
          { input: spec.name, column: name },
        );
      }
      const rest = spec.shape.slice(1);
      if (spec.shape.length === 0 || spec.shape[0]! >= 0 || rest.some((d) => d !== 1)) {
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `Model input "${spec.name}" has shape [${spec.shape.join(', ')}]; a batch job feeds one column per input, so each input must take one value per row ([-1] or [-1, 1]).`,
          { input: spec.name },
        );
      }
      const type = columns[column]!.type;
      const kind = kindOf(spec.datatype);
      if (!ACCEPTS[kind].includes(type)) {
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `Column "${name}" is ${type}, but model input "${spec.name}" takes ${spec.datatype}; cast it in the query (e.g. CAST(${name} AS ${kind === 'string' ? 'VARCHAR' : kind === 'boolean' ? 'BOOLEAN' : 'DOUBLE'})).`,
          { input: spec.name, column: name, type },
        );
      }
      return { spec, column, nullable: nullable.has(spec.name) };
    });
  }

  encode(batch: RowBatch): EncodedBatch {
    const reasons: (RowError | undefined)[] = new Array(batch.rowCount);
    const converted = this.bindings.map(({ spec, column, nullable }) => {
      const values = batch.values[column]!;
      const out = allocate(spec.datatype, batch.rowCount);
      if (copyFloats(values, out)) return out;
      for (let r = 0; r < batch.rowCount; r += 1) {
        const problem = store(out, r, values[r], spec, nullable);
        if (problem && !reasons[r]) reasons[r] = { row: r, code: problem[0], message: problem[1] };
      }
      return out;
    });
    const errors = reasons.filter((e): e is RowError => e !== undefined);
    const rows: number[] = [];
    for (let r = 0; r < batch.rowCount; r += 1) if (!reasons[r]) rows.push(r);
    const tensors: Record<string, Tensor> = {};
    this.bindings.forEach(({ spec }, i) => {
      const data = converted[i]!;
      tensors[spec.name] = {
        datatype: spec.datatype,
        shape: spec.shape.length === 1 ? [rows.length] : [rows.length, 1],
        data: errors.length === 0 ? data : pick(data, rows),
      };
    });
    return { rows, tensors, errors };
  }
}

/**
 * Fills a float input from a column that arrived as a typed array (no missing values, nothing to
 * check) in one pass; returns false when the column needs the row-by-row rules.
 */
function copyFloats(values: ArrayLike<unknown>, out: NumericArray | string[]): boolean {
  if (!(out instanceof Float32Array || out instanceof Float64Array)) return false;
  if (values instanceof Float64Array || values instanceof Float32Array) {
    out.set(values);
    return true;
  }
  if (values instanceof BigInt64Array) {
    for (let r = 0; r < values.length; r += 1) out[r] = Number(values[r]!);
    return true;
  }
  return false;
}

/** Writes one value; returns the error code and reason when the row cannot be scored. */
function store(
  target: NumericArray | string[],
  index: number,
  value: unknown,
  spec: TensorSpec,
  nullable: boolean,
): [ErrorCode, string] | undefined {
  const { datatype, name } = spec;
  const missing = value === null || value === undefined || (typeof value === 'number' && Number.isNaN(value));
  if (missing) {
    if (!nullable || !(datatype === 'FP32' || datatype === 'FP64' || datatype === 'BYTES'))
      return [
        'INVALID_VALUE',
        `input "${name}" is null, and the model does not accept missing values for it.`,
      ];
    if (datatype === 'BYTES') (target as string[])[index] = '';
    else (target as Float32Array)[index] = Number.NaN;
    return undefined;
  }
  switch (datatype) {
    case 'BYTES':
      (target as string[])[index] = String(value);
      return undefined;
    case 'BOOL':
      (target as Uint8Array)[index] = value ? 1 : 0;
      return undefined;
    case 'FP32':
    case 'FP64':
      (target as Float64Array)[index] = Number(value);
      return undefined;
    default: {
      const [min, max] = INTEGER_RANGE[datatype]!;
      const number = Number(value);
      if (!Number.isInteger(number) || number < min || number > max)
        return [
          'INVALID_VALUE',
          `input "${name}" is ${String(value)}, out of range for ${datatype} (${min} to ${max}).`,
        ];
      if (target instanceof BigInt64Array || target instanceof BigUint64Array) target[index] = BigInt(number);
      else (target as Int32Array)[index] = number;
      return undefined;
    }
  }
}

function pick(data: NumericArray | string[], rows: readonly number[]): NumericArray | string[] {
  if (Array.isArray(data)) return rows.map((r) => data[r]!);
  const out = new (data.constructor as new (length: number) => NumericArray)(rows.length);
  rows.forEach((r, i) => {
    out[i] = data[r]!;
  });
  return out;
}
