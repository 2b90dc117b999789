import { type ErrorCode, echo, SlipwayError } from '../errors/index.js';
import type { NamedTensors } from '../runtime/tensor.js';
import { toTensorOutputs } from '../serving/output-encoder.js';
import { readTensorBytes, tensorBytes } from '../serving/tensor-bytes.js';

/**
 * Triton's binary tensor data extension for the Open Inference Protocol: a body (request or
 * response) is a JSON header of `Inference-Header-Content-Length` bytes followed by the raw bytes of
 * the tensors that declare `parameters.binary_data_size`, in the order they appear in the JSON.
 * Tensors are little-endian and row-major; BOOL is one byte; each BYTES element is a 4-byte
 * little-endian length followed by that many bytes.
 */

/** The header giving the length of the JSON part of a body that carries binary tensors. */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length';

/** An input as the JSON header of a request declares it (already checked against the schema). */
export interface HeaderInput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly parameters?: Readonly<Record<string, string | number | boolean>>;
  readonly data?: unknown;
}

/** What a request says about how its outputs should come back. */
export interface OutputRequest {
  readonly parameters?: Readonly<Record<string, string | number | boolean>>;
  readonly outputs?: readonly {
    readonly name: string;
    readonly parameters?: Readonly<Record<string, string | number | boolean>>;
  }[];
}

const fail = (code: ErrorCode, field: string, message: string): never => {
  throw new SlipwayError(code, `${field}: ${message}`, { field });
};

/**
 * Splits a request body into its JSON header and the binary part after it. Without the header, the
 * whole body is JSON (as the extension says); perf_analyzer sends the header even then, equal to
 * the body's length.
 */
export function splitBinaryBody(
  body: Buffer,
  headerLength: string | string[] | undefined,
): { header: unknown; binary: Buffer } {
  let length = body.length;
  if (headerLength !== undefined) {
    const given = Array.isArray(headerLength) ? headerLength.join(', ') : headerLength;
    if (!/^\d{1,15}$/.test(given)) {
      fail(
        'INVALID_ARGUMENT',
        'Inference-Header-Content-Length',
        `expected the length in bytes of the JSON header at the start of the body, got ${echo(given)}.`,
      );
    }
    length = Number(given);
    if (length > body.length) {
      fail(
        'INVALID_ARGUMENT',
        'Inference-Header-Content-Length',
        `is ${length}, but the body has only ${body.length} bytes.`,
      );
    }
  }
  let header: unknown;
  try {
    header = JSON.parse(body.subarray(0, length).toString('utf8'));
  } catch (error) {
    throw new SlipwayError(
      'INVALID_JSON',
      `The inference header (the first ${length} bytes of the body) is not valid JSON: ${(error as Error).message}`,
    );
  }
  return { header, binary: body.subarray(length) };
}

/**
 * The inputs with every binary one's values read into `data` (and `binary_data_size` removed), so
 * they are exactly what the JSON path carries and the InputDecoder checks them the same way. The
 * binary sizes must add up to the binary part, and each must fit the input's shape and datatype.
 */
export function withBinaryInputs<T extends HeaderInput>(
  inputs: readonly T[],
  binary: Buffer,
): (T & { data: unknown })[] {
  const sizes = inputs.map((input, index) => binarySize(input, index));
  const declared = sizes.reduce<number>((sum, size) => sum + (size ?? 0), 0);
  if (declared !== binary.length) {
    fail(
      'INVALID_ARGUMENT',
      'inputs',
      `the binary_data_size of the inputs add up to ${declared} bytes, but ${binary.length} bytes follow the JSON header.`,
    );
  }
  let offset = 0;
  return inputs.map((input, index) => {
    const size = sizes[index];
    if (size === undefined) return input as T & { data: unknown };
    const bytes = binary.subarray(offset, offset + size);
    offset += size;
    const { binary_data_size: _, ...parameters } = input.parameters ?? {};
    return {
      ...input,
      parameters,
      data: readTensorBytes(input, bytes, `inputs[${index}]`, `inputs[${index}].parameters.binary_data_size`),
    };
  });
}

/** Refuses binary inputs in a body that has no binary part (a plain JSON request). */
export function assertNoBinaryInputs(body: unknown): void {
  const inputs = (body as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs)) return;
  inputs.forEach((input, index) => {
    const parameters = (input as { parameters?: unknown } | null)?.parameters;
    if (parameters && typeof parameters === 'object' && 'binary_data_size' in parameters) {
      fail(
        'INVALID_ARGUMENT',
        `inputs[${index}].parameters.binary_data_size`,
        'is set, but the request carries no binary data: send the JSON header length in Inference-Header-Content-Length and the tensor bytes after the JSON.',
      );
    }
  });
}

/**
 * Which outputs go back as binary: an output's own `parameters.binary_data`, else the request's
 * `parameters.binary_data_output`, else none.
 */
export function binaryOutputChooser(request: OutputRequest): (name: string) => boolean {
  const all = flag(request.parameters, 'binary_data_output', 'parameters.binary_data_output') ?? false;
  const own = new Map<string, boolean>();
  request.outputs?.forEach((output, index) => {
    const value = flag(output.parameters, 'binary_data', `outputs[${index}].parameters.binary_data`);
    if (value !== undefined) own.set(output.name, value);
  });
  return (name) => own.get(name) ?? all;
}

/**
 * The response body when at least one output is binary: the JSON header (binary outputs carry
 * `parameters.binary_data_size` and no `data`), then their bytes in output order. Undefined when
 * every output is JSON, so the response stays plain JSON.
 */
export function encodeBinaryResponse(
  response: Readonly<Record<string, unknown>>,
  outputs: NamedTensors,
  isBinary: (name: string) => boolean,
): { body: Buffer; headerLength: number } | undefined {
  const entries = Object.entries(outputs);
  if (!entries.some(([name]) => isBinary(name))) return undefined;
  const chunks: Buffer[] = [];
  const described = entries.map(([name, tensor]) => {
    if (!isBinary(name)) return toTensorOutputs({ [name]: tensor })[0]!;
    const bytes = tensorBytes(tensor);
    chunks.push(bytes);
    return {
      name,
      datatype: tensor.datatype,
      shape: [...tensor.shape],
      parameters: { binary_data_size: bytes.length },
    };
  });
  const header = Buffer.from(JSON.stringify({ ...response, outputs: described }), 'utf8');
  return { body: Buffer.concat([header, ...chunks]), headerLength: header.length };
}

/** The declared binary size of an input, or undefined for a JSON input. */
function binarySize(input: HeaderInput, index: number): number | undefined {
  const at = `inputs[${index}]`;
  const size = input.parameters?.binary_data_size;
  if (size === undefined) {
    if (input.data === undefined) {
      fail(
        'INVALID_ARGUMENT',
        at,
        `input ${echo(input.name)} has neither data nor parameters.binary_data_size.`,
      );
    }
    return undefined;
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    fail(
      'INVALID_ARGUMENT',
      `${at}.parameters.binary_data_size`,
      `expected a non-negative integer number of bytes, got ${echo(size)}.`,
    );
  }
  if (input.data !== undefined) {
    fail(
      'INVALID_ARGUMENT',
      at,
      `input ${echo(input.name)} has both data and parameters.binary_data_size; give one of them.`,
    );
  }
  return size as number;
}

function flag(
  parameters: Readonly<Record<string, string | number | boolean>> | undefined,
  key: string,
  field: string,
): boolean | undefined {
  const value = parameters?.[key];
  if (value === undefined || typeof value === 'boolean') return value;
  return fail('INVALID_ARGUMENT', field, `expected true or false, got ${echo(value)}.`);
}
