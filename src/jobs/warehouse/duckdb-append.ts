import {
  BIGINT,
  BOOLEAN,
  DATE,
  DOUBLE,
  type DuckDBAppender,
  DuckDBBigIntVector,
  DuckDBDataChunk,
  DuckDBDoubleVector,
  DuckDBTimestampTZVector,
  DuckDBTimestampVector,
  type DuckDBType,
  type DuckDBValue,
  dateValue,
  TIMESTAMP,
  TIMESTAMPTZ,
  timestampTZValue,
  timestampValue,
  VARCHAR,
} from '@duckdb/node-api';
import { type Column, type ColumnType, type ConstantColumn, type RowBatch, toDate } from './warehouse.js';

/**
 * Writing the Warehouse contract's batches into DuckDB tables through DuckDB's appender: the one way
 * rows leave Slipway for a DuckDB table, whether staged or appended straight to their table.
 */

/** DuckDB's own vectors hold this many rows; every chunk appended has at most this many. */
export const VECTOR_SIZE = 2048;
const DAY_MS = 86_400_000;

/** The DuckDB type each contract column type is written as. */
export const DUCK_TYPES: Readonly<Record<ColumnType, DuckDBType>> = {
  boolean: BOOLEAN,
  bigint: BIGINT,
  double: DOUBLE,
  text: VARCHAR,
  json: VARCHAR,
  date: DATE,
  timestamp: TIMESTAMP,
  timestamptz: TIMESTAMPTZ,
};

/** A contract value (never null) as the DuckDB value of its column type. */
export const WRITERS: Readonly<Record<ColumnType, (value: unknown) => DuckDBValue>> = {
  boolean: (v) => Boolean(v),
  bigint: (v) => (typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))),
  double: (v) => Number(v),
  text: (v) => String(v),
  json: (v) => (typeof v === 'string' ? v : JSON.stringify(v)),
  date: (v) => dateValue(Math.floor(Date.parse(`${String(v).slice(0, 10)}T00:00:00Z`) / DAY_MS)),
  timestamp: (v) => timestampValue(typeof v === 'bigint' ? v : BigInt(toDate(v).getTime()) * 1000n),
  timestamptz: (v) => timestampTZValue(typeof v === 'bigint' ? v : BigInt(toDate(v).getTime()) * 1000n),
};

/** A value as DuckDB takes it, null for a missing one. */
export const toDuckValue = (value: unknown, type: ColumnType): DuckDBValue =>
  value === null || value === undefined ? null : WRITERS[type](value);

/**
 * Appends batches to one table: the batch's columns, then (when given) the run's constant columns, in
 * the table's column order. One chunk serves the whole run. Each batch starts by resetting it, which
 * drops the previous batch's strings and missing values, and writes its constant columns once; each
 * append then overwrites only the batch's columns, numbers in typed arrays with one copy each, other
 * values one by one. A chunk per batch would leave its native memory (about 0.5 MB for a run's
 * columns) to the garbage collector, which does not see it: appending the bench's 16 columns alone,
 * the process peaked at about 390 MB after 3 million rows and 590 MB after 9 million (still growing)
 * that way, and at about 305 and 350 MB (level from 6 million) this way. In a server scoring 3 million
 * rows, whose other garbage makes the collector run often, the difference is within the runs' spread.
 * Nothing is visible to others before the connection's transaction (or the staging it feeds) is
 * committed.
 */
export class ChunkAppender {
  private readonly chunk: DuckDBDataChunk;
  private rows = 0;

  constructor(
    private readonly appender: DuckDBAppender,
    private readonly columns: readonly Column[],
    private readonly constants: readonly ConstantColumn[] = [],
  ) {
    this.chunk = DuckDBDataChunk.create([...columns, ...constants].map((c) => DUCK_TYPES[c.type]));
  }

  /** Rows appended so far. */
  get count(): number {
    return this.rows;
  }

  write(batch: RowBatch): void {
    // Within a batch, only the last chunk can be short: the constants are rewritten when the size changes.
    let size = -1;
    for (let start = 0; start < batch.rowCount; start += VECTOR_SIZE) {
      const end = Math.min(start + VECTOR_SIZE, batch.rowCount);
      if (end - start !== size) {
        size = end - start;
        this.prepare(size);
      }
      const chunk = this.chunk;
      this.columns.forEach((column, c) => {
        const values = batch.values[c]!;
        if (copyNumbers(chunk, c, values, start, end)) return;
        const out: DuckDBValue[] = new Array(end - start);
        for (let r = start; r < end; r += 1) out[r - start] = toDuckValue(values[r], column.type);
        chunk.setColumnValues(c, out);
      });
      this.appender.appendDataChunk(chunk);
    }
    this.rows += batch.rowCount;
  }

  /** Hands every buffered row to DuckDB and closes the appender; the rows stay uncommitted. */
  close(): void {
    try {
      this.appender.flushSync();
    } finally {
      this.appender.closeSync();
    }
  }

  /** Empties the chunk (its strings and missing values go), sizes it and fills in the constant columns. */
  private prepare(size: number): void {
    this.chunk.reset();
    // Setting the size also drops node-api's views of the vectors, which the reset may have moved.
    this.chunk.rowCount = size;
    this.constants.forEach((constant, k) => {
      const value = toDuckValue(constant.value, constant.type);
      this.chunk.setColumnValues(this.columns.length + k, new Array<DuckDBValue>(size).fill(value));
    });
  }
}

/**
 * Copies a typed array of numbers into a DOUBLE or BIGINT vector in one move (model outputs and
 * columns read without missing values arrive this way); returns false for anything that needs
 * converting value by value.
 */
function copyNumbers(
  chunk: DuckDBDataChunk,
  c: number,
  values: ArrayLike<unknown>,
  start: number,
  end: number,
): boolean {
  const vector = chunk.getColumnVector(c);
  // The vector's `items` is the typed array `flush` copies to DuckDB; node-api keeps it private.
  const items = (vector as unknown as { items: Float64Array | BigInt64Array }).items;
  if (
    vector instanceof DuckDBDoubleVector &&
    (values instanceof Float32Array || values instanceof Float64Array)
  ) {
    (items as Float64Array).set(values.subarray(start, end));
  } else if (
    (vector instanceof DuckDBBigIntVector ||
      vector instanceof DuckDBTimestampVector ||
      vector instanceof DuckDBTimestampTZVector) &&
    values instanceof BigInt64Array
  ) {
    (items as BigInt64Array).set(values.subarray(start, end));
  } else {
    return false;
  }
  vector.flush();
  return true;
}
