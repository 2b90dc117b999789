import {
  DuckDBBigIntVector,
  type DuckDBDataChunk,
  DuckDBDoubleVector,
  DuckDBFloatVector,
  DuckDBIntegerVector,
  DuckDBSmallIntVector,
  DuckDBTimestampTZVector,
  DuckDBTimestampVector,
  DuckDBTinyIntVector,
  DuckDBUIntegerVector,
  DuckDBUSmallIntVector,
  DuckDBUTinyIntVector,
  type DuckDBValue,
  type DuckDBVector,
} from '@duckdb/node-api';

/**
 * Reading DuckDB vectors into the Warehouse contract's columns. A column without missing values is
 * copied as a whole typed array (numbers into a Float64Array; BIGINT and timestamps, as microseconds,
 * into a BigInt64Array), which costs one copy instead of one JavaScript value per row; a column with
 * missing values falls back to a plain array of converted values.
 */

/** What a vector's typed items and validity look like inside node-api (kept private there). */
interface RawVector {
  readonly items: ArrayLike<number> | ArrayLike<bigint>;
  readonly validity: { readonly data: BigUint64Array | null };
}

const FLOAT_VECTORS = [
  DuckDBDoubleVector,
  DuckDBFloatVector,
  DuckDBIntegerVector,
  DuckDBSmallIntVector,
  DuckDBTinyIntVector,
  DuckDBUIntegerVector,
  DuckDBUSmallIntVector,
  DuckDBUTinyIntVector,
];
const BIGINT_VECTORS = [DuckDBBigIntVector, DuckDBTimestampVector, DuckDBTimestampTZVector];

const ALL_VALID = 0xffff_ffff_ffff_ffffn;

/** Whether rows `from`..`to` of a vector are all present. */
function allValid(vector: DuckDBVector, from: number, to: number): boolean {
  const { data } = (vector as unknown as RawVector).validity;
  if (data === null) return true;
  for (let row = from; row < to; ) {
    const word = row >> 6;
    if (row % 64 === 0 && row + 64 <= to) {
      if (data[word] !== ALL_VALID) return false;
      row += 64;
    } else {
      if (((data[word]! >> BigInt(row % 64)) & 1n) === 0n) return false;
      row += 1;
    }
  }
  return true;
}

/** Collects one column of a batch from successive chunks. */
export class ColumnCollector {
  private buffer: Float64Array | BigInt64Array | unknown[] | null = null;

  constructor(
    private readonly capacity: number,
    private readonly convert: (value: DuckDBValue) => unknown,
  ) {}

  /** Copies rows `from`..`to` of column `c` of a chunk to position `at` of the batch. */
  copy(chunk: DuckDBDataChunk, c: number, from: number, to: number, at: number): void {
    const vector = chunk.getColumnVector(c);
    const typed = this.typedFor(vector, at);
    if (typed && allValid(vector, from, to)) {
      const items = (vector as unknown as RawVector).items as Float64Array | BigInt64Array;
      if (typed instanceof BigInt64Array) typed.set(items.subarray(from, to) as BigInt64Array, at);
      else typed.set(items.subarray(from, to) as Float64Array, at);
      return;
    }
    const plain = this.plain(at);
    for (let row = from; row < to; row += 1) {
      const value = vector.getItem(row);
      plain[at + row - from] = value === null ? null : this.convert(value);
    }
  }

  /** The batch's values (`rows` of them), and a fresh buffer for the next batch. */
  take(rows: number): ArrayLike<unknown> {
    const buffer = this.buffer ?? [];
    this.buffer = null;
    if (Array.isArray(buffer)) {
      buffer.length = rows;
      return buffer;
    }
    return rows === buffer.length ? buffer : buffer.subarray(0, rows);
  }

  /** The typed buffer for this vector, if the batch is still typed and the vector has one. */
  private typedFor(vector: DuckDBVector, at: number): Float64Array | BigInt64Array | null {
    if (this.buffer === null && at === 0) {
      if (FLOAT_VECTORS.some((kind) => vector instanceof kind)) this.buffer = new Float64Array(this.capacity);
      else if (BIGINT_VECTORS.some((kind) => vector instanceof kind))
        this.buffer = new BigInt64Array(this.capacity);
    }
    const buffer = this.buffer;
    return buffer instanceof Float64Array || buffer instanceof BigInt64Array ? buffer : null;
  }

  /** The batch as a plain array: a typed batch meets its first missing value, or was never typed. */
  private plain(at: number): unknown[] {
    const buffer = this.buffer;
    if (Array.isArray(buffer)) return buffer;
    const plain = new Array<unknown>(this.capacity);
    if (buffer instanceof Float64Array) for (let i = 0; i < at; i += 1) plain[i] = buffer[i];
    // A BIGINT or a timestamp's microseconds: the column's converter takes the raw value too.
    else if (buffer instanceof BigInt64Array)
      for (let i = 0; i < at; i += 1) plain[i] = this.convert(buffer[i]!);
    this.buffer = plain;
    return plain;
  }
}
