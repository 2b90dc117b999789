import { DATATYPES, type Datatype } from '../domain/signature.js';
import { type ErrorCode, echo, SlipwayError } from '../errors/index.js';
import { elementCount, type NumericArray, type Tensor } from '../runtime/tensor.js';

/**
 * Tensors as raw bytes, the layout both Triton's binary tensor data extension (HTTP) and the Open
 * Inference Protocol's `raw_input_contents`/`raw_output_contents` (gRPC) use: little-endian and
 * row-major; BOOL is one byte; each BYTES element is a 4-byte little-endian length followed by that
 * many bytes of UTF-8. Reading gives the flat list of values the JSON path carries, so the
 * InputDecoder checks every protocol's inputs the same way.
 */

/** An input's name, datatype and shape, as a request declares them. */
export interface DeclaredTensor {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
}

type FixedDatatype = Exclude<Datatype, 'BYTES'>;

/** Bytes per element, and how to read one little-endian element as the JSON path would carry it. */
const FIXED: Readonly<
  Record<FixedDatatype, { size: number; read: (view: DataView, offset: number) => unknown }>
> = {
  BOOL: { size: 1, read: (v, o) => v.getUint8(o) },
  UINT8: { size: 1, read: (v, o) => v.getUint8(o) },
  UINT16: { size: 2, read: (v, o) => v.getUint16(o, true) },
  UINT32: { size: 4, read: (v, o) => v.getUint32(o, true) },
  // 64-bit integers go through Number: beyond 2^53 the InputDecoder refuses them as out of range.
  UINT64: { size: 8, read: (v, o) => Number(v.getBigUint64(o, true)) },
  INT8: { size: 1, read: (v, o) => v.getInt8(o) },
  INT16: { size: 2, read: (v, o) => v.getInt16(o, true) },
  INT32: { size: 4, read: (v, o) => v.getInt32(o, true) },
  INT64: { size: 8, read: (v, o) => Number(v.getBigInt64(o, true)) },
  // NaN is how binary clients (numpy) write a missing value; JSON writes null. Both mean "missing",
  // which the InputDecoder accepts only where the model's manifest declares the input nullable.
  FP32: { size: 4, read: (v, o) => nanToNull(v.getFloat32(o, true)) },
  FP64: { size: 8, read: (v, o) => nanToNull(v.getFloat64(o, true)) },
};

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextDecoder('utf-8', { fatal: true });

const fail = (code: ErrorCode, field: string, message: string): never => {
  throw new SlipwayError(code, `${field}: ${message}`, { field });
};

/**
 * Reads one tensor's raw bytes into a flat list of JSON-path values. `at` names the input in errors
 * (`inputs[0]`), `sizeField` the place its byte count came from.
 */
export function readTensorBytes(
  input: DeclaredTensor,
  bytes: Buffer,
  at: string,
  sizeField: string,
): unknown[] {
  const { datatype, shape } = input;
  const count = elementCount(shape);
  if (datatype === 'BYTES') return readStrings(bytes, shape, at, sizeField);
  if (!(DATATYPES as readonly string[]).includes(datatype)) {
    fail(
      'INVALID_DATATYPE',
      `${at}.datatype`,
      `${echo(datatype)} cannot be sent as binary data; expected one of ${DATATYPES.join(', ')}.`,
    );
  }
  const { size, read } = FIXED[datatype as FixedDatatype];
  if (bytes.length !== count * size) {
    fail(
      'INVALID_ARGUMENT',
      sizeField,
      `is ${bytes.length} bytes, but shape [${shape.join(', ')}] of ${datatype} needs ${count} × ${size} = ${count * size}.`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Array<unknown>(count);
  for (let i = 0; i < count; i += 1) values[i] = read(view, i * size);
  if (datatype === 'BOOL') {
    return values.map((byte, i) =>
      byte === 0 || byte === 1
        ? byte === 1
        : fail('INVALID_VALUE', `${at}.data[${i}]`, `is the byte ${byte}; a BOOL must be 0 or 1.`),
    );
  }
  return values;
}

/** Reads a shape's worth of length-prefixed UTF-8 strings, which must fill `bytes` exactly. */
function readStrings(bytes: Buffer, shape: readonly number[], at: string, field: string): string[] {
  const count = elementCount(shape);
  // Every element takes at least its 4-byte length: refuse before allocating for a huge shape.
  if (count * 4 > bytes.length) {
    fail(
      'INVALID_ARGUMENT',
      field,
      `is ${bytes.length} bytes, too few for ${count} BYTES elements of at least 4 bytes each.`,
    );
  }
  const values = new Array<string>(count);
  let offset = 0;
  for (let i = 0; i < count; i += 1) {
    if (offset + 4 > bytes.length)
      fail('INVALID_ARGUMENT', field, `ends inside the length of element ${i} (at byte ${offset}).`);
    const length = bytes.readUInt32LE(offset);
    offset += 4;
    if (offset + length > bytes.length) {
      fail(
        'INVALID_ARGUMENT',
        field,
        `element ${i} declares ${length} bytes at byte ${offset}, past the end of the input's ${bytes.length} bytes.`,
      );
    }
    try {
      values[i] = utf8.decode(bytes.subarray(offset, offset + length));
    } catch {
      fail('INVALID_VALUE', `${at}.data[${i}]`, 'is not valid UTF-8; BYTES inputs must be UTF-8 text.');
    }
    offset += length;
  }
  if (offset !== bytes.length) {
    fail(
      'INVALID_ARGUMENT',
      field,
      `is ${bytes.length} bytes, but the ${count} elements of shape [${shape.join(', ')}] end at byte ${offset}.`,
    );
  }
  return values;
}

/** A tensor's raw bytes. */
export function tensorBytes(tensor: Tensor): Buffer {
  if (tensor.datatype === 'BYTES') {
    const strings = (tensor.data as readonly string[]).map((s) => Buffer.from(s, 'utf8'));
    const out = Buffer.allocUnsafe(strings.reduce((sum, s) => sum + 4 + s.length, 0));
    let offset = 0;
    for (const s of strings) {
      offset = out.writeUInt32LE(s.length, offset);
      offset += s.copy(out, offset);
    }
    return out;
  }
  const data = tensor.data as NumericArray;
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return LITTLE_ENDIAN_HOST ? bytes : swapBytes(bytes, data.BYTES_PER_ELEMENT);
}

/** NaN is how binary clients write a missing value; the JSON path carries it as null. */
export function nanToNull(value: number): number | null {
  return Number.isNaN(value) ? null : value;
}

function swapBytes(bytes: Buffer, size: number): Buffer {
  const out = Buffer.from(bytes);
  if (size === 2) out.swap16();
  else if (size === 4) out.swap32();
  else if (size === 8) out.swap64();
  return out;
}
