import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { ArtifactStore } from '../artifacts/artifact-store.js';
import { DEFAULT_PREDICTION_LOG, ENVIRONMENT_NAME, type PredictionLogPolicy } from '../domain/environment.js';
import { assertModelName } from '../domain/names.js';
import { isSlipwayError, SlipwayError } from '../errors/index.js';
import type { NamedTensors } from '../runtime/tensor.js';
import type { PredictionRecord, PredictionRecorder } from '../serving/prediction-recorder.js';
import {
  type LoggedPrediction,
  PredictionLogParquet,
  type PredictionLogRow,
} from './prediction-log-parquet.js';
import {
  DAY_MS,
  dateFolderStart,
  estimateBytes,
  HOUR_MS,
  hourFolderHour,
  modelFolder,
  PREDICTION_LOG_ROOT,
  partitionFolder,
  partitionOf,
  rowCountOf,
  rowsJson,
} from './prediction-log-rows.js';

export type { PredictionLogRow } from './prediction-log-parquet.js';

export type PredictionLogResult = 'written' | 'dropped';

export interface PredictionLogOptions {
  /** Where the Parquet files go (the app's artifact store). */
  readonly artifacts: ArtifactStore;
  /** Each environment's sample rate and retention; an environment not listed takes the defaults. */
  readonly environments: readonly { readonly name: string; readonly predictionLog: PredictionLogPolicy }[];
  readonly logger: Logger;
  /** Most rows held while waiting to be written (default 10,000); past it, a write starts or rows drop. */
  readonly maxBufferRows?: number;
  /** Most bytes of rows held while waiting to be written (default 64 MiB), estimated from their tensors. */
  readonly maxBufferBytes?: number;
  /** How often what is buffered is written (default 10 s). */
  readonly flushIntervalMs?: number;
  /** How often partitions past their retention are removed (default hourly, and once at `start`). */
  readonly sweepIntervalMs?: number;
  /** Told of every row written or dropped (Prometheus counters). */
  readonly onCount?: (environment: string, model: string, result: PredictionLogResult, rows: number) => void;
  /** Where files are written before they are staged, and read after they are downloaded (default: the OS's). */
  readonly tempDir?: string;
}

/** What `read` returns: rows of one environment's log of one model, in a window of time. */
export interface PredictionLogQuery {
  readonly environment: string;
  readonly model: string;
  /** Inclusive. */
  readonly from: Date;
  /** Exclusive. */
  readonly to: Date;
  /** Most rows returned, the newest (default and most: 100,000). */
  readonly limit?: number;
  /** Only rows one version answered. */
  readonly version?: number;
}

/** Rows written and dropped for one model in one environment since the server started. */
export interface PredictionLogCount {
  readonly environment: string;
  readonly model: string;
  written: number;
  dropped: number;
}

const DEFAULT_MAX_ROWS = 10_000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const DEFAULT_FLUSH_MS = 10_000;
const DEFAULT_SWEEP_MS = HOUR_MS;
export const MAX_READ_ROWS = 100_000;
/** A file holds at most one buffer's rows, far below this; the limit only guards the store. */
const MAX_FILE_BYTES = 1024 * 1024 * 1024;
/** A failing store would otherwise log on every write. */
const WARN_INTERVAL_MS = 60_000;
/** Converting tensors to JSON yields to requests after this long. */
const SLICE_MS = 4;

/** A sampled prediction in the buffer: its tensors until converted, then its rows' JSON. */
interface Entry extends LoggedPrediction {
  readonly rows: number;
  readonly bytes: number;
  tensors: { readonly inputs: NamedTensors; readonly outputs: NamedTensors } | null;
  inputs: string[];
  outputs: string[];
}

/**
 * The prediction log: a sample of each environment's served predictions, one Parquet row per request
 * row, in hourly partitions of the artifact store
 * (`prediction-log/<environment>/<model>/date=YYYY-MM-DD/hour=HH/<file>.parquet`), kept for the
 * environment's retention. Drift analysis reads it back with `read`.
 *
 * It never slows or fails a prediction. `record` decides by one random draw whether to keep a
 * prediction; kept ones are buffered as they are (the tensors are not copied) and converted to JSON in
 * short slices between requests. The buffer is bounded in rows and bytes: when it is full, a write
 * takes it whole and a new one starts; when a write is still running, predictions that do not fit are
 * dropped and counted. So at most two buffers' worth is held, the one being written and the one
 * filling. A write that fails (disk full, store error) drops its rows, counts them, and logs a
 * warning at most once a minute.
 *
 * Files are written by a private in-memory DuckDB to a temporary folder, then staged and committed
 * into the store, so a reader sees a whole file or none.
 */
export class PredictionLog implements PredictionRecorder {
  private readonly policies: ReadonlyMap<string, PredictionLogPolicy>;
  private readonly maxRows: number;
  private readonly maxBytes: number;
  private buffer: Entry[] = [];
  private bufferedRows = 0;
  private bufferedBytes = 0;
  /** How far conversion has got in the buffer. */
  private convertedUpTo = 0;
  private converting: NodeJS.Immediate | undefined;
  private writing: Promise<void> | null = null;
  private sweeping: Promise<void> | null = null;
  private readonly counts = new Map<string, PredictionLogCount>();
  private temp: Promise<{ folder: string; parquet: PredictionLogParquet }> | null = null;
  private flushTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Set once `close` has removed the temporary folder: nothing may use it again. */
  private released = false;
  private lastWarning = Number.NEGATIVE_INFINITY;
  private suppressedWarnings = 0;

  constructor(private readonly options: PredictionLogOptions) {
    this.policies = new Map(options.environments.map((e) => [e.name, e.predictionLog]));
    this.maxRows = options.maxBufferRows ?? DEFAULT_MAX_ROWS;
    this.maxBytes = options.maxBufferBytes ?? DEFAULT_MAX_BYTES;
  }

  /** Starts the periodic writes and retention sweeps (timers that do not keep the process alive). */
  start(): void {
    if (this.flushTimer || this.closed) return;
    this.flushTimer = setInterval(() => {
      if (this.writing === null && this.buffer.length > 0) this.startWrite();
    }, this.options.flushIntervalMs ?? DEFAULT_FLUSH_MS);
    this.flushTimer.unref();
    this.sweepTimer = setInterval(
      () => this.sweepQuietly(),
      this.options.sweepIntervalMs ?? DEFAULT_SWEEP_MS,
    );
    this.sweepTimer.unref();
    this.sweepQuietly();
  }

  record(record: PredictionRecord): void {
    try {
      const rate = (this.policies.get(record.environment) ?? DEFAULT_PREDICTION_LOG).sampleRate;
      // The whole cost of a prediction that is not sampled: one lookup and one draw.
      if (rate <= 0 || Math.random() >= rate) return;
      this.take(record);
    } catch (error) {
      this.warn(error, 'the prediction log could not take a prediction');
    }
  }

  /** Writes what is buffered now, after any write already running; resolves once it is in the store. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.buffer.length === 0) return;
    this.startWrite();
    await this.writing;
  }

  /** Rows written and dropped per environment and model since start. */
  stats(): PredictionLogCount[] {
    return [...this.counts.values()]
      .map((count) => ({ ...count }))
      .sort((a, b) => a.environment.localeCompare(b.environment) || a.model.localeCompare(b.model));
  }

  /**
   * Removes the hour partitions that ended more than their environment's `retention_days` ago (whole
   * date folders when the whole day has), and returns how many folders it removed.
   */
  async sweep(now = Date.now()): Promise<number> {
    const { artifacts } = this.options;
    let removed = 0;
    for (const environment of await artifacts.list(PREDICTION_LOG_ROOT)) {
      if (!environment.isDir) continue;
      const policy = this.policies.get(environment.name) ?? DEFAULT_PREDICTION_LOG;
      const cutoff = now - policy.retentionDays * DAY_MS;
      for (const model of await artifacts.list(`${PREDICTION_LOG_ROOT}/${environment.name}`)) {
        if (!model.isDir) continue;
        const folder = modelFolder(environment.name, model.name);
        for (const date of await artifacts.list(folder)) {
          const start = date.isDir ? dateFolderStart(date.name) : null;
          if (start === null || start >= cutoff) continue;
          if (start + DAY_MS <= cutoff) {
            await artifacts.remove(`${folder}/${date.name}`);
            removed += 1;
            continue;
          }
          for (const hour of await artifacts.list(`${folder}/${date.name}`)) {
            const number = hour.isDir ? hourFolderHour(hour.name) : null;
            if (number === null || start + (number + 1) * HOUR_MS > cutoff) continue;
            await artifacts.remove(`${folder}/${date.name}/${hour.name}`);
            removed += 1;
          }
        }
      }
    }
    return removed;
  }

  /**
   * The rows of a model's log in one environment with `from <= time < to` (and one version, if
   * given): the newest first, then by request id and row, at most `limit`. Only the hour partitions
   * that overlap the window are read, newest first, one at a time (downloaded to the temporary folder
   * and read there), so memory holds the answer and little else.
   */
  async read(query: PredictionLogQuery): Promise<PredictionLogRow[]> {
    const { from, to, version } = query;
    const limit = query.limit ?? MAX_READ_ROWS;
    checkQuery(query, limit);
    const { artifacts } = this.options;
    const folder = modelFolder(query.environment, query.model);
    const rows: PredictionLogRow[] = [];
    const dates = (await artifacts.list(folder))
      .flatMap((entry) => {
        const start = entry.isDir ? dateFolderStart(entry.name) : null;
        return start !== null && start < to.getTime() && start + DAY_MS > from.getTime()
          ? [{ name: entry.name, start }]
          : [];
      })
      .sort((a, b) => b.start - a.start);
    for (const date of dates) {
      const hours = (await artifacts.list(`${folder}/${date.name}`))
        .flatMap((entry) => {
          const hour = entry.isDir ? hourFolderHour(entry.name) : null;
          const start = hour === null ? Number.NaN : date.start + hour * HOUR_MS;
          return start < to.getTime() && start + HOUR_MS > from.getTime()
            ? [{ name: entry.name, start }]
            : [];
        })
        .sort((a, b) => b.start - a.start);
      for (const hour of hours) {
        const partition = `${folder}/${date.name}/${hour.name}`;
        rows.push(...(await this.readPartition(partition, { from, to, version }, limit - rows.length)));
        if (rows.length >= limit) return rows;
      }
    }
    return rows;
  }

  /** Writes what is buffered and stops; later predictions are dropped (and counted). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.flushTimer);
    clearInterval(this.sweepTimer);
    clearImmediate(this.converting);
    await this.flush();
    await this.sweeping;
    const temp = this.temp;
    this.released = true;
    this.temp = null;
    if (temp) {
      const { folder, parquet } = await temp.catch(() => ({ folder: null, parquet: null }));
      await parquet?.close();
      if (folder) await rm(folder, { recursive: true, force: true });
    }
  }

  /** Buffers a sampled prediction, or drops it when the buffer is full and a write is running. */
  private take(record: PredictionRecord): void {
    const rows = rowCountOf(record.inputs);
    if (rows === 0) return;
    if (this.closed) {
      this.count(record.environment, record.model, 'dropped', rows);
      return;
    }
    const bytes = estimateBytes(record.inputs, record.outputs, rows);
    const fits = () =>
      this.bufferedRows + rows <= this.maxRows && this.bufferedBytes + bytes <= this.maxBytes;
    if (!fits() && this.writing === null && this.buffer.length > 0) this.startWrite();
    if (!fits()) {
      this.count(record.environment, record.model, 'dropped', rows);
      return;
    }
    this.buffer.push({
      time: Number.isNaN(record.time.getTime()) ? new Date() : record.time,
      requestId: record.requestId ?? null,
      environment: record.environment,
      model: record.model,
      version: record.version,
      revision: record.revision,
      rows,
      bytes,
      tensors: { inputs: record.inputs, outputs: record.outputs },
      inputs: [],
      outputs: [],
    });
    this.bufferedRows += rows;
    this.bufferedBytes += bytes;
    this.converting ??= setImmediate(() => this.convertSome());
  }

  /** Converts buffered predictions for a few milliseconds, then lets requests run and comes back. */
  private convertSome(): void {
    this.converting = undefined;
    const until = performance.now() + SLICE_MS;
    while (this.convertedUpTo < this.buffer.length && performance.now() < until) {
      convert(this.buffer[this.convertedUpTo] as Entry);
      this.convertedUpTo += 1;
    }
    if (this.convertedUpTo < this.buffer.length) this.converting = setImmediate(() => this.convertSome());
  }

  /** Hands the whole buffer to a write and starts an empty one. */
  private startWrite(): void {
    const batch = this.buffer;
    this.buffer = [];
    this.bufferedRows = 0;
    this.bufferedBytes = 0;
    this.convertedUpTo = 0;
    const writing = this.write(batch).finally(() => {
      if (this.writing === writing) this.writing = null;
    });
    this.writing = writing;
  }

  /** Writes one file per environment, model and hour of a batch; never rejects. */
  private async write(batch: readonly Entry[]): Promise<void> {
    // The request whose prediction filled the buffer gets its answer first.
    await new Promise((resolve) => setImmediate(resolve));
    let sliceStart = performance.now();
    const partitions = new Map<string, Entry[]>();
    for (const entry of batch) {
      convert(entry);
      if (entry.inputs.length !== entry.rows || entry.outputs.length !== entry.rows) {
        this.count(entry.environment, entry.model, 'dropped', entry.rows);
        continue;
      }
      const { date, hour } = partitionOf(entry.time);
      const folder = partitionFolder(entry.environment, entry.model, date, hour);
      const entries = partitions.get(folder);
      if (entries) entries.push(entry);
      else partitions.set(folder, [entry]);
      if (performance.now() - sliceStart > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
    for (const [folder, entries] of partitions) {
      const first = entries[0] as Entry;
      const rows = entries.reduce((sum, entry) => sum + entry.rows, 0);
      try {
        await this.writeFile(folder, entries);
        this.count(first.environment, first.model, 'written', rows);
      } catch (error) {
        this.count(first.environment, first.model, 'dropped', rows);
        this.warn(error, 'the prediction log could not write a file; its rows are dropped');
      }
    }
  }

  /** One Parquet file for one partition: written aside, then staged and committed under a new key. */
  private async writeFile(folder: string, entries: readonly Entry[]): Promise<void> {
    const { folder: temp, parquet } = await this.tempFolder();
    const name = `part-${Date.now()}-${randomUUID().slice(0, 13)}.parquet`;
    const file = join(temp, name);
    try {
      await parquet.write(file, entries);
      const { artifacts } = this.options;
      const staged = await artifacts.stage(createReadStream(file), { maxBytes: MAX_FILE_BYTES });
      try {
        await artifacts.commit(staged, `${folder}/${name}`);
      } catch (error) {
        await artifacts.discard(staged).catch(() => undefined);
        throw error;
      }
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Downloads a partition's files and reads the rows of the window from them. */
  private async readPartition(
    partition: string,
    filter: { from: Date; to: Date; version?: number | undefined },
    limit: number,
  ): Promise<PredictionLogRow[]> {
    const { artifacts } = this.options;
    const { folder: temp, parquet } = await this.tempFolder();
    const files: string[] = [];
    try {
      for (const entry of await artifacts.list(partition)) {
        if (entry.isDir || !entry.name.endsWith('.parquet')) continue;
        const opened = await artifacts.openRead(`${partition}/${entry.name}`).catch((error: unknown) => {
          // Removed by a retention sweep since the listing: it has nothing left to give.
          if (isSlipwayError(error) && error.code === 'FAILED_PRECONDITION') return null;
          throw error;
        });
        if (!opened) continue;
        const file = join(temp, `read-${randomUUID()}.parquet`);
        files.push(file);
        await pipeline(opened.stream, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
      }
      return await parquet.read(files, filter, limit);
    } finally {
      await Promise.all(files.map((file) => rm(file, { force: true })));
    }
  }

  /** The private temporary folder, and the DuckDB that may use it, made on first use. */
  private tempFolder(): Promise<{ folder: string; parquet: PredictionLogParquet }> {
    if (this.released) {
      return Promise.reject(new SlipwayError('UNAVAILABLE', 'The prediction log is closed.'));
    }
    this.temp ??= mkdtemp(join(this.options.tempDir ?? tmpdir(), 'slipway-prediction-log-')).then(
      (folder) => ({ folder, parquet: new PredictionLogParquet(folder) }),
      (error: unknown) => {
        this.temp = null;
        throw error;
      },
    );
    return this.temp;
  }

  private sweepQuietly(): void {
    if (this.sweeping) return;
    this.sweeping = this.sweep()
      .then((removed) => {
        if (removed > 0)
          this.options.logger.info({ removed }, 'prediction log partitions past retention removed');
      })
      .catch((error: unknown) => this.warn(error, 'the prediction log could not sweep old partitions'))
      .finally(() => {
        this.sweeping = null;
      });
  }

  private count(environment: string, model: string, result: PredictionLogResult, rows: number): void {
    const key = `${environment}/${model}`;
    let count = this.counts.get(key);
    if (!count) {
      count = { environment, model, written: 0, dropped: 0 };
      this.counts.set(key, count);
    }
    count[result] += rows;
    try {
      this.options.onCount?.(environment, model, result, rows);
    } catch (error) {
      this.warn(error, 'a prediction log counter failed');
    }
  }

  /** Logs a warning, at most one a minute, saying how many were held back since the last. */
  private warn(error: unknown, message: string): void {
    const now = Date.now();
    if (now - this.lastWarning < WARN_INTERVAL_MS) {
      this.suppressedWarnings += 1;
      return;
    }
    this.options.logger.warn({ err: error, suppressed: this.suppressedWarnings }, message);
    this.lastWarning = now;
    this.suppressedWarnings = 0;
  }
}

/** Turns an entry's tensors into its rows' JSON once; a failure leaves it without rows (dropped). */
function convert(entry: Entry): void {
  const tensors = entry.tensors;
  if (!tensors) return;
  entry.tensors = null;
  try {
    entry.inputs = rowsJson(tensors.inputs, entry.rows);
    entry.outputs = rowsJson(tensors.outputs, entry.rows);
  } catch {
    entry.inputs = [];
    entry.outputs = [];
  }
}

function checkQuery(query: PredictionLogQuery, limit: number): void {
  const invalid = (field: string, message: string) => {
    throw new SlipwayError('INVALID_ARGUMENT', `${field}: ${message}.`, { field });
  };
  // Both name folders of the key: nothing else may reach the store.
  assertModelName(query.model, 'model');
  if (!ENVIRONMENT_NAME.test(query.environment)) invalid('environment', 'expected an environment name');
  for (const field of ['from', 'to'] as const) {
    const value = query[field];
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) invalid(field, 'expected a valid time');
  }
  if (query.from.getTime() >= query.to.getTime()) invalid('to', 'expected a time after `from`');
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_READ_ROWS) {
    invalid('limit', `expected an integer from 1 to ${MAX_READ_ROWS}`);
  }
  if (query.version !== undefined && (!Number.isInteger(query.version) || query.version < 1)) {
    invalid('version', 'expected a version number (a positive integer)');
  }
}
