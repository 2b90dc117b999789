/**
 * The one contract every warehouse implements: read a query in batches, and write tables so that a
 * run's rows become visible all at once or not at all.
 *
 * Values cross the contract in plain JavaScript form, whatever the warehouse: `boolean`; `number`
 * (or `bigint` beyond 2^53) for integers; `number` for doubles; `string` for text and JSON; a
 * `YYYY-MM-DD` string for dates; a `Date` for timestamps. `null` is a missing value. A column with no
 * missing values may instead arrive as a typed array, which saves a JavaScript value per row: a
 * Float64Array or Float32Array of numbers, or a BigInt64Array of integers (timestamps: microseconds
 * since the epoch).
 */

import type { SourceQuery } from './source-query.js';

/** The column types Slipway moves between warehouses; anything else is read as text or JSON. */
export const COLUMN_TYPES = [
  'boolean',
  'bigint',
  'double',
  'text',
  'date',
  'timestamp',
  'timestamptz',
  'json',
] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
}

/**
 * Rows stored column by column: `values[c][r]` is row r of column c. A column is an array, or a typed
 * array when every value is a number (or bigint) and none is missing.
 */
export interface RowBatch {
  readonly columns: readonly Column[];
  readonly values: readonly ArrayLike<unknown>[];
  readonly rowCount: number;
}

/** An open read: its columns are known before the first row arrives. */
export interface ReadCursor {
  readonly columns: readonly Column[];
  /** Batches of at most `batchRows` rows (the last may be shorter); never an empty batch. */
  batches(): AsyncIterable<RowBatch>;
  /** Stops the query early; safe to call twice and after the last batch. */
  close(): Promise<void>;
}

/** How a run's rows replace what a table holds. */
export const WRITE_MODES = ['append', 'replace', 'replace_partition'] as const;
export type WriteMode = (typeof WRITE_MODES)[number];

/** A column holding one value for every row of a run (its model, its date…), filled in at publish. */
export interface ConstantColumn extends Column {
  readonly value: unknown;
}

/** One table a sink writes: the columns each batch carries, then the run's constant columns. */
export interface SinkTable {
  readonly table: string;
  readonly columns: readonly Column[];
  readonly constants?: readonly ConstantColumn[];
}

/** Every column of a sink table, in table order. */
export const tableColumns = (table: SinkTable): Column[] => [
  ...table.columns,
  ...(table.constants ?? []).map(({ name, type }) => ({ name, type })),
];

export interface SinkOptions {
  readonly tables: readonly SinkTable[];
  readonly mode: WriteMode;
  /**
   * The partition a run replaces (`replace_partition`): the column and its value. Rows already in
   * the table with that value are deleted in the commit that adds the new ones.
   */
  readonly partition?: { readonly column: string; readonly value: string };
}

/**
 * Rows staged out of sight until `commit` publishes every table in one transaction. If the process
 * dies before the commit, nothing staged is visible and nothing needs cleaning up.
 */
export interface Sink {
  write(table: number, batch: RowBatch): Promise<void>;
  /** Publishes every table at once; returns how many rows each received. */
  commit(): Promise<number[]>;
  /** Forgets everything staged; safe to call twice and after a failed commit. */
  abort(): Promise<void>;
}

export interface Warehouse {
  /** `duckdb` or `postgres`. */
  readonly kind: string;
  /**
   * Runs a job's query and reads it in batches. Only a query `checkSourceQuery` accepted gets here,
   * and the warehouse runs it read-only in its sandbox (DuckDB: no file outside its folders, no
   * extension; PostgreSQL: one statement in a read-only transaction).
   */
  read(query: SourceQuery, batchRows: number): Promise<ReadCursor>;
  /** Checks existing tables, then opens a run's writes (creating missing tables, unseen until `commit`). */
  openSink(options: SinkOptions): Promise<Sink>;
  /** Columns of a table, or null when it does not exist. */
  describeTable(table: string): Promise<Column[] | null>;
  /**
   * Runs SQL Slipway wrote and returns all its rows as objects (small results: tests, checks, the
   * CLI). Never a job's query text on its own: that goes through `read`.
   */
  query(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** A SQL dialect's name for each column type. */
export type TypeNames = Readonly<Record<ColumnType, string>>;

/** `"name" TYPE, …` for CREATE TABLE. */
export const columnsDdl = (columns: readonly Column[], types: TypeNames): string =>
  columns.map((c) => `${quoteIdentifier(c.name)} ${types[c.type]}`).join(', ');

/**
 * INSERT … SELECT of a sink table's staged rows into the table, with the run's constant columns as
 * `CAST($n AS type)` parameters (DuckDB and PostgreSQL both read it); the caller binds the constants'
 * values in order.
 */
export function publishStatement(table: SinkTable, staged: string, types: TypeNames): string {
  const constants = table.constants ?? [];
  const names = tableColumns(table)
    .map((c) => quoteIdentifier(c.name))
    .join(', ');
  const selected = [
    ...table.columns.map((c) => quoteIdentifier(c.name)),
    ...constants.map((c, i) => `CAST($${i + 1} AS ${types[c.type]})`),
  ].join(', ');
  return `INSERT INTO ${quoteTable(table.table)} (${names}) SELECT ${selected} FROM ${staged}`;
}

/** `name` or `schema.name`, letters, digits and underscores: the only table names a job may write. */
export const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;

/** Quotes an identifier for SQL (both DuckDB and Postgres use double quotes, doubled inside). */
export const quoteIdentifier = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Quotes a `schema.table` name part by part. */
export const quoteTable = (table: string): string => table.split('.').map(quoteIdentifier).join('.');

/** Wraps a checked query as a subquery, the one form in which warehouses run it. */
export const asSubquery = (query: SourceQuery): string =>
  `SELECT * FROM (${query.trim().replace(/;\s*$/, '')}\n) AS slipway_source`;

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A timestamp value of either form (a Date, or microseconds since the epoch) as a Date. */
export const toDate = (value: unknown): Date =>
  value instanceof Date
    ? value
    : typeof value === 'bigint'
      ? new Date(Number(value / 1000n))
      : new Date(String(value));

/** An integer as a number while it is exact, as a bigint beyond. */
export const integerValue = (value: bigint): number | bigint =>
  value <= SAFE && value >= -SAFE ? Number(value) : value;

/** The type two columns can share when a table already exists: identical, or the same family. */
export function sameFamily(a: ColumnType, b: ColumnType): boolean {
  if (a === b) return true;
  const family = (t: ColumnType) =>
    t === 'timestamp' || t === 'timestamptz' ? 'time' : t === 'json' ? 'text' : t;
  return family(a) === family(b);
}
