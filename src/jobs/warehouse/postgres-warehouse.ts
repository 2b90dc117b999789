import type pg from 'pg';
import type Cursor from 'pg-cursor';
import type { SlipwayError } from '../../errors/index.js';
import { pg as loadPg, pgCursor } from '../../storage/pg.js';
import { engineError } from './engine-error.js';
import { checkSinkColumns } from './sink-columns.js';
import type { SourceQuery } from './source-query.js';
import {
  asSubquery,
  type Column,
  type ColumnType,
  columnsDdl,
  integerValue,
  publishStatement,
  quoteIdentifier,
  quoteTable,
  type ReadCursor,
  type RowBatch,
  type Sink,
  type SinkOptions,
  type TypeNames,
  tableColumns,
  toDate,
  type Warehouse,
} from './warehouse.js';

/** Postgres type OIDs Slipway reads natively; any other type is read as its text form. */
const OID = {
  bool: 16,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  float4: 700,
  float8: 701,
  numeric: 1700,
  json: 114,
  jsonb: 3802,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
} as const;

const TYPE_OF_OID = new Map<number, ColumnType>([
  [OID.bool, 'boolean'],
  [OID.int2, 'bigint'],
  [OID.int4, 'bigint'],
  [OID.int8, 'bigint'],
  [OID.oid, 'bigint'],
  [OID.float4, 'double'],
  [OID.float8, 'double'],
  [OID.numeric, 'double'],
  [OID.json, 'json'],
  [OID.jsonb, 'json'],
  [OID.date, 'date'],
  [OID.timestamp, 'timestamp'],
  [OID.timestamptz, 'timestamptz'],
]);

/**
 * Parsers for this client only (never pg's global ones): int8 as a number while it is exact, numeric
 * as a double, dates as `YYYY-MM-DD` (pg's default turns them into local-midnight Dates), JSON as text,
 * and naive timestamps as UTC.
 */
const PARSERS = new Map<number, (text: string) => unknown>([
  [OID.int8, (text) => integerValue(BigInt(text))],
  [OID.numeric, (text) => Number(text)],
  [OID.date, (text) => text],
  [OID.json, (text) => text],
  [OID.jsonb, (text) => text],
  [OID.timestamp, (text) => new Date(`${text.replace(' ', 'T')}Z`)],
]);
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    PARSERS.get(oid) ?? loadPg().types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Rows per INSERT: each column travels as one array parameter, so this bounds a statement's size. */
const INSERT_ROWS = 5000;

/** A PostgreSQL database named by a `postgres://` (or `postgresql://`) URL. */
export class PostgresWarehouse implements Warehouse {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;

  constructor(url: string) {
    this.pool = new (loadPg().Pool)({ connectionString: url, max: 4, types, application_name: 'slipway' });
    // An idle connection dropped by the server is replaced at the next checkout; it is not fatal.
    this.pool.on('error', () => undefined);
  }

  private async client(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw engineError('Postgres', error, 'the connection', { unavailable: true });
    }
  }

  /**
   * Reads a job's query as one statement (the cursor's extended-protocol Parse takes exactly one) in
   * a read-only transaction, so that a SELECT of a function that writes fails instead of writing.
   */
  async read(query: SourceQuery, batchRows: number): Promise<ReadCursor> {
    const client = await this.client();
    let cursor: Cursor;
    let first: unknown[][];
    try {
      await client.query('BEGIN TRANSACTION READ ONLY');
      cursor = client.query(new (pgCursor())(asSubquery(query), [], { rowMode: 'array', types }));
      first = await cursor.read(batchRows);
    } catch (error) {
      // The session may be mid-transaction: it is discarded, not returned to the pool.
      client.release(true);
      throw queryError(error, 'the source query');
    }
    const fields = (cursor as unknown as { _result: pg.QueryResult })._result.fields;
    const columns: Column[] = fields.map((f) => ({
      name: f.name,
      type: TYPE_OF_OID.get(f.dataTypeID) ?? 'text',
    }));
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await cursor.close().catch(() => undefined);
      const ended = await client.query('ROLLBACK').then(
        () => true,
        () => false,
      );
      client.release(!ended);
    };
    const toBatch = (rows: unknown[][]): RowBatch => ({
      columns,
      values: columns.map((_, c) => rows.map((row) => row[c] ?? null)),
      rowCount: rows.length,
    });
    return {
      columns,
      close,
      async *batches(): AsyncIterable<RowBatch> {
        try {
          let rows = first;
          while (rows.length > 0) {
            yield toBatch(rows);
            if (rows.length < batchRows) break;
            rows = await cursor.read(batchRows);
          }
        } catch (error) {
          throw queryError(error, 'the source query');
        } finally {
          await close();
        }
      },
    };
  }

  async describeTable(table: string): Promise<Column[] | null> {
    const [schema, name] = table.includes('.') ? table.split('.') : [null, table];
    const result = await this.pool.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2 ORDER BY ordinal_position`,
      [schema, name],
    );
    if (result.rows.length === 0) return null;
    return result.rows.map((row) => ({ name: row.column_name, type: typeFromName(row.data_type) }));
  }

  async query(sql: string): Promise<Record<string, unknown>[]> {
    try {
      return (await this.pool.query(sql)).rows;
    } catch (error) {
      throw queryError(error, 'the query');
    }
  }

  async openSink(options: SinkOptions): Promise<Sink> {
    const existing = await Promise.all(options.tables.map((t) => this.describeTable(t.table)));
    checkSinkColumns(options, existing);
    const client = await this.client();
    const staged = options.tables.map((_, i) => `slipway_staged_${i}`);
    const counts = options.tables.map(() => 0);
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      // The session ends with the sink, taking its temporary tables with it.
      client.release(true);
    };
    try {
      // Temporary tables belong to this session alone and vanish with it, even if the process dies.
      for (const [i, table] of options.tables.entries()) {
        await client.query(`CREATE TEMP TABLE ${staged[i]} (${columnsDdl(table.columns, DDL)})`);
      }
    } catch (error) {
      finish();
      throw queryError(error, 'staging');
    }
    return {
      write: async (index, batch) => {
        const table = options.tables[index]!;
        const names = table.columns.map((c) => quoteIdentifier(c.name)).join(', ');
        const unnest = table.columns.map((c, i) => `$${i + 1}::${DDL[c.type]}[]`).join(', ');
        const sql = `INSERT INTO ${staged[index]} (${names}) SELECT * FROM unnest(${unnest})`;
        for (let start = 0; start < batch.rowCount; start += INSERT_ROWS) {
          const end = Math.min(start + INSERT_ROWS, batch.rowCount);
          const parameters = table.columns.map((column, c) =>
            toArray(Array.prototype.slice.call(batch.values[c]!, start, end), column.type),
          );
          try {
            await client.query(sql, parameters);
          } catch (error) {
            throw queryError(error, 'staging rows');
          }
        }
        counts[index]! += batch.rowCount;
      },
      commit: async () => {
        try {
          await client.query('BEGIN');
          for (const [i, table] of options.tables.entries()) {
            const target = quoteTable(table.table);
            if (options.mode === 'replace') await client.query(`DROP TABLE IF EXISTS ${target}`);
            await client.query(
              `CREATE TABLE IF NOT EXISTS ${target} (${columnsDdl(tableColumns(table), DDL)})`,
            );
            if (options.mode === 'replace_partition' && options.partition) {
              await client.query(
                `DELETE FROM ${target} WHERE ${quoteIdentifier(options.partition.column)} = $1`,
                [options.partition.value],
              );
            }
            await client.query(
              publishStatement(table, staged[i]!, DDL),
              (table.constants ?? []).map((c) => toArray([c.value], c.type)[0]),
            );
          }
          await client.query('COMMIT');
          finish();
          return counts;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          finish();
          throw queryError(error, 'publishing the results');
        }
      },
      abort: async () => finish(),
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function queryError(error: unknown, what: string): SlipwayError {
  const code = (error as { code?: string }).code;
  // Class 08 is a broken connection: the warehouse, not the job, is at fault.
  return engineError('Postgres', error, what, {
    unavailable: typeof code === 'string' && code.startsWith('08'),
    details: code ? { sqlstate: code } : {},
  });
}

/** PostgreSQL's names of the column types (also the element types of the `unnest` arrays). */
const DDL: TypeNames = {
  boolean: 'boolean',
  bigint: 'bigint',
  double: 'double precision',
  text: 'text',
  json: 'jsonb',
  date: 'date',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
};

/** One column of a batch as the array parameter `unnest` takes. */
function toArray(column: ArrayLike<unknown>, type: ColumnType): unknown[] {
  const values = Array.from(column);
  switch (type) {
    case 'bigint':
      return values.map((v) => (v === null || v === undefined ? null : String(v)));
    case 'json':
      return values.map((v) =>
        v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v),
      );
    case 'timestamp':
      // A naive timestamp is UTC wall time: send it without a zone so Postgres stores it as is.
      return values.map((v) => (v === null || v === undefined ? null : toDate(v).toISOString().slice(0, -1)));
    case 'timestamptz':
      return values.map((v) => (v === null || v === undefined ? null : toDate(v)));
    default:
      return values.map((v) => (v === undefined ? null : v));
  }
}

function typeFromName(name: string): ColumnType {
  if (name === 'boolean') return 'boolean';
  if (/^(smallint|integer|bigint)$/.test(name)) return 'bigint';
  if (/^(real|double precision|numeric)$/.test(name)) return 'double';
  if (name === 'date') return 'date';
  if (name === 'timestamp with time zone') return 'timestamptz';
  if (name.startsWith('timestamp')) return 'timestamp';
  if (name === 'json' || name === 'jsonb') return 'json';
  return 'text';
}
