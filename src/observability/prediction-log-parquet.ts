import { resolve, sep } from 'node:path';
import {
  type DuckDBConnection,
  DuckDBDataChunk,
  type DuckDBInstance,
  type DuckDBValue,
  INTEGER,
  TIMESTAMP,
  timestampValue,
  VARCHAR,
} from '@duckdb/node-api';
import { openSandboxedDuckDb, sqlString } from '../storage/duckdb-sandbox.js';

/** The rows of one prediction, converted: what a Parquet file of the log is written from. */
export interface LoggedPrediction {
  readonly time: Date;
  readonly requestId: string | null;
  readonly environment: string;
  readonly model: string;
  readonly version: number;
  readonly revision: number;
  /** One JSON object per row, input name -> value. */
  readonly inputs: readonly string[];
  /** One JSON object per row, output name -> value. */
  readonly outputs: readonly string[];
}

/** A row as `PredictionLog.read` returns it. */
export interface PredictionLogRow {
  readonly time: Date;
  readonly requestId: string | null;
  readonly version: number;
  readonly revision: number;
  /** The row's index in its request. */
  readonly row: number;
  readonly inputs: Record<string, unknown>;
  readonly outputs: Record<string, unknown>;
}

/** What a read keeps: `from <= time < to`, and one version when given. */
export interface RowFilter {
  readonly from: Date;
  readonly to: Date;
  readonly version?: number | undefined;
}

/** The columns of every file, in order (docs/config.md lists them). */
const COLUMNS = [
  ['time', TIMESTAMP],
  ['request_id', VARCHAR],
  ['environment', VARCHAR],
  ['model', VARCHAR],
  ['version', INTEGER],
  ['revision', INTEGER],
  ['row', INTEGER],
  ['inputs', VARCHAR],
  ['outputs', VARCHAR],
] as const;
const TYPES = COLUMNS.map(([, type]) => type);
const DDL = COLUMNS.map(([name, type]) => `"${name}" ${type.toString()}`).join(', ');
/** DuckDB's own vectors hold this many rows. */
const VECTOR_SIZE = 2048;

/**
 * A private in-memory DuckDB that writes and reads the log's Parquet files, and nothing else: it may
 * touch files only in the log's own temporary folder (set before any statement runs, then locked so no
 * statement can widen it), installs and loads no extension, and stays small. Opened on first use, so a
 * server whose environments log nothing never starts one.
 */
export class PredictionLogParquet {
  private instance: Promise<DuckDBInstance> | null = null;

  constructor(private readonly folder: string) {}

  /** Writes the predictions' rows, in order, to a new Parquet file in the folder (zstd-compressed). */
  async write(file: string, predictions: readonly LoggedPrediction[]): Promise<number> {
    return this.with(async (connection) => {
      await connection.run(`CREATE TEMP TABLE rows (${DDL})`);
      const appender = await connection.createAppender('rows', 'main', 'temp');
      let count = 0;
      try {
        const columns: DuckDBValue[][] = COLUMNS.map(() => []);
        const append = () => {
          const chunk = DuckDBDataChunk.create(TYPES, columns[0]?.length ?? 0);
          columns.forEach((values, c) => {
            chunk.setColumnValues(c, values);
            values.length = 0;
          });
          appender.appendDataChunk(chunk);
        };
        for (const prediction of predictions) {
          const time = timestampValue(BigInt(prediction.time.getTime()) * 1000n);
          for (let row = 0; row < prediction.inputs.length; row += 1) {
            const values = [
              time,
              prediction.requestId,
              prediction.environment,
              prediction.model,
              prediction.version,
              prediction.revision,
              row,
              prediction.inputs[row] as string,
              prediction.outputs[row] as string,
            ];
            values.forEach((value, c) => {
              (columns[c] as DuckDBValue[]).push(value);
            });
            count += 1;
            if ((columns[0] as DuckDBValue[]).length === VECTOR_SIZE) append();
          }
        }
        if ((columns[0] as DuckDBValue[]).length > 0) append();
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      await connection.run(`COPY temp.rows TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`);
      return count;
    });
  }

  /** The newest `limit` rows of the files that pass the filter: newest first, then by request and row. */
  async read(files: readonly string[], filter: RowFilter, limit: number): Promise<PredictionLogRow[]> {
    if (files.length === 0 || limit <= 0) return [];
    const where = [
      `time >= make_timestamp(${filter.from.getTime() * 1000})`,
      `time < make_timestamp(${filter.to.getTime() * 1000})`,
      ...(filter.version !== undefined ? [`version = ${filter.version}`] : []),
    ].join(' AND ');
    return this.with(async (connection) => {
      const result = await connection.runAndReadAll(
        `SELECT epoch_ms(time) AS ms, request_id, version, revision, "row", inputs, outputs
         FROM read_parquet([${files.map(sqlString).join(', ')}])
         WHERE ${where}
         ORDER BY time DESC, request_id, "row"
         LIMIT ${limit}`,
      );
      return result.getRows().map(([ms, requestId, version, revision, row, inputs, outputs]) => ({
        time: new Date(Number(ms)),
        requestId: requestId === null ? null : String(requestId),
        version: Number(version),
        revision: Number(revision),
        row: Number(row),
        inputs: JSON.parse(String(inputs)) as Record<string, unknown>,
        outputs: JSON.parse(String(outputs)) as Record<string, unknown>,
      }));
    });
  }

  async close(): Promise<void> {
    const opened = this.instance;
    this.instance = null;
    if (opened) await opened.then((instance) => instance.closeSync()).catch(() => undefined);
  }

  private async with<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    this.instance ??= open(this.folder).catch((error: unknown) => {
      this.instance = null;
      throw error;
    });
    const connection = await (await this.instance).connect();
    try {
      return await work(connection);
    } finally {
      connection.closeSync();
    }
  }
}

function open(folder: string): Promise<DuckDBInstance> {
  return openSandboxedDuckDb(':memory:', { memory: '64MB', threads: 1 }, [`${resolve(folder)}${sep}`]);
}
