import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { SlipwayError } from '../../errors/index.js';
import { DDL, DuckDbWarehouse, queryError, type SinkTargets } from './duckdb-warehouse.js';
import { type Column, type ConstantColumn, quoteIdentifier, type SinkOptions, toDate } from './warehouse.js';

export const FILE_FORMATS = ['parquet', 'csv', 'json'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

/** Where runs stage their files before moving them into place (same file system, so renames are atomic). */
const STAGING = '.slipway-staging';

/**
 * The file Slipway writes in every table folder it creates. A sink replaces or writes into a folder
 * only when it holds this file, so a sink pointed at someone else's folder deletes nothing.
 */
export const SINK_MARKER = '.slipway-sink';

/**
 * A folder of files as a sink: each table is a folder of Hive-style partitions,
 * `<root>/<table>/logical_date=YYYY-MM-DD/part-<run id>.parquet` (or `.csv`, `.json`), which DuckDB, Spark,
 * pandas and the cloud warehouses read as one partitioned table. Rows are staged in a private in-memory
 * DuckDB (spilling to disk past its memory limit) and written out only when the run publishes: to a
 * staging folder first, then renamed into place, so a partition is never seen half written.
 *
 * - `replace_partition` swaps the date's folder for the run's (a reader may, for an instant between two
 *   renames, see the date missing, never a mix);
 * - `append` adds the run's file to the date's folder;
 * - `replace` swaps the whole table folder for one holding only the run's partition.
 *
 * A table folder is Slipway's when it holds `.slipway-sink` (written when the folder is created); an
 * existing folder without it is refused in every mode and left as it is.
 *
 * As a source it is an in-memory DuckDB: queries read files with `read_parquet`, `read_csv` or
 * `read_json`, in this folder only.
 */
export class FilesWarehouse extends DuckDbWarehouse {
  override readonly kind = 'files';
  private readonly root: string;

  constructor(
    root: string,
    private readonly format: FileFormat,
  ) {
    super(null, { readable: [resolve(root)] });
    this.root = resolve(root);
  }

  /** Files carry their own schema per partition: nothing to check against before a run. */
  override async describeTable(): Promise<Column[] | null> {
    return null;
  }

  /** Every table is staged: a run's files are written whole at publish, then moved into place. */
  protected override async openTargets(
    connection: DuckDBConnection,
    options: SinkOptions,
  ): Promise<SinkTargets> {
    const staging = [];
    for (const [i, table] of options.tables.entries()) staging.push(await this.stage(connection, i, table));
    return { appenders: staging.map((s) => s.appender), staged: staging.map((s) => s.table) };
  }

  protected override async publish(
    connection: DuckDBConnection,
    options: SinkOptions,
    staged: readonly (string | null)[],
  ): Promise<void> {
    const run = String(constant(options.tables[0]?.constants, 'job_run_id') ?? randomUUID());
    const date = options.partition?.value ?? String(constant(options.tables[0]?.constants, 'logical_date'));
    const partition = `${options.partition?.column ?? 'logical_date'}=${date}`;
    const staging = join(this.root, STAGING, `${run}-${randomUUID().slice(0, 8)}`);
    const file = `part-${run}.${this.format}`;
    try {
      for (const table of options.tables) await assertOwned(join(this.root, table.table), table.table);
      // Every file is written before anything is moved: a failure here publishes nothing.
      for (const [i, table] of options.tables.entries()) {
        const folder = join(staging, String(i), partition);
        await mkdir(folder, { recursive: true });
        await writeMarker(join(staging, String(i)), table.table);
        await connection.run(
          `COPY (${selectAll(table.columns, table.constants ?? [], staged[i]!)}) TO ${stringLiteral(join(folder, file))} (${this.copyOptions()})`,
        );
      }
      for (const [i, table] of options.tables.entries()) {
        const target = join(this.root, table.table);
        const written = join(staging, String(i));
        if (options.mode === 'replace') {
          await swap(written, target, join(staging, `old-${i}`));
        } else if (options.mode === 'replace_partition') {
          await ensureTableFolder(target, table.table);
          await swap(join(written, partition), join(target, partition), join(staging, `old-${i}`));
        } else {
          await ensureTableFolder(target, table.table);
          await mkdir(join(target, partition), { recursive: true });
          await rename(join(written, partition, file), join(target, partition, file));
        }
      }
    } catch (error) {
      throw error instanceof SlipwayError ? error : queryError(error, `writing files under ${this.root}`);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  private copyOptions(): string {
    if (this.format === 'csv') return 'FORMAT csv, HEADER true';
    if (this.format === 'json') return 'FORMAT json';
    return 'FORMAT parquet';
  }
}

/**
 * Refuses a table folder that exists but is not Slipway's (no `.slipway-sink`): neither replaced,
 * nor written into, nor deleted. Checked for every table before a run moves anything.
 */
async function assertOwned(folder: string, table: string): Promise<void> {
  const entries: string[] | null = await readdir(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    if (error.code === 'ENOTDIR') return [];
    throw error;
  });
  if (entries === null || entries.includes(SINK_MARKER)) return;
  throw new SlipwayError(
    'FAILED_PRECONDITION',
    `The files sink would write table ${table} into ${folder}, which exists and was not created by a Slipway sink (it has no ${SINK_MARKER} file); nothing was written or deleted. Choose another table or folder, or empty and remove that folder first.`,
    { path: folder, table },
  );
}

async function writeMarker(folder: string, table: string): Promise<void> {
  await writeFile(
    join(folder, SINK_MARKER),
    `${JSON.stringify({ table, created_at: new Date().toISOString(), created_by: 'slipway files sink' })}\n`,
  );
}

/** Creates a table folder with its marker; a folder already there passed `assertOwned`. */
async function ensureTableFolder(folder: string, table: string): Promise<void> {
  const created = await mkdir(folder, { recursive: true });
  if (created !== undefined) await writeMarker(folder, table);
}

/** Puts `replacement` where `target` is, moving the old one aside (then deleted with the staging folder). */
async function swap(replacement: string, target: string, aside: string): Promise<void> {
  const exists = await stat(target).then(
    () => true,
    () => false,
  );
  if (exists) await rename(target, aside);
  await rename(replacement, target);
}

function constant(constants: readonly ConstantColumn[] | undefined, name: string): unknown {
  return constants?.find((c) => c.name === name)?.value;
}

function selectAll(columns: readonly Column[], constants: readonly ConstantColumn[], staged: string): string {
  const values = [
    ...columns.map((c) => quoteIdentifier(c.name)),
    ...constants.map((c) => `${literal(c.value, c)} AS ${quoteIdentifier(c.name)}`),
  ];
  return `SELECT ${values.join(', ')} FROM ${staged}`;
}

const stringLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** A run's constant as a typed SQL literal (COPY takes no parameters); only values Slipway made. */
function literal(value: unknown, column: Column): string {
  if (value === null || value === undefined) return `CAST(NULL AS ${DDL[column.type]})`;
  switch (column.type) {
    case 'bigint':
      return `CAST(${BigInt(value as number | bigint).toString()} AS BIGINT)`;
    case 'double':
      return `CAST(${Number(value)} AS DOUBLE)`;
    case 'boolean':
      return value ? 'TRUE' : 'FALSE';
    case 'date':
      return `DATE ${stringLiteral(String(value).slice(0, 10))}`;
    case 'timestamp':
    case 'timestamptz':
      return `CAST(${stringLiteral(toDate(value).toISOString())} AS ${DDL[column.type]})`;
    default:
      return `CAST(${stringLiteral(String(value))} AS ${DDL[column.type]})`;
  }
}
