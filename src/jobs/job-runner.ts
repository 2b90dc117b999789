import type { Logger } from 'pino';
import type { ModelVersion } from '../domain/model.js';
import { versionInService } from '../domain/revision.js';
import { type ServableVersion, toServable } from '../domain/servable.js';
import type { TensorSpec } from '../domain/signature.js';
import { isSlipwayError, SlipwayError } from '../errors/index.js';
import type { RegistryReads } from '../registry/registry-service.js';
import { concatRows, type NamedTensors, sliceRows, type Tensor } from '../runtime/tensor.js';
import type { RevisionSource } from '../serving/data-plane.js';
import type { ModelHost } from '../serving/model-host.js';
import { describeReference, type Job, type JobRun, parseModelReference, renderQuery } from './job.js';
import { RowEncoder, type RowError } from './row-encoder.js';
import { maskConnectionString } from './warehouse/references.js';
import { checkSourceQuery } from './warehouse/source-query.js';
import {
  asSubquery,
  type Column,
  type ColumnType,
  type ConstantColumn,
  integerValue,
  type RowBatch,
  type Sink,
  toDate,
  type Warehouse,
} from './warehouse/warehouse.js';

/**
 * Columns every output row carries, after the source's columns and the model's outputs. They hold one
 * value per run, so the warehouse fills them in when it publishes the run, not every batch.
 */
export const METADATA_COLUMNS: readonly Column[] = [
  { name: 'prediction_timestamp', type: 'timestamptz' },
  { name: 'model_name', type: 'text' },
  { name: 'model_version', type: 'bigint' },
  { name: 'environment', type: 'text' },
  { name: 'job_run_id', type: 'text' },
  { name: 'logical_date', type: 'date' },
];

/** The errors table: one row per source row that could not be scored, with the reason. */
export const ERROR_COLUMNS: readonly Column[] = [
  { name: 'row_number', type: 'bigint' },
  { name: 'error_code', type: 'text' },
  { name: 'error_message', type: 'text' },
  { name: 'row', type: 'json' },
];

export interface RunProgress {
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly rowsFailed: number;
}

export interface RunOutcome extends RunProgress {
  readonly version: ModelVersion;
}

export interface RunContext {
  readonly job: Job;
  readonly run: JobRun;
  readonly signal: AbortSignal;
  /** Called after every batch written, with the totals so far. */
  readonly progress: (progress: RunProgress) => void;
  readonly log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Called once the model reference is resolved, before any row is read. */
  readonly resolved: (version: ModelVersion) => void;
  readonly expected: (rows: number) => void;
}

export interface JobRunnerOptions {
  readonly registry: RegistryReads;
  /** The revision in force of a deployment (the data plane's view of deployment history). */
  readonly revisions: Pick<RevisionSource, 'currentRevision'>;
  readonly host: ModelHost;
  readonly warehouse: (reference: string) => Warehouse;
  /**
   * Inference workers a run scores with, one batch in flight on each; the host starts any it lacks
   * for the run (an HTTP process of several has only its share of the server's workers).
   */
  readonly workers: number;
  readonly logger: Logger;
}

/** Why a run stopped before publishing: `cancelled` is not a failure and is never retried. */
export class RunCancelled extends Error {
  constructor() {
    super('the run was cancelled');
  }
}

/**
 * Executes one run: resolve the model, stream the source query through the model with the same
 * inference workers that serve online traffic, and publish predictions and rejected rows in one
 * transaction. Reading, inference and writing overlap: while one batch is written, the next ones are
 * being scored and read, and at most `concurrency + 1` batches are held at once, so memory is bounded
 * by the batch size, not the source.
 */
export class JobRunner {
  constructor(private readonly options: JobRunnerOptions) {}

  async execute(context: RunContext): Promise<RunOutcome> {
    const { job, run, signal, log } = context;
    const version = await this.resolve(job);
    context.resolved(version);
    log(
      'info',
      `model ${job.model}${job.environment ? ` (${job.environment})` : ''} resolved to ${version.model}/${version.version}`,
    );
    // Checked again as the run reads it: a job stored before the check existed, or edited in the
    // registry database, still runs only what the check accepts.
    const query = await checkSourceQuery(renderQuery(job.source.query, run.logicalDate));
    const source = this.options.warehouse(job.source.warehouse);
    let target: Warehouse;
    try {
      target =
        job.sink.warehouse === job.source.warehouse ? source : this.options.warehouse(job.sink.warehouse);
    } catch (error) {
      await source.close();
      throw error;
    }
    const { host, workers } = this.options;
    const returnWorkers = host.reserveWorkers(workers);
    let release: (() => void) | undefined;
    let sink: Sink | undefined;
    try {
      await host.load(version);
      release = host.hold(version.sha256);
      const cursor = await source.read(query, job.batchRows);
      signal.addEventListener('abort', () => void cursor.close(), { once: true });
      const encoder = new RowEncoder(version.signature, version.inputPolicies, cursor.columns, job.inputs);
      const outputs = outputColumns(version.signature.outputs);
      const columns = [...cursor.columns, ...outputs.flatMap((o) => o.columns)];
      assertDistinct([...columns, ...METADATA_COLUMNS], cursor.columns);
      // Counting re-runs the query: cheap for DuckDB's files and tables, not for a remote database.
      if (source.kind !== 'postgres')
        void source
          .query(`SELECT count(*) AS n FROM (${asSubquery(query)}) AS counted`)
          .then((rows) => context.expected(Number(rows[0]?.n ?? 0)))
          .catch(() => undefined);
      const constants = metadataColumns({
        scoredAt: new Date(),
        model: version.model,
        version: version.version,
        environment: job.environment,
        run: run.id,
        date: run.logicalDate,
      });
      sink = await target.openSink({
        tables: [
          { table: job.sink.table, columns, constants },
          {
            table: job.sink.errorsTable,
            columns: ERROR_COLUMNS,
            constants: constants.filter((c) => c.name === 'job_run_id' || c.name === 'logical_date'),
          },
        ],
        mode: job.writeMode,
        partition: { column: 'logical_date', value: run.logicalDate },
      });
      log(
        'info',
        `reading ${maskConnectionString(job.source.warehouse)}; writing ${job.sink.table} in ${maskConnectionString(job.sink.warehouse)} (${job.writeMode})`,
      );

      const totals = { rowsRead: 0, rowsWritten: 0, rowsFailed: 0 };
      const inFlight: Promise<Scored>[] = [];
      const reasons = new Map<string, { count: number; example: string }>();
      const drain = async () => {
        const scored = await inFlight.shift()!;
        if (scored.predictions.rowCount > 0) await sink!.write(0, scored.predictions);
        if (scored.errors.rowCount > 0) {
          await sink!.write(1, scored.errors);
          tally(reasons, scored.errors);
        }
        totals.rowsWritten += scored.predictions.rowCount;
        totals.rowsFailed += scored.errors.rowCount;
        context.progress({ ...totals });
      };
      for await (const batch of cursor.batches()) {
        if (signal.aborted) break;
        const offset = totals.rowsRead;
        totals.rowsRead += batch.rowCount;
        const scoring = this.score(batch, offset, encoder, version, outputs, columns);
        // A rejection is collected by `drain`; until then it must not count as unhandled.
        scoring.catch(() => undefined);
        inFlight.push(scoring);
        if (inFlight.length > workers) await drain();
      }
      if (signal.aborted) {
        await Promise.allSettled(inFlight);
        throw new RunCancelled();
      }
      while (inFlight.length > 0) await drain();

      const share = totals.rowsRead === 0 ? 0 : totals.rowsFailed / totals.rowsRead;
      for (const [code, { count, example }] of reasons) {
        log('warn', `${count} rows rejected with ${code}, e.g. ${example}`);
      }
      if (share > job.maxErrorRate) {
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `${totals.rowsFailed} of ${totals.rowsRead} rows (${(share * 100).toFixed(2)}%) could not be scored, more than max_error_rate ${(job.maxErrorRate * 100).toFixed(2)}%; nothing was published. The run log counts the rows by reason.`,
          { rows_failed: totals.rowsFailed, rows_read: totals.rowsRead },
        );
      }
      if (signal.aborted) throw new RunCancelled();
      await sink.commit();
      sink = undefined;
      log(
        'info',
        `published ${totals.rowsWritten} rows to ${job.sink.table}${totals.rowsFailed > 0 ? ` and ${totals.rowsFailed} rejected rows to ${job.sink.errorsTable}` : ''}`,
      );
      return { ...totals, version };
    } finally {
      await sink?.abort();
      release?.();
      // The added workers stop once their calls are answered; the run does not wait for that.
      void returnWorkers().catch((error: unknown) =>
        this.options.logger.warn({ err: error }, 'the workers added for a run did not stop cleanly'),
      );
      await source.close();
      if (target !== source) await target.close();
    }
  }

  /**
   * Checks a warehouse reference the way a run opens it (its paths, its URI), connecting to nothing:
   * a job is refused when saved for what would refuse its runs.
   */
  async checkWarehouse(reference: string): Promise<void> {
    await this.options.warehouse(reference).close();
  }

  /** The version a job's model reference names right now; VERSION_NOT_SERVABLE if it cannot serve. */
  async resolve(job: Job): Promise<ServableVersion> {
    const { registry, revisions } = this.options;
    const reference = parseModelReference(job.model, job.environment);
    let number: number;
    if (reference.kind === 'version') number = reference.version;
    else if (reference.kind === 'alias')
      number = await registry.resolveAlias(reference.model, reference.alias);
    else {
      const revision = await revisions.currentRevision(reference.model, reference.environment);
      if (!revision) {
        throw new SlipwayError(
          'NOT_DEPLOYED',
          `${reference.model} is not deployed in ${reference.environment}, so the job has no version to score with.`,
          { model: reference.model, environment: reference.environment },
        );
      }
      // During a canary the batch follows the version in service: the stable one.
      number = versionInService(revision);
    }
    const version = await registry.getVersion(reference.model, number);
    try {
      return toServable(version);
    } catch (error) {
      // An alias or a deployment may have moved since the job was written: name what it resolved to.
      if (!isSlipwayError(error)) throw error;
      throw new SlipwayError(
        error.code,
        `${describeReference(reference)} is version ${number}. ${error.message}`,
        error.details,
      );
    }
  }

  private async score(
    batch: RowBatch,
    offset: number,
    encoder: RowEncoder,
    version: ModelVersion,
    outputs: readonly OutputColumns[],
    columns: readonly Column[],
  ): Promise<Scored> {
    const encoded = encoder.encode(batch);
    const rejected: RowError[] = [...encoded.errors];
    let rows = encoded.rows;
    let results: NamedTensors | null = null;
    if (rows.length > 0) {
      const scored = await this.infer(version, encoded.tensors, outputs, rows);
      rows = scored.rows;
      results = scored.results;
      rejected.push(...scored.errors);
    }
    const predictions = assemble(batch, rows, results, outputs, columns);
    return { predictions, errors: errorRows(batch, offset, rejected) };
  }

  /**
   * Runs the model on a batch. If the whole batch fails inside the model, halves are retried until the
   * rows that fail are found, so one bad row costs only itself (log2 of the batch size extra calls).
   */
  private async infer(
    version: ModelVersion,
    tensors: NamedTensors,
    outputs: readonly OutputColumns[],
    rows: readonly number[],
  ): Promise<{ rows: number[]; results: NamedTensors | null; errors: RowError[] }> {
    const names = outputs.map((o) => o.spec.name);
    try {
      const results = await this.options.host.infer(version.sha256, tensors, names);
      return { rows: [...rows], results, errors: [] };
    } catch (error) {
      if (!(error instanceof SlipwayError) || error.code !== 'INFERENCE_FAILED') throw error;
      if (rows.length === 1)
        return {
          rows: [],
          results: null,
          errors: [{ row: rows[0]!, code: error.code, message: error.message }],
        };
      const half = Math.ceil(rows.length / 2);
      const left = await this.infer(version, sliceRows(tensors, 0, half), outputs, rows.slice(0, half));
      const right = await this.infer(
        version,
        sliceRows(tensors, half, rows.length),
        outputs,
        rows.slice(half),
      );
      return {
        rows: [...left.rows, ...right.rows],
        results: joinResults([left.results, right.results]),
        errors: [...left.errors, ...right.errors],
      };
    }
  }
}

interface Metadata {
  /** When the run began scoring: the prediction_timestamp of its rows. */
  readonly scoredAt: Date;
  readonly model: string;
  readonly version: number;
  readonly environment: string | null;
  readonly run: string;
  readonly date: string;
}

interface Scored {
  readonly predictions: RowBatch;
  readonly errors: RowBatch;
}

/** The columns one model output becomes: itself when it has one value per row, `name_0…` otherwise. */
interface OutputColumns {
  readonly spec: TensorSpec;
  readonly width: number;
  readonly columns: readonly Column[];
}

const COLUMN_TYPE: Readonly<Record<string, ColumnType>> = {
  BOOL: 'boolean',
  BYTES: 'text',
  FP32: 'double',
  FP64: 'double',
};

function outputColumns(outputs: readonly TensorSpec[]): OutputColumns[] {
  return outputs.map((spec) => {
    const rest = spec.shape.slice(1);
    if (rest.some((d) => d < 0)) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `Model output "${spec.name}" has shape [${spec.shape.join(', ')}]; a batch job needs a fixed number of values per row to give each its column.`,
        { output: spec.name },
      );
    }
    const width = rest.reduce((a, b) => a * b, 1);
    const type = COLUMN_TYPE[spec.datatype] ?? 'bigint';
    const columns =
      width === 1
        ? [{ name: spec.name, type }]
        : Array.from({ length: width }, (_, i) => ({ name: `${spec.name}_${i}`, type }));
    return { spec, width, columns };
  });
}

function assertDistinct(columns: readonly Column[], source: readonly Column[]): void {
  const seen = new Set<string>();
  for (const column of columns) {
    if (seen.has(column.name)) {
      const fromSource = source.some((c) => c.name === column.name);
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        fromSource
          ? `The source query returns a column "${column.name}", which the job adds itself (a model output or ${METADATA_COLUMNS.map((c) => c.name).join(', ')}); rename it in the query.`
          : `Column "${column.name}" appears twice in the output.`,
        { column: column.name },
      );
    }
    seen.add(column.name);
  }
}

function assemble(
  batch: RowBatch,
  rows: readonly number[],
  results: NamedTensors | null,
  outputs: readonly OutputColumns[],
  columns: readonly Column[],
): RowBatch {
  const all = rows.length === batch.rowCount;
  const values: ArrayLike<unknown>[] = batch.values.map((column) =>
    all ? column : rows.map((r) => column[r]),
  );
  for (const output of outputs) {
    const tensor = results?.[output.spec.name];
    for (let k = 0; k < output.width; k += 1) values.push(outputColumn(tensor, rows.length, output.width, k));
  }
  return { columns, values, rowCount: rows.length };
}

/**
 * Column `k` of an output with `width` values per row. Numbers stay in a typed array (no per-value
 * conversion on the way to the warehouse); booleans and strings become plain values.
 */
function outputColumn(
  tensor: Tensor | undefined,
  rows: number,
  width: number,
  k: number,
): ArrayLike<unknown> {
  if (!tensor || rows === 0) return [];
  const { data } = tensor;
  if (Array.isArray(data) || tensor.datatype === 'BOOL') {
    const column = new Array<unknown>(rows);
    for (let i = 0; i < rows; i += 1) {
      const value = data[i * width + k];
      column[i] = tensor.datatype === 'BOOL' ? value === 1 : value;
    }
    return column;
  }
  const numbers = data as Exclude<Tensor['data'], readonly string[]>;
  if (width === 1) return numbers.subarray(0, rows);
  const column = new (numbers.constructor as new (length: number) => typeof numbers)(rows);
  for (let i = 0; i < rows; i += 1) column[i] = numbers[i * width + k]!;
  return column;
}

function metadataColumns(metadata: Metadata): ConstantColumn[] {
  const values: Record<string, unknown> = {
    prediction_timestamp: metadata.scoredAt,
    model_name: metadata.model,
    model_version: metadata.version,
    environment: metadata.environment,
    job_run_id: metadata.run,
    logical_date: metadata.date,
  };
  return METADATA_COLUMNS.map((column) => ({ ...column, value: values[column.name] }));
}

/** Counts rejected rows by error code, keeping the first message of each. */
function tally(reasons: Map<string, { count: number; example: string }>, errors: RowBatch): void {
  const [, codes, messages] = errors.values;
  for (let r = 0; r < errors.rowCount; r += 1) {
    const code = String(codes![r]);
    const seen = reasons.get(code);
    if (seen) seen.count += 1;
    else
      reasons.set(code, {
        count: 1,
        example: `row ${String(errors.values[0]![r])}: ${String(messages![r])}`,
      });
  }
}

function errorRows(batch: RowBatch, offset: number, errors: readonly RowError[]): RowBatch {
  const sorted = [...errors].sort((a, b) => a.row - b.row);
  const row = (r: number) =>
    JSON.stringify(
      Object.fromEntries(batch.columns.map((c, i) => [c.name, jsonSafe(batch.values[i]![r], c.type)])),
    );
  return {
    columns: ERROR_COLUMNS,
    values: [
      sorted.map((e) => offset + e.row),
      sorted.map((e) => e.code),
      sorted.map((e) => e.message),
      sorted.map((e) => row(e.row)),
    ],
    rowCount: sorted.length,
  };
}

/** A value as JSON shows it: timestamps as ISO strings, integers as numbers while they are exact. */
function jsonSafe(value: unknown, type: ColumnType): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'timestamp' || type === 'timestamptz') return toDate(value).toISOString();
  if (typeof value !== 'bigint') return value;
  const integer = integerValue(value);
  return typeof integer === 'bigint' ? integer.toString() : integer;
}

/** The results of a batch scored in parts, in order; null where no part had rows to score. */
function joinResults(parts: readonly (NamedTensors | null)[]): NamedTensors | null {
  const present = parts.filter((part): part is NamedTensors => part !== null);
  return present.length === 0 ? null : concatRows(present);
}
