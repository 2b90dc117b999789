import type { InputPolicy } from '../domain/model.js';
import type { Datatype, Signature, TensorSpec } from '../domain/signature.js';
import { clip, type ErrorCode, echo, SlipwayError } from '../errors/index.js';
import {
  allocate,
  elementCount,
  INTEGER_RANGE,
  type NamedTensors,
  type NumericArray,
  type Tensor,
} from '../runtime/tensor.js';

/** An input tensor as a client sends it in an Open Inference Protocol request. */
export interface TensorInput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data: unknown;
}

const fail = (
  code: ErrorCode,
  field: string,
  message: string,
  extra: Record<string, unknown> = {},
): never => {
  throw new SlipwayError(code, `${field}: ${message}`, { field, ...extra });
};

/**
 * Turns request data into the tensors a model takes, checking everything onnxruntime would otherwise
 * reject with an opaque error (or, worse, accept by coercion): names, datatypes, shapes, element
 * counts, value types and ranges, and nulls. This is the one place inputs are checked, whatever
 * protocol they came in on.
 */
export class InputDecoder {
  private readonly nullable: ReadonlySet<string>;

  constructor(
    private readonly signature: Signature,
    policies: readonly InputPolicy[],
  ) {
    this.nullable = new Set(policies.filter((p) => p.nullable).map((p) => p.name));
  }

  /** Open Inference Protocol tensors: `[{name, datatype, shape, data}]`, nested or flat data. */
  fromTensors(inputs: readonly TensorInput[], field = 'inputs'): NamedTensors {
    const byName = new Map<string, { input: TensorInput; index: number }>();
    inputs.forEach((input, index) => {
      const spec = this.spec(input.name);
      if (!spec) {
        fail(
          'UNKNOWN_INPUT',
          `${field}[${index}].name`,
          `the model has no input ${echo(input.name)}; expected ${this.expectedNames()}.`,
        );
      }
      if (byName.has(input.name))
        fail('INVALID_ARGUMENT', `${field}[${index}].name`, `input ${echo(input.name)} is given twice.`);
      byName.set(input.name, { input, index });
    });
    const tensors: Record<string, Tensor> = {};
    let batch: { size: number; name: string } | undefined;
    for (const spec of this.signature.inputs) {
      const entry = byName.get(spec.name);
      if (!entry)
        fail('MISSING_INPUT', field, `input "${spec.name}" is missing; expected ${this.expectedNames()}.`);
      const { input, index } = entry!;
      const at = `${field}[${index}]`;
      if (input.datatype !== spec.datatype) {
        fail(
          'INVALID_DATATYPE',
          `${at}.datatype`,
          `input "${spec.name}" has datatype ${input.datatype}; the model expects ${spec.datatype}.`,
        );
      }
      this.checkShape(spec, input.shape, `${at}.shape`);
      const flat = flatten(input.data, `${at}.data`);
      const count = elementCount(input.shape);
      if (flat.length !== count) {
        fail(
          'INVALID_SHAPE',
          `${at}.data`,
          `has ${flat.length} values but shape [${input.shape.join(', ')}] needs ${count}.`,
        );
      }
      // Inputs whose first dimension is dynamic are one batch: they must agree on its size.
      if (spec.shape[0] === -1 && input.shape.length > 0) {
        const size = input.shape[0]!;
        if (batch && batch.size !== size) {
          fail(
            'INVALID_SHAPE',
            `${at}.shape`,
            `input "${spec.name}" has batch size ${size} but "${batch.name}" has ${batch.size}; all inputs must have the same number of rows.`,
          );
        }
        batch ??= { size, name: spec.name };
      }
      const data = allocate(spec.datatype, count);
      for (let i = 0; i < count; i += 1) this.store(data, i, flat[i], spec, `${at}.data[${i}]`);
      tensors[spec.name] = { datatype: spec.datatype, shape: [...input.shape], data };
    }
    return tensors;
  }

  /**
   * Rows, as KServe V1 `instances` carry them: each row an object keyed by input name, or an array.
   * An array row is the values of the inputs in signature order; for a model with a single input of
   * shape [N, k] it is that input's k values.
   */
  fromRows(rows: readonly unknown[], field = 'instances'): NamedTensors {
    if (rows.length === 0) fail('INVALID_ARGUMENT', field, 'is empty; expected at least one instance.');
    const inputs = this.signature.inputs;
    const widths = inputs.map((spec) => this.rowWidth(spec));
    const columns = inputs.map((spec, i) => allocate(spec.datatype, rows.length * widths[i]!));
    const singleWide = inputs.length === 1 && widths[0]! > 1;
    for (const spec of inputs) {
      if (spec.shape[0]! >= 0 && spec.shape[0] !== rows.length) {
        fail(
          'INVALID_SHAPE',
          field,
          `has ${rows.length} rows but input "${spec.name}" takes exactly ${spec.shape[0]} per request.`,
        );
      }
    }

    rows.forEach((row, r) => {
      const at = `${field}[${r}]`;
      if (Array.isArray(row)) {
        if (singleWide) {
          this.storeRowValue(columns[0]!, r, row, inputs[0]!, widths[0]!, at);
          return;
        }
        if (row.length !== inputs.length) {
          fail(
            'INVALID_SHAPE',
            at,
            `has ${row.length} values; expected ${inputs.length} (${this.expectedNames()}, in that order).`,
          );
        }
        for (const [i, spec] of inputs.entries()) {
          this.storeRowValue(columns[i]!, r, row[i], spec, widths[i]!, `${at}[${i}]`);
        }
        return;
      }
      if (row === null || typeof row !== 'object') {
        fail(
          'INVALID_ARGUMENT',
          at,
          `must be an object keyed by input name or an array; got ${describe(row)}.`,
        );
      }
      const record = row as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        if (!this.spec(key))
          fail(
            'UNKNOWN_INPUT',
            `${at}.${clip(key)}`,
            `the model has no input ${echo(key)}; expected ${this.expectedNames()}.`,
          );
      }
      for (const [i, spec] of inputs.entries()) {
        if (!(spec.name in record))
          fail('MISSING_INPUT', `${at}.${spec.name}`, `is missing; expected ${this.expectedNames()}.`);
        this.storeRowValue(columns[i]!, r, record[spec.name], spec, widths[i]!, `${at}.${spec.name}`);
      }
    });

    const tensors: Record<string, Tensor> = {};
    inputs.forEach((spec, i) => {
      tensors[spec.name] = {
        datatype: spec.datatype,
        shape: this.rowShape(spec, rows.length),
        data: columns[i]!,
      };
    });
    return tensors;
  }

  /** Number of values one row holds for an input: the product of its non-batch dimensions. */
  private rowWidth(spec: TensorSpec): number {
    const rest = spec.shape.slice(1);
    if (spec.shape.length === 0 || rest.some((d) => d < 0)) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `Input "${spec.name}" has shape [${spec.shape.join(', ')}], which rows cannot fill; send tensors with the V2 protocol instead.`,
        { input: spec.name },
      );
    }
    return elementCount(rest);
  }

  private rowShape(spec: TensorSpec, rows: number): number[] {
    return [rows, ...spec.shape.slice(1)];
  }

  private storeRowValue(
    target: NumericArray | string[],
    row: number,
    value: unknown,
    spec: TensorSpec,
    width: number,
    at: string,
  ): void {
    if (width === 1) {
      // A one-element list is accepted for an [N, 1] input, as pandas' to_dict("records") of lists gives.
      const scalar = Array.isArray(value) && value.length === 1 ? value[0] : value;
      if (Array.isArray(scalar))
        fail(
          'INVALID_SHAPE',
          at,
          `expected a single value for input "${spec.name}", got a list of ${scalar.length}.`,
        );
      this.store(target, row, scalar, spec, at);
      return;
    }
    if (!Array.isArray(value) || value.length !== width) {
      fail(
        'INVALID_SHAPE',
        at,
        `expected a list of ${width} values for input "${spec.name}" (shape [${spec.shape.join(', ')}]), got ${describe(value)}.`,
      );
    }
    const values = flatten(value, at);
    if (values.length !== width) fail('INVALID_SHAPE', at, `expected ${width} values, got ${values.length}.`);
    for (let i = 0; i < width; i += 1) this.store(target, row * width + i, values[i], spec, `${at}[${i}]`);
  }

  /** Writes one JSON value into the typed array, refusing anything that is not exactly that type. */
  private store(
    target: NumericArray | string[],
    index: number,
    value: unknown,
    spec: TensorSpec,
    at: string,
  ): void {
    const { datatype } = spec;
    if (value === null || value === undefined) {
      if (
        !this.nullable.has(spec.name) ||
        !(datatype === 'FP32' || datatype === 'FP64' || datatype === 'BYTES')
      ) {
        fail(
          'INVALID_VALUE',
          at,
          `is null, but input "${spec.name}" does not accept missing values; expected ${expectedValue(datatype)}.`,
        );
      }
      // Declared nullable by the model's manifest: the model was trained to impute these.
      if (datatype === 'BYTES') (target as string[])[index] = '';
      else (target as Float32Array)[index] = Number.NaN;
      return;
    }
    switch (datatype) {
      case 'BYTES':
        if (typeof value !== 'string')
          fail('INVALID_DATATYPE', at, `expected a string for input "${spec.name}", got ${describe(value)}.`);
        (target as string[])[index] = value as string;
        return;
      case 'BOOL':
        if (typeof value !== 'boolean')
          fail(
            'INVALID_DATATYPE',
            at,
            `expected true or false for input "${spec.name}", got ${describe(value)}.`,
          );
        (target as Uint8Array)[index] = value ? 1 : 0;
        return;
      case 'FP32':
      case 'FP64':
        if (typeof value !== 'number')
          fail('INVALID_DATATYPE', at, `expected a number for input "${spec.name}", got ${describe(value)}.`);
        // JSON 1e999, binary ±Inf, and an FP64 value past FP32's range all reach the model as
        // infinity, which it computes into nonsense or NaN (answered as null): refuse them as NaN is.
        if (!Number.isFinite(datatype === 'FP32' ? Math.fround(value as number) : (value as number))) {
          fail(
            'INVALID_VALUE',
            at,
            `${value} overflows ${datatype}; input "${spec.name}" takes finite numbers (${datatype === 'FP32' ? 'at most ±3.4e38' : 'at most ±1.8e308'}).`,
          );
        }
        (target as Float64Array)[index] = value as number;
        return;
      default: {
        const [min, max] = INTEGER_RANGE[datatype]!;
        if (typeof value !== 'number' || !Number.isInteger(value)) {
          fail(
            'INVALID_DATATYPE',
            at,
            `expected an integer for input "${spec.name}" (${datatype}), got ${describe(value)}.`,
          );
        }
        if ((value as number) < min || (value as number) > max) {
          fail('INVALID_VALUE', at, `${value} is out of range for ${datatype}; expected ${min} to ${max}.`);
        }
        if (target instanceof BigInt64Array || target instanceof BigUint64Array)
          target[index] = BigInt(value as number);
        else (target as Int32Array)[index] = value as number;
      }
    }
  }

  private checkShape(spec: TensorSpec, shape: readonly number[], field: string): void {
    const valid = Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0 && d <= 2 ** 31);
    if (!valid)
      fail('INVALID_SHAPE', field, `expected an array of non-negative integers, got ${describe(shape)}.`);
    const wanted = `[${spec.shape.map((d) => (d < 0 ? '-1' : d)).join(', ')}]`;
    if (shape.length !== spec.shape.length) {
      fail(
        'INVALID_SHAPE',
        field,
        `input "${spec.name}" has ${shape.length} dimensions [${shape.join(', ')}]; the model expects ${spec.shape.length}: ${wanted} (-1 is any size).`,
      );
    }
    spec.shape.forEach((dim, i) => {
      if (dim >= 0 && shape[i] !== dim) {
        fail(
          'INVALID_SHAPE',
          field,
          `input "${spec.name}" has shape [${shape.join(', ')}]; the model expects ${wanted} (-1 is any size).`,
        );
      }
    });
  }

  private spec(name: string): TensorSpec | undefined {
    return this.signature.inputs.find((input) => input.name === name);
  }

  private expectedNames(): string {
    return this.signature.inputs.map((input) => `"${input.name}"`).join(', ');
  }
}

/** Flattens nested arrays (row-major) into one list, refusing ragged or non-array data. */
function flatten(data: unknown, field: string): unknown[] {
  if (!Array.isArray(data))
    fail('INVALID_ARGUMENT', field, `expected an array of values, got ${describe(data)}.`);
  if (!(data as unknown[]).some(Array.isArray)) return data as unknown[];
  const out: unknown[] = [];
  const walk = (value: unknown[], depth: number): void => {
    if (depth > 32) fail('INVALID_SHAPE', field, 'nests more than 32 levels deep.');
    for (const item of value) {
      if (Array.isArray(item)) walk(item, depth + 1);
      else out.push(item);
    }
  };
  walk(data as unknown[], 0);
  return out;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'string') return `the string ${echo(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${echo(value)}`;
}

function expectedValue(datatype: Datatype): string {
  if (datatype === 'BYTES') return 'a string';
  if (datatype === 'BOOL') return 'true or false';
  if (datatype === 'FP32' || datatype === 'FP64') return 'a number';
  return `an integer (${datatype})`;
}
