import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { echo, SlipwayError } from '../../errors/index.js';
import { forWrite, lockAppends, writeTransaction } from '../../storage/sql-support.js';
import type {
  Experiment,
  KeyValue,
  LifecycleStage,
  LoggedModel,
  LoggedModelStatus,
  Metric,
  NewLoggedModel,
  NewRun,
  Run,
  RunBatch,
  RunInfo,
  RunStatus,
  RunUpdate,
  TrackingStore,
  VersionRecord,
} from '../tracking-store.js';
import type { MlflowTables } from './schema.js';

type Db = Kysely<MlflowTables>;
type Executor = Db | Transaction<MlflowTables>;
type RunRow = Selectable<MlflowTables['mlflow_runs']>;
type MetricRow = Pick<
  Selectable<MlflowTables['mlflow_metrics']>,
  'key' | 'value' | 'is_nan' | 'timestamp' | 'step'
> &
  Partial<Pick<Selectable<MlflowTables['mlflow_metrics']>, 'model_id' | 'dataset_name' | 'dataset_digest'>>;

/** SQLite allows 32766 bound values per statement; rows are inserted in chunks well below that. */
const ROWS_PER_INSERT = 500;
/** At most this many batches share one transaction. */
const MAX_GROUP = 256;

/** `TrackingStore` on Kysely, in the registry's database (same handle, same migrations). */
export class SqlTrackingStore implements TrackingStore {
  constructor(
    private readonly db: Db,
    private readonly immediate: boolean,
  ) {}

  async createExperiment(
    name: string,
    tags: readonly KeyValue[],
    artifactLocation?: string,
  ): Promise<Experiment> {
    const id = await this.write(async (trx) => {
      // Experiments are numbered max + 1, and their names checked, one transaction at a time.
      await lockAppends(trx, 'mlflow_experiments');
      const existing = await trx
        .selectFrom('mlflow_experiments')
        .select('experiment_id')
        .where('name', '=', name)
        .executeTakeFirst();
      if (existing) {
        throw new SlipwayError('ALREADY_EXISTS', `Experiment(name=${name}) already exists.`, { name });
      }
      const last = await trx
        .selectFrom('mlflow_experiments')
        .select((eb) => eb.fn.max('experiment_id').as('id'))
        .executeTakeFirst();
      const next = Number(last?.id ?? 0) + 1;
      const now = Date.now();
      await trx
        .insertInto('mlflow_experiments')
        .values({
          experiment_id: next,
          name,
          artifact_location: artifactLocation ?? `mlflow-artifacts:/${next}`,
          lifecycle_stage: 'active',
          creation_time: now,
          last_update_time: now,
        })
        .execute();
      for (const tag of dedupe(tags)) {
        await trx
          .insertInto('mlflow_experiment_tags')
          .values({ experiment_id: next, key: tag.key, value: tag.value })
          .execute();
      }
      return next;
    });
    return this.getExperiment(String(id));
  }

  async getExperiment(experimentId: string): Promise<Experiment> {
    const id = experimentNumber(experimentId);
    const row = await this.db
      .selectFrom('mlflow_experiments')
      .selectAll()
      .where('experiment_id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound(`No Experiment with id=${experimentId} exists`, { experiment_id: experimentId });
    const tags = await this.db
      .selectFrom('mlflow_experiment_tags')
      .select(['key', 'value'])
      .where('experiment_id', '=', id)
      .orderBy('key')
      .execute();
    return toExperiment(row, tags);
  }

  async findExperiment(name: string): Promise<Experiment | null> {
    const row = await this.db
      .selectFrom('mlflow_experiments')
      .select('experiment_id')
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? this.getExperiment(String(row.experiment_id)) : null;
  }

  async listExperiments(): Promise<Experiment[]> {
    const rows = await this.db.selectFrom('mlflow_experiments').selectAll().execute();
    const tags = await this.db.selectFrom('mlflow_experiment_tags').selectAll().orderBy('key').execute();
    return rows.map((row) =>
      toExperiment(
        row,
        tags.filter((t) => t.experiment_id === row.experiment_id),
      ),
    );
  }

  async updateExperiment(
    experimentId: string,
    change: { name?: string; lifecycleStage?: LifecycleStage },
  ): Promise<void> {
    const id = experimentNumber(experimentId);
    await this.write(async (trx) => {
      // A new name is checked for clashes with no other change of the table in between.
      await lockAppends(trx, 'mlflow_experiments');
      await this.requireExperiment(trx, experimentId);
      if (change.name !== undefined) {
        const clash = await trx
          .selectFrom('mlflow_experiments')
          .select('experiment_id')
          .where('name', '=', change.name)
          .where('experiment_id', '!=', id)
          .executeTakeFirst();
        if (clash) {
          throw new SlipwayError('ALREADY_EXISTS', `Experiment(name=${change.name}) already exists.`, {
            name: change.name,
          });
        }
      }
      await trx
        .updateTable('mlflow_experiments')
        .set({
          ...(change.name !== undefined ? { name: change.name } : {}),
          ...(change.lifecycleStage !== undefined ? { lifecycle_stage: change.lifecycleStage } : {}),
          last_update_time: Date.now(),
        })
        .where('experiment_id', '=', id)
        .execute();
    });
  }

  async setExperimentTag(experimentId: string, key: string, value: string | null): Promise<void> {
    const id = experimentNumber(experimentId);
    await this.write(async (trx) => {
      await this.requireExperiment(trx, experimentId);
      if (value === null) {
        const removed = await trx
          .deleteFrom('mlflow_experiment_tags')
          .where('experiment_id', '=', id)
          .where('key', '=', key)
          .executeTakeFirst();
        if (Number(removed.numDeletedRows) === 0) {
          throw notFound(`No tag with name: ${key} in experiment ${experimentId}.`, { tag: key });
        }
        return;
      }
      await trx
        .insertInto('mlflow_experiment_tags')
        .values({ experiment_id: id, key, value })
        .onConflict((oc) => oc.columns(['experiment_id', 'key']).doUpdateSet({ value }))
        .execute();
    });
  }

  async createRun(run: NewRun): Promise<Run> {
    await this.write(async (trx) => {
      const experiment = await this.requireExperiment(trx, run.experimentId);
      if (experiment.lifecycle_stage !== 'active') {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          `The experiment ${run.experimentId} must be in the 'active' state to create a run in it.`,
        );
      }
      await trx
        .insertInto('mlflow_runs')
        .values({
          run_id: run.runId,
          experiment_id: experimentNumber(run.experimentId),
          name: run.runName,
          user_id: run.userId,
          status: 'RUNNING',
          start_time: run.startTime,
          end_time: null,
          lifecycle_stage: 'active',
          artifact_uri: run.artifactUri,
        })
        .execute();
      await insertChunked(
        trx,
        'mlflow_tags',
        dedupe(run.tags).map((t) => ({ run_id: run.runId, key: t.key, value: t.value })),
      );
    });
    return this.getRun(run.runId);
  }

  async getRun(runId: string): Promise<Run> {
    const row = await this.db
      .selectFrom('mlflow_runs')
      .selectAll()
      .where('run_id', '=', runId)
      .executeTakeFirst();
    if (!row) throw runNotFound(runId);
    const [run] = await this.withData([row]);
    return run!;
  }

  async listRuns(experimentIds: readonly string[]): Promise<Run[]> {
    if (experimentIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('mlflow_runs')
      .selectAll()
      .where('experiment_id', 'in', experimentIds.map(experimentNumber))
      .execute();
    return this.withData(rows);
  }

  async updateRun(runId: string, update: RunUpdate): Promise<RunInfo> {
    await this.write(async (trx) => {
      await this.requireActiveRun(trx, runId);
      await trx
        .updateTable('mlflow_runs')
        .set({
          ...(update.status !== undefined ? { status: update.status } : {}),
          ...(update.endTime !== undefined ? { end_time: update.endTime } : {}),
          ...(update.runName !== undefined ? { name: update.runName } : {}),
        })
        .where('run_id', '=', runId)
        .execute();
      if (update.runName !== undefined) {
        await upsertTag(trx, runId, 'mlflow.runName', update.runName);
      }
    });
    return (await this.getRun(runId)).info;
  }

  async setRunLifecycle(runId: string, stage: LifecycleStage): Promise<void> {
    await this.write(async (trx) => {
      const result = await trx
        .updateTable('mlflow_runs')
        .set({ lifecycle_stage: stage })
        .where('run_id', '=', runId)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) throw runNotFound(runId);
    });
  }

  /**
   * Batches of concurrent requests are written together, each in a savepoint of one transaction
   * (group commit): training loops send many small writes, and one commit (one fsync) for all of
   * those waiting costs what one costs alone. Each caller still hears only about its own batch,
   * and only once it is durable.
   */
  logBatch(runId: string, batch: RunBatch): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ runId, batch, resolve, reject });
      void this.flush();
    });
  }

  private readonly pending: {
    runId: string;
    batch: RunBatch;
    resolve: () => void;
    reject: (error: unknown) => void;
  }[] = [];
  private flushing = false;

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        // SQLite work here is synchronous: without a turn of the event loop, requests that arrive
        // while a group commits would only be read after the queue is empty, one group each.
        await new Promise((resolve) => setImmediate(resolve));
        const jobs = this.pending.splice(0, MAX_GROUP);
        let outcomes: unknown[];
        try {
          outcomes = await this.write((trx) => this.applyGroup(trx, jobs));
        } catch (error) {
          outcomes = jobs.map(() => error);
        }
        for (const [i, job] of jobs.entries()) {
          if (outcomes[i] === undefined) job.resolve();
          else job.reject(outcomes[i]);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Applies a group of batches in one transaction; returns each batch's error (undefined: written).
   * Batches of metrics alone (the hot path of a training loop) cannot fail once their run is known
   * to be active, so they are written together in a few statements; a batch with params or tags
   * (which may conflict) gets a savepoint of its own, so its failure undoes it alone.
   */
  private async applyGroup(
    trx: Executor,
    jobs: readonly { runId: string; batch: RunBatch }[],
  ): Promise<unknown[]> {
    const errors: unknown[] = jobs.map(() => undefined);
    // The runs stay locked until commit, in one order (no deadlock between groups): their latest
    // metrics are read, then replaced.
    const runs = await forWrite(
      trx,
      trx
        .selectFrom('mlflow_runs')
        .select(['run_id', 'lifecycle_stage'])
        .where('run_id', 'in', [...new Set(jobs.map((job) => job.runId))])
        .orderBy('run_id'),
    ).execute();
    const stages = new Map(runs.map((run) => [run.run_id, run.lifecycle_stage]));
    const points: { runId: string; metric: Metric }[] = [];
    for (const [index, job] of jobs.entries()) {
      const stage = stages.get(job.runId);
      if (stage === undefined) errors[index] = runNotFound(job.runId);
      else if (stage !== 'active') errors[index] = inactiveRun(job.runId, stage);
      else if ((job.batch.params?.length ?? 0) === 0 && (job.batch.tags?.length ?? 0) === 0) {
        for (const metric of job.batch.metrics ?? []) points.push({ runId: job.runId, metric });
      } else {
        await sql`savepoint batch`.execute(trx);
        try {
          await this.applyBatch(trx, job.runId, job.batch);
        } catch (error) {
          await sql`rollback to batch`.execute(trx);
          errors[index] = error ?? new Error('batch failed');
        }
        await sql`release batch`.execute(trx);
      }
    }
    await this.logMetrics(trx, points);
    return errors;
  }

  private async applyBatch(trx: Executor, runId: string, batch: RunBatch): Promise<void> {
    const metrics = batch.metrics ?? [];
    const params = batch.params ?? [];
    const tags = batch.tags ?? [];
    await this.requireActiveRun(trx, runId);
    if (params.length > 0) await this.logParams(trx, runId, params);
    for (const tag of dedupe(tags)) await upsertTag(trx, runId, tag.key, tag.value);
    await this.logMetrics(
      trx,
      metrics.map((metric) => ({ runId, metric })),
    );
  }

  async deleteRunTag(runId: string, key: string): Promise<void> {
    await this.write(async (trx) => {
      await this.requireActiveRun(trx, runId);
      const result = await trx
        .deleteFrom('mlflow_tags')
        .where('run_id', '=', runId)
        .where('key', '=', key)
        .executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) {
        throw notFound(`No tag with name: ${key} in run with id ${runId}`, { tag: key });
      }
    });
  }

  async metricHistory(runId: string, key: string): Promise<Metric[]> {
    await this.getRunRow(this.db, runId);
    const rows = await this.db
      .selectFrom('mlflow_metrics')
      .select(['key', 'value', 'is_nan', 'timestamp', 'step', 'model_id', 'dataset_name', 'dataset_digest'])
      .where('run_id', '=', runId)
      .where('key', '=', key)
      .orderBy('step')
      .orderBy('timestamp')
      .execute();
    return rows.map(toMetric);
  }

  async logRunLinks(
    runId: string,
    links: readonly { direction: 'input' | 'output'; kind: 'dataset' | 'model'; payload: unknown }[],
  ): Promise<void> {
    await this.write(async (trx) => {
      await this.requireActiveRun(trx, runId);
      const existing = await trx
        .selectFrom('mlflow_run_links')
        .select(['seq', 'direction', 'kind', 'payload'])
        .where('run_id', '=', runId)
        .execute();
      let seq = existing.reduce((max, row) => Math.max(max, row.seq), 0);
      const seen = new Set(existing.map((row) => `${row.direction}\u0000${row.kind}\u0000${row.payload}`));
      for (const link of links) {
        const payload = JSON.stringify(link.payload);
        const id = `${link.direction}\u0000${link.kind}\u0000${payload}`;
        // The same input or output logged twice (a replayed request) is recorded once.
        if (seen.has(id)) continue;
        seen.add(id);
        seq += 1;
        await trx
          .insertInto('mlflow_run_links')
          .values({ run_id: runId, seq, direction: link.direction, kind: link.kind, payload })
          .execute();
      }
    });
  }

  async createLoggedModel(model: NewLoggedModel): Promise<LoggedModel> {
    await this.write(async (trx) => {
      await this.requireExperiment(trx, model.experimentId);
      await trx
        .insertInto('mlflow_logged_models')
        .values({
          model_id: model.modelId,
          experiment_id: experimentNumber(model.experimentId),
          name: model.name,
          artifact_location: model.artifactLocation,
          status: model.status,
          status_message: '',
          model_type: model.modelType,
          source_run_id: model.sourceRunId,
          creation_timestamp: model.creationTimestamp,
          last_updated_timestamp: model.creationTimestamp,
        })
        .execute();
      await insertChunked(
        trx,
        'mlflow_logged_model_params',
        dedupe(model.params).map((p) => ({ model_id: model.modelId, key: p.key, value: p.value })),
      );
      await insertChunked(
        trx,
        'mlflow_logged_model_tags',
        dedupe(model.tags).map((t) => ({ model_id: model.modelId, key: t.key, value: t.value })),
      );
    });
    return this.getLoggedModel(model.modelId);
  }

  async getLoggedModel(modelId: string): Promise<LoggedModel> {
    const [model] = await this.loggedModels(
      await this.db.selectFrom('mlflow_logged_models').selectAll().where('model_id', '=', modelId).execute(),
    );
    if (!model) throw notFound(`Logged model with ID '${modelId}' not found.`, { model_id: modelId });
    return model;
  }

  async listLoggedModels(experimentIds: readonly string[]): Promise<LoggedModel[]> {
    if (experimentIds.length === 0) return [];
    return this.loggedModels(
      await this.db
        .selectFrom('mlflow_logged_models')
        .selectAll()
        .where('experiment_id', 'in', experimentIds.map(experimentNumber))
        .execute(),
    );
  }

  async finalizeLoggedModel(modelId: string, status: LoggedModelStatus): Promise<LoggedModel> {
    await this.write(async (trx) => {
      await this.requireLoggedModel(trx, modelId);
      await trx
        .updateTable('mlflow_logged_models')
        .set({ status, last_updated_timestamp: Date.now() })
        .where('model_id', '=', modelId)
        .execute();
    });
    return this.getLoggedModel(modelId);
  }

  async setLoggedModelTags(modelId: string, tags: readonly KeyValue[]): Promise<void> {
    await this.write(async (trx) => {
      await this.requireLoggedModel(trx, modelId);
      for (const tag of dedupe(tags)) {
        await trx
          .insertInto('mlflow_logged_model_tags')
          .values({ model_id: modelId, key: tag.key, value: tag.value })
          .onConflict((oc) => oc.columns(['model_id', 'key']).doUpdateSet({ value: tag.value }))
          .execute();
      }
    });
  }

  async deleteLoggedModelTag(modelId: string, key: string): Promise<void> {
    await this.write(async (trx) => {
      await this.requireLoggedModel(trx, modelId);
      const result = await trx
        .deleteFrom('mlflow_logged_model_tags')
        .where('model_id', '=', modelId)
        .where('key', '=', key)
        .executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) {
        throw notFound(`No tag with key '${key}' on logged model '${modelId}'.`, { tag: key });
      }
    });
  }

  async logLoggedModelParams(modelId: string, params: readonly KeyValue[]): Promise<void> {
    await this.write(async (trx) => {
      await this.requireLoggedModel(trx, modelId);
      for (const param of dedupe(params)) {
        await trx
          .insertInto('mlflow_logged_model_params')
          .values({ model_id: modelId, key: param.key, value: param.value })
          .onConflict((oc) => oc.columns(['model_id', 'key']).doUpdateSet({ value: param.value }))
          .execute();
      }
    });
  }

  async recordVersion(record: VersionRecord): Promise<void> {
    await this.write((trx) =>
      trx
        .insertInto('mlflow_model_versions')
        .values({
          model_name: record.model,
          version: record.version,
          source: record.source,
          storage_location: record.storageLocation,
          model_id: record.modelId,
          run_link: record.runLink,
          stage: record.stage,
          last_updated_timestamp: record.lastUpdatedTimestamp,
        })
        .execute(),
    );
  }

  async versionRecord(model: string, version: number): Promise<VersionRecord | null> {
    const row = await this.db
      .selectFrom('mlflow_model_versions')
      .selectAll()
      .where('model_name', '=', model)
      .where('version', '=', version)
      .executeTakeFirst();
    return row ? toVersionRecord(row) : null;
  }

  async versionRecords(model: string | null): Promise<VersionRecord[]> {
    let query = this.db.selectFrom('mlflow_model_versions').selectAll();
    if (model !== null) query = query.where('model_name', '=', model);
    return (await query.execute()).map(toVersionRecord);
  }

  async setVersionStage(model: string, version: number, stage: string): Promise<void> {
    await this.write(async (trx) => {
      const now = Date.now();
      // A version pushed through Slipway's API has no MLflow record yet: it gets one.
      await trx
        .insertInto('mlflow_model_versions')
        .values({
          model_name: model,
          version,
          source: '',
          storage_location: '',
          model_id: '',
          run_link: '',
          stage,
          last_updated_timestamp: now,
        })
        .onConflict((oc) =>
          oc.columns(['model_name', 'version']).doUpdateSet({ stage, last_updated_timestamp: now }),
        )
        .execute();
    });
  }

  private async logParams(trx: Executor, runId: string, params: readonly KeyValue[]): Promise<void> {
    const wanted = new Map<string, string>();
    for (const param of params) {
      const earlier = wanted.get(param.key);
      if (earlier !== undefined && earlier !== param.value) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          `Duplicate parameter keys have been submitted: '${param.key}' with values '${earlier}' and '${param.value}'.`,
          { field: 'params' },
        );
      }
      wanted.set(param.key, param.value);
    }
    const existing = await trx
      .selectFrom('mlflow_params')
      .select(['key', 'value'])
      .where('run_id', '=', runId)
      .where('key', 'in', [...wanted.keys()])
      .execute();
    for (const row of existing) {
      const value = wanted.get(row.key)!;
      if (row.value !== value) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          `Changing param values is not allowed. Param with key='${row.key}' was already logged with value='${row.value}' for run ID='${runId}'. Attempted logging new value '${value}'.`,
          { field: 'params', key: row.key },
        );
      }
      wanted.delete(row.key);
    }
    await insertChunked(
      trx,
      'mlflow_params',
      [...wanted].map(([key, value]) => ({ run_id: runId, key, value })),
    );
  }

  /** Writes points of one or many runs: one statement per 500 points, whatever the runs. */
  private async logMetrics(
    trx: Executor,
    points: readonly { runId: string; metric: Metric }[],
  ): Promise<void> {
    if (points.length === 0) return;
    const all = points.map(({ runId, metric: m }) => ({
      run_id: runId,
      key: m.key,
      value: Number.isNaN(m.value) ? 0 : m.value,
      is_nan: Number.isNaN(m.value) ? 1 : 0,
      timestamp: m.timestamp,
      step: m.step,
      model_id: m.modelId ?? '',
      dataset_name: m.datasetName ?? '',
      dataset_digest: m.datasetDigest ?? '',
    }));
    // One row per point: PostgreSQL refuses a statement that updates one row twice. A point sent
    // twice keeps the last model and dataset given, as when it is sent in two statements.
    const byPoint = new Map<string, (typeof all)[number]>();
    for (const row of all) {
      const id = [row.run_id, row.key, row.step, row.timestamp, row.value, row.is_nan].join('\u0000');
      const earlier = byPoint.get(id);
      byPoint.set(
        id,
        earlier
          ? {
              ...row,
              model_id: row.model_id || earlier.model_id,
              dataset_name: row.dataset_name || earlier.dataset_name,
              dataset_digest: row.dataset_digest || earlier.dataset_digest,
            }
          : row,
      );
    }
    const rows = [...byPoint.values()];
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      await trx
        .insertInto('mlflow_metrics')
        .values(rows.slice(i, i + ROWS_PER_INSERT))
        .onConflict((oc) =>
          oc.columns(['run_id', 'key', 'step', 'timestamp', 'value', 'is_nan']).doUpdateSet((eb) => ({
            // A point sent again with a model or dataset gains the link; one sent without keeps it.
            model_id: sql<string>`case when ${eb.ref('excluded.model_id')} != '' then ${eb.ref('excluded.model_id')} else ${eb.ref('mlflow_metrics.model_id')} end`,
            dataset_name: sql<string>`case when ${eb.ref('excluded.dataset_name')} != '' then ${eb.ref('excluded.dataset_name')} else ${eb.ref('mlflow_metrics.dataset_name')} end`,
            dataset_digest: sql<string>`case when ${eb.ref('excluded.dataset_digest')} != '' then ${eb.ref('excluded.dataset_digest')} else ${eb.ref('mlflow_metrics.dataset_digest')} end`,
          })),
        )
        .execute();
    }
    // The latest point per run and key, by (step, timestamp, value) as MLflow orders them.
    const latest = new Map<string, (typeof rows)[number]>();
    for (const row of rows) {
      const id = `${row.run_id}\u0000${row.key}`;
      const current = latest.get(id);
      if (!current || later(row, current)) latest.set(id, row);
    }
    const runIds = [...new Set(rows.map((r) => r.run_id))];
    const keys = [...new Set(rows.map((r) => r.key))];
    const stored = await trx
      .selectFrom('mlflow_latest_metrics')
      .selectAll()
      .where('run_id', 'in', runIds)
      .where('key', 'in', keys)
      .execute();
    for (const row of stored) {
      const id = `${row.run_id}\u0000${row.key}`;
      const candidate = latest.get(id);
      if (candidate && !later(candidate, row)) latest.delete(id);
    }
    const updates = [...latest.values()].map((row) => ({
      run_id: row.run_id,
      key: row.key,
      value: row.value,
      is_nan: row.is_nan,
      timestamp: row.timestamp,
      step: row.step,
    }));
    for (let i = 0; i < updates.length; i += ROWS_PER_INSERT) {
      await trx
        .insertInto('mlflow_latest_metrics')
        .values(updates.slice(i, i + ROWS_PER_INSERT))
        .onConflict((oc) =>
          oc.columns(['run_id', 'key']).doUpdateSet((eb) => ({
            value: eb.ref('excluded.value'),
            is_nan: eb.ref('excluded.is_nan'),
            timestamp: eb.ref('excluded.timestamp'),
            step: eb.ref('excluded.step'),
          })),
        )
        .execute();
    }
  }

  private async withData(rows: RunRow[]): Promise<Run[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.run_id);
    const byRun = <T extends { run_id: string }>(items: T[]) => {
      const map = new Map<string, T[]>();
      for (const item of items) {
        const list = map.get(item.run_id) ?? [];
        list.push(item);
        map.set(item.run_id, list);
      }
      return map;
    };
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += ROWS_PER_INSERT) chunks.push(ids.slice(i, i + ROWS_PER_INSERT));
    const params: Selectable<MlflowTables['mlflow_params']>[] = [];
    const tags: Selectable<MlflowTables['mlflow_tags']>[] = [];
    const metrics: Selectable<MlflowTables['mlflow_latest_metrics']>[] = [];
    const links: Selectable<MlflowTables['mlflow_run_links']>[] = [];
    for (const chunk of chunks) {
      params.push(
        ...(await this.db
          .selectFrom('mlflow_params')
          .selectAll()
          .where('run_id', 'in', chunk)
          .orderBy('key')
          .execute()),
      );
      tags.push(
        ...(await this.db
          .selectFrom('mlflow_tags')
          .selectAll()
          .where('run_id', 'in', chunk)
          .orderBy('key')
          .execute()),
      );
      metrics.push(
        ...(await this.db
          .selectFrom('mlflow_latest_metrics')
          .selectAll()
          .where('run_id', 'in', chunk)
          .orderBy('key')
          .execute()),
      );
      links.push(
        ...(await this.db
          .selectFrom('mlflow_run_links')
          .selectAll()
          .where('run_id', 'in', chunk)
          .orderBy('seq')
          .execute()),
      );
    }
    const paramsOf = byRun(params);
    const tagsOf = byRun(tags);
    const metricsOf = byRun(metrics);
    const linksOf = byRun(links);
    return rows.map((row) => {
      const runLinks = linksOf.get(row.run_id) ?? [];
      const payloads = (direction: string, kind: string) =>
        runLinks
          .filter((l) => l.direction === direction && l.kind === kind)
          .map((l) => JSON.parse(l.payload));
      return {
        info: toRunInfo(row),
        params: (paramsOf.get(row.run_id) ?? []).map(({ key, value }) => ({ key, value })),
        tags: (tagsOf.get(row.run_id) ?? []).map(({ key, value }) => ({ key, value })),
        metrics: (metricsOf.get(row.run_id) ?? []).map(toMetric),
        datasetInputs: payloads('input', 'dataset'),
        modelInputs: payloads('input', 'model') as { modelId: string }[],
        modelOutputs: payloads('output', 'model') as { modelId: string; step: number }[],
      };
    });
  }

  private async loggedModels(
    rows: Selectable<MlflowTables['mlflow_logged_models']>[],
  ): Promise<LoggedModel[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.model_id);
    const params = await this.db
      .selectFrom('mlflow_logged_model_params')
      .selectAll()
      .where('model_id', 'in', ids)
      .orderBy('key')
      .execute();
    const tags = await this.db
      .selectFrom('mlflow_logged_model_tags')
      .selectAll()
      .where('model_id', 'in', ids)
      .orderBy('key')
      .execute();
    const metrics = await this.db
      .selectFrom('mlflow_metrics')
      .select(['key', 'value', 'is_nan', 'timestamp', 'step', 'model_id', 'dataset_name', 'dataset_digest'])
      .where('model_id', 'in', ids)
      .orderBy('key')
      .orderBy('step')
      .execute();
    return rows.map((row) => ({
      modelId: row.model_id,
      experimentId: String(row.experiment_id),
      name: row.name,
      artifactLocation: row.artifact_location,
      status: row.status as LoggedModelStatus,
      statusMessage: row.status_message,
      modelType: row.model_type,
      sourceRunId: row.source_run_id,
      creationTimestamp: Number(row.creation_timestamp),
      lastUpdatedTimestamp: Number(row.last_updated_timestamp),
      params: params.filter((p) => p.model_id === row.model_id).map(({ key, value }) => ({ key, value })),
      tags: tags.filter((t) => t.model_id === row.model_id).map(({ key, value }) => ({ key, value })),
      metrics: metrics.filter((m) => m.model_id === row.model_id).map(toMetric),
    }));
  }

  private async requireExperiment(db: Executor, experimentId: string) {
    const row = await db
      .selectFrom('mlflow_experiments')
      .selectAll()
      .where('experiment_id', '=', experimentNumber(experimentId))
      .executeTakeFirst();
    if (!row) throw notFound(`No Experiment with id=${experimentId} exists`, { experiment_id: experimentId });
    return row;
  }

  private async getRunRow(db: Executor, runId: string): Promise<RunRow> {
    const row = await db.selectFrom('mlflow_runs').selectAll().where('run_id', '=', runId).executeTakeFirst();
    if (!row) throw runNotFound(runId);
    return row;
  }

  /** Writes go only to active runs, as in MLflow (a FINISHED run is still active). */
  private async requireActiveRun(db: Executor, runId: string): Promise<RunRow> {
    // Only writes ask: the run's row stays locked until they commit (see `forWrite`).
    const row = await forWrite(
      db,
      db.selectFrom('mlflow_runs').selectAll().where('run_id', '=', runId),
    ).executeTakeFirst();
    if (!row) throw runNotFound(runId);
    if (row.lifecycle_stage !== 'active') throw inactiveRun(runId, row.lifecycle_stage);
    return row;
  }

  private async requireLoggedModel(db: Executor, modelId: string): Promise<void> {
    const row = await db
      .selectFrom('mlflow_logged_models')
      .select('model_id')
      .where('model_id', '=', modelId)
      .executeTakeFirst();
    if (!row) throw notFound(`Logged model with ID '${modelId}' not found.`, { model_id: modelId });
  }

  private write<T>(work: (trx: Transaction<MlflowTables>) => Promise<T>): Promise<T> {
    return writeTransaction(this.db, this.immediate, work);
  }
}

function experimentNumber(experimentId: string): number {
  if (!/^(0|[1-9][0-9]{0,14})$/.test(experimentId)) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `experiment_id ${echo(experimentId)} is not an experiment id: expected a decimal number such as "1".`,
      { field: 'experiment_id' },
    );
  }
  return Number(experimentId);
}

/** The last value given for each key wins, as in MLflow's batch logging of tags. */
function dedupe(items: readonly KeyValue[]): KeyValue[] {
  const map = new Map<string, string>();
  for (const item of items) map.set(item.key, item.value);
  return [...map].map(([key, value]) => ({ key, value }));
}

async function insertChunked<
  T extends 'mlflow_tags' | 'mlflow_params' | 'mlflow_logged_model_params' | 'mlflow_logged_model_tags',
>(trx: Executor, table: T, rows: MlflowTables[T][]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT);
    // The four key/value tables share one shape, which Kysely cannot see through the union.
    await trx
      .insertInto(table)
      .values(chunk as never)
      .execute();
  }
}

async function upsertTag(trx: Executor, runId: string, key: string, value: string): Promise<void> {
  await trx
    .insertInto('mlflow_tags')
    .values({ run_id: runId, key, value })
    .onConflict((oc) => oc.columns(['run_id', 'key']).doUpdateSet({ value }))
    .execute();
}

/** Whether point `a` comes after `b` in MLflow's latest-value order: step, timestamp, then value. */
function later(
  a: { step: number; timestamp: number; value: number | null; is_nan: number },
  b: { step: number; timestamp: number; value: number | null; is_nan: number },
): boolean {
  if (Number(a.step) !== Number(b.step)) return Number(a.step) > Number(b.step);
  if (Number(a.timestamp) !== Number(b.timestamp)) return Number(a.timestamp) > Number(b.timestamp);
  const av = a.is_nan ? Number.NaN : (a.value ?? Number.NaN);
  const bv = b.is_nan ? Number.NaN : (b.value ?? Number.NaN);
  if (Number.isNaN(bv)) return !Number.isNaN(av);
  return !Number.isNaN(av) && av > bv;
}

function toMetric(row: MetricRow): Metric {
  return {
    key: row.key,
    value: row.is_nan ? Number.NaN : (row.value ?? Number.NaN),
    timestamp: Number(row.timestamp),
    step: Number(row.step),
    ...(row.model_id ? { modelId: row.model_id } : {}),
    ...(row.dataset_name ? { datasetName: row.dataset_name } : {}),
    ...(row.dataset_digest ? { datasetDigest: row.dataset_digest } : {}),
  };
}

function toExperiment(row: Selectable<MlflowTables['mlflow_experiments']>, tags: KeyValue[]): Experiment {
  return {
    experimentId: String(row.experiment_id),
    name: row.name,
    artifactLocation: row.artifact_location,
    lifecycleStage: row.lifecycle_stage as LifecycleStage,
    creationTime: Number(row.creation_time),
    lastUpdateTime: Number(row.last_update_time),
    tags: tags.map(({ key, value }) => ({ key, value })),
  };
}

function toRunInfo(row: RunRow): RunInfo {
  return {
    runId: row.run_id,
    runName: row.name,
    experimentId: String(row.experiment_id),
    userId: row.user_id,
    status: row.status as RunStatus,
    startTime: Number(row.start_time),
    endTime: row.end_time === null ? null : Number(row.end_time),
    artifactUri: row.artifact_uri,
    lifecycleStage: row.lifecycle_stage as LifecycleStage,
  };
}

function toVersionRecord(row: Selectable<MlflowTables['mlflow_model_versions']>): VersionRecord {
  return {
    model: row.model_name,
    version: Number(row.version),
    source: row.source,
    storageLocation: row.storage_location,
    modelId: row.model_id,
    runLink: row.run_link,
    stage: row.stage,
    lastUpdatedTimestamp: Number(row.last_updated_timestamp),
  };
}

function notFound(message: string, details: Record<string, unknown>): SlipwayError {
  return new SlipwayError('NOT_FOUND', message, details);
}

function inactiveRun(runId: string, stage: string): SlipwayError {
  return new SlipwayError(
    'INVALID_ARGUMENT',
    `The run ${runId} must be in the 'active' state. Current state is ${stage}.`,
    { run_id: runId },
  );
}

function runNotFound(runId: string): SlipwayError {
  return notFound(`Run with id=${runId} not found`, { run_id: runId });
}
