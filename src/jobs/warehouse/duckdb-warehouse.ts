import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import {
  type DuckDBConnection,
  type DuckDBDateValue,
  type DuckDBDecimalValue,
  type DuckDBInstance,
  type DuckDBResult,
  type DuckDBTimestampValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
} from '@duckdb/node-api';
import type { SlipwayError } from '../../errors/index.js';
import { openSandboxedDuckDb } from '../../storage/duckdb-sandbox.js';
import { ChunkAppender, DUCK_TYPES, toDuckValue, WRITERS } from './duckdb-append.js';
import { ColumnCollector } from './duckdb-columns.js';
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
  type SinkTable,
  type TypeNames,
  tableColumns,
  type Warehouse,
} from './warehouse.js';

/** Where a run's rows go: an appender per sink table, and the staging table it fills, if any. */
export interface SinkTargets {
  readonly appenders: readonly ChunkAppender[];
  /** Per table, the staging table its rows wait in until publish; null when appended in place. */
  readonly staged: readonly (string | null)[];
}

/**
 * What a warehouse's queries may reach besides its own tables: files under these folders (its
 * database file and spill folder are always reachable). Nothing else on the file system or network.
 */
export interface DuckDbAccess {
  readonly readable: readonly string[];
}

const NO_FILES: DuckDbAccess = { readable: [] };

/**
 * Opens a DuckDB database sandboxed before any query runs: external access is limited to the
 * readable folders (as absolute paths and as paths relative to the server's working directory, the
 * two ways a query may spell them), then turned off, then the configuration is locked so that no
 * statement can widen it again (`SET`, `RESET` and `PRAGMA` of a setting fail once it is locked).
 * DuckDB takes list settings only by `SET`, hence the setup connection. Past 128 MB a query spills
 * to disk, and a run's rows go to the database file as their row groups fill, so a run's memory stays
 * bounded: scoring the 3 million flights of the bench peaks at about 1 GB for the whole server, its
 * workers included (bench/batch-scoring.ts). Extensions are never installed or loaded behind a
 * query's back.
 */
function createSandboxed(path: string, access: DuckDbAccess): Promise<DuckDBInstance> {
  return openSandboxedDuckDb(path, { memory: '128MB', threads: 2 }, access.readable.flatMap(spellings));
}

/** A folder as DuckDB compares it: absolute, and relative to the working directory when inside it. */
function spellings(folder: string): string[] {
  const absolute = `${resolve(folder)}${sep}`;
  const fromCwd = relative(process.cwd(), resolve(folder));
  const inside = fromCwd !== '' && !fromCwd.startsWith('..') && !isAbsolute(fromCwd);
  return inside ? [absolute, `${fromCwd}${sep}`] : [absolute];
}

/**
 * One DuckDB instance per database file in this process, shared by every reader and writer and closed
 * when the last one is done, so the file is unlocked between runs (DuckDB lets one process at a time
 * open a file for writing). The instance keeps the access it was opened with; Slipway derives the
 * access from the file's place (warehouse-for-uri.ts), so every opener asks for the same.
 */
const instances = new Map<string, { instance: Promise<DuckDBInstance>; users: number }>();

async function acquire(path: string, access: DuckDbAccess): Promise<DuckDBInstance> {
  let entry = instances.get(path);
  if (!entry) {
    mkdirSync(dirname(path), { recursive: true });
    entry = { instance: createSandboxed(path, access), users: 0 };
    instances.set(path, entry);
  }
  entry.users += 1;
  try {
    return await entry.instance;
  } catch (error) {
    instances.delete(path);
    throw engineError('DuckDB', error, `to open ${path}`, {
      unavailable: true,
      details: { warehouse: `duckdb:${path}` },
    });
  }
}

function release(path: string): void {
  const entry = instances.get(path);
  if (!entry) return;
  entry.users -= 1;
  if (entry.users > 0) return;
  instances.delete(path);
  void entry.instance.then((instance) => instance.closeSync()).catch(() => undefined);
}

/**
 * The embedded warehouse: a DuckDB database file. Its queries can also read CSV, Parquet and JSON
 * files directly (`SELECT … FROM 'flights.parquet'`), in the folders its access names and nowhere else.
 */
export class DuckDbWarehouse implements Warehouse {
  readonly kind: string = 'duckdb';
  /** The database file, or null for a private in-memory database (see FilesWarehouse). */
  private readonly path: string | null;
  private opened: Promise<DuckDBInstance> | null = null;

  constructor(
    path: string | null,
    private readonly access: DuckDbAccess = NO_FILES,
  ) {
    this.path = path === null ? null : resolve(path);
  }

  private instance(): Promise<DuckDBInstance> {
    this.opened ??=
      this.path === null ? createSandboxed(':memory:', this.access) : acquire(this.path, this.access);
    return this.opened;
  }

  protected async connect(): Promise<DuckDBConnection> {
    return (await this.instance()).connect();
  }

  async read(query: SourceQuery, batchRows: number): Promise<ReadCursor> {
    const connection = await this.connect();
    let result: DuckDBResult;
    try {
      result = await connection.stream(asSubquery(query));
    } catch (error) {
      connection.closeSync();
      throw queryError(error, 'the source query');
    }
    const names = result.columnNames();
    const types = result.columnTypes();
    const readers = types.map(readerFor);
    const columns: Column[] = names.map((name, i) => ({ name, type: readers[i]!.type }));
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      connection.closeSync();
    };
    return {
      columns,
      close,
      async *batches(): AsyncIterable<RowBatch> {
        try {
          const collectors = readers.map((r) => new ColumnCollector(batchRows, r.convert));
          let rows = 0;
          for (;;) {
            const chunk = await result.fetchChunk();
            if (!chunk || chunk.rowCount === 0) break;
            for (let from = 0; from < chunk.rowCount; ) {
              const to = Math.min(chunk.rowCount, from + batchRows - rows);
              for (let c = 0; c < columns.length; c += 1) collectors[c]!.copy(chunk, c, from, to, rows);
              rows += to - from;
              from = to;
              if (rows === batchRows) {
                yield {
                  columns,
                  values: collectors.map((collector) => collector.take(rows)),
                  rowCount: rows,
                };
                rows = 0;
              }
            }
          }
          if (rows > 0)
            yield { columns, values: collectors.map((collector) => collector.take(rows)), rowCount: rows };
        } catch (error) {
          throw queryError(error, 'the source query');
        } finally {
          await close();
        }
      },
    };
  }

  async describeTable(table: string): Promise<Column[] | null> {
    const [schema, name] = table.includes('.') ? table.split('.') : ['main', table];
    const rows = await this.query(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '${schema}' AND table_name = '${name}' ORDER BY ordinal_position`,
    );
    if (rows.length === 0) return null;
    return rows.map((row) => ({
      name: String(row.column_name),
      type: typeFromName(String(row.data_type)),
    }));
  }

  async query(sql: string): Promise<Record<string, unknown>[]> {
    const connection = await this.connect();
    try {
      const reader = await connection.runAndReadAll(sql);
      const types = reader.columnTypes().map(readerFor);
      const names = reader.columnNames();
      return reader.getRows().map((row) => {
        const record: Record<string, unknown> = {};
        names.forEach((name, i) => {
          record[name] = row[i] === null ? null : types[i]!.convert(row[i]!);
        });
        return record;
      });
    } catch (error) {
      throw queryError(error, 'the query');
    } finally {
      connection.closeSync();
    }
  }

  async openSink(options: SinkOptions): Promise<Sink> {
    const existing = await Promise.all(options.tables.map((t) => this.describeTable(t.table)));
    checkSinkColumns(options, existing);
    const connection = await this.connect();
    let targets: SinkTargets;
    try {
      targets = await this.openTargets(connection, options, existing);
    } catch (error) {
      connection.closeSync();
      throw queryError(error, 'staging');
    }
    let finished = false;
    // Closing the connection rolls back whatever its transaction wrote and drops its staging tables.
    const finish = () => {
      if (finished) return;
      finished = true;
      connection.closeSync();
    };
    return {
      write: async (index, batch) => {
        try {
          targets.appenders[index]!.write(batch);
        } catch (error) {
          throw queryError(error, 'writing the results');
        }
      },
      commit: async () => {
        try {
          try {
            for (const appender of targets.appenders) appender.close();
          } catch (error) {
            throw queryError(error, 'writing the results');
          }
          await this.publish(connection, options, targets.staged);
          return targets.appenders.map((appender) => appender.count);
        } finally {
          finish();
        }
      },
      abort: async () => finish(),
    };
  }

  /**
   * Opens the run's transaction and, in it, readies each table: dropped and created again
   * (`replace`), created if missing, its partition deleted (`replace_partition`). Rows are then
   * appended straight into a table whose columns are exactly the run's, in order and type (always so
   * for a table this run created); a table laid out otherwise (another column order, wider types,
   * extra columns) gets a staging table, inserted by name at publish. Until the commit, other
   * connections see every table as it was.
   */
  protected async openTargets(
    connection: DuckDBConnection,
    options: SinkOptions,
    existing: readonly (Column[] | null)[],
  ): Promise<SinkTargets> {
    await connection.run('BEGIN TRANSACTION');
    const appenders: ChunkAppender[] = [];
    const staged: (string | null)[] = [];
    for (const [i, table] of options.tables.entries()) {
      const target = quoteTable(table.table);
      const all = tableColumns(table);
      if (options.mode === 'replace') await connection.run(`DROP TABLE IF EXISTS ${target}`);
      await connection.run(`CREATE TABLE IF NOT EXISTS ${target} (${columnsDdl(all, DDL)})`);
      if (options.mode === 'replace_partition' && options.partition) {
        await connection.run(
          `DELETE FROM ${target} WHERE ${quoteIdentifier(options.partition.column)} = $1`,
          [partitionValue(all, options.partition)],
        );
      }
      const [schema, name] = table.table.includes('.') ? table.table.split('.') : [null, table.table];
      const appender = await connection.createAppender(name!, schema);
      const current = options.mode === 'replace' ? null : existing[i];
      const sameLayout =
        appender.columnCount === all.length &&
        all.every(
          (column, c) =>
            (current === null || current?.[c]?.name === column.name) &&
            appender.columnType(c).typeId === DUCK_TYPES[column.type].typeId,
        );
      if (sameLayout) {
        appenders.push(new ChunkAppender(appender, table.columns, table.constants));
        staged.push(null);
      } else {
        appender.closeSync();
        const staging = await this.stage(connection, i, table);
        appenders.push(staging.appender);
        staged.push(staging.table);
      }
    }
    return { appenders, staged };
  }

  /** A temporary table of the connection for one sink table's batch columns, and its appender. */
  protected async stage(
    connection: DuckDBConnection,
    index: number,
    table: SinkTable,
  ): Promise<{ appender: ChunkAppender; table: string }> {
    const name = `slipway_staged_${index}`;
    await connection.run(`CREATE TEMP TABLE ${name} (${columnsDdl(table.columns, DDL)})`);
    const appender = await connection.createAppender(name, 'main', 'temp');
    return { appender: new ChunkAppender(appender, table.columns), table: `temp.${name}` };
  }

  /** Inserts the staged tables into their targets and commits the run's transaction. */
  protected async publish(
    connection: DuckDBConnection,
    options: SinkOptions,
    staged: readonly (string | null)[],
  ): Promise<void> {
    try {
      for (const [i, table] of options.tables.entries()) {
        const from = staged[i];
        if (from) await connection.run(publishStatement(table, from, DDL), constantValues(table));
      }
      await connection.run('COMMIT');
    } catch (error) {
      await connection.run('ROLLBACK').catch(() => undefined);
      throw queryError(error, 'publishing the results');
    }
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    const opened = this.opened;
    this.opened = null;
    if (this.path !== null) release(this.path);
    else void opened.then((instance) => instance.closeSync()).catch(() => undefined);
  }
}

/** A DuckDB error in a job's SQL is the job's fault: it is reported as such, not as a server fault. */
export const queryError = (error: unknown, what: string): SlipwayError => engineError('DuckDB', error, what);

export const DDL: TypeNames = {
  boolean: 'BOOLEAN',
  bigint: 'BIGINT',
  double: 'DOUBLE',
  text: 'VARCHAR',
  json: 'VARCHAR',
  date: 'DATE',
  timestamp: 'TIMESTAMP',
  timestamptz: 'TIMESTAMPTZ',
};

/** The run's constants as DuckDB values, bound in the order publishStatement numbers them. */
const constantValues = (table: SinkTable): DuckDBValue[] =>
  (table.constants ?? []).map((c) => toDuckValue(c.value, c.type));

/** The partition value typed as its column is, so DuckDB compares a DATE with a DATE. */
function partitionValue(
  columns: readonly Column[],
  partition: { column: string; value: string },
): DuckDBValue {
  const type = columns.find((c) => c.name === partition.column)?.type;
  return type === 'date' ? WRITERS.date(partition.value) : partition.value;
}

interface ColumnReader {
  readonly type: ColumnType;
  readonly convert: (value: DuckDBValue) => unknown;
}

const asIs = (value: DuckDBValue) => value;
/** A timestamp (its DuckDB value, or its raw microseconds since the epoch) as a Date. */
const microsToDate = (value: DuckDBValue) =>
  new Date(Number((typeof value === 'bigint' ? value : (value as DuckDBTimestampValue).micros) / 1000n));

/** How a DuckDB column type reads into the contract's plain values. */
function readerFor(type: DuckDBType): ColumnReader {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return { type: 'boolean', convert: asIs };
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
      return { type: 'bigint', convert: asIs };
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      return { type: 'bigint', convert: (v) => integerValue(v as bigint) };
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return { type: 'double', convert: asIs };
    case DuckDBTypeId.DECIMAL:
      return { type: 'double', convert: (v) => (v as DuckDBDecimalValue).toDouble() };
    case DuckDBTypeId.VARCHAR:
      return { type: 'text', convert: asIs };
    case DuckDBTypeId.DATE:
      return { type: 'date', convert: (v) => (v as DuckDBDateValue).toString() };
    case DuckDBTypeId.TIMESTAMP:
      return { type: 'timestamp', convert: microsToDate };
    case DuckDBTypeId.TIMESTAMP_TZ:
      return { type: 'timestamptz', convert: microsToDate };
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
    case DuckDBTypeId.STRUCT:
    case DuckDBTypeId.MAP:
      return { type: 'json', convert: (v) => JSON.stringify(toJson(v)) };
    default:
      return { type: 'text', convert: (v) => String(v) };
  }
}

function toJson(value: unknown): unknown {
  if (value === null || typeof value !== 'object')
    return typeof value === 'bigint' ? integerValue(value) : value;
  if ('items' in value && Array.isArray(value.items)) return value.items.map(toJson);
  if ('entries' in value && value.entries && typeof value.entries === 'object') {
    const entries = value.entries as Record<string, unknown> | { key: unknown; value: unknown }[];
    if (Array.isArray(entries))
      return Object.fromEntries(entries.map((e) => [String(e.key), toJson(e.value)]));
    return Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, toJson(v)]));
  }
  return String(value);
}

/** information_schema's type names, mapped to the contract's types. */
function typeFromName(name: string): ColumnType {
  const upper = name.toUpperCase();
  if (upper === 'BOOLEAN') return 'boolean';
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/.test(upper))
    return 'bigint';
  if (/^(FLOAT|DOUBLE|REAL|DECIMAL)/.test(upper)) return 'double';
  if (upper === 'DATE') return 'date';
  if (upper === 'TIMESTAMP WITH TIME ZONE') return 'timestamptz';
  if (upper.startsWith('TIMESTAMP')) return 'timestamp';
  if (/\[\]$|^STRUCT|^MAP|^JSON/.test(upper)) return 'json';
  return 'text';
}
