import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Page } from '../../domain/page.js';
import { SlipwayError } from '../../errors/index.js';
import { forWrite, paging, toPage, writeTransaction } from '../../storage/sql-support.js';
import type { Job, JobRun, RunLogLine, RunStatus, RunTrigger } from '../job.js';
import type { JobStore, NewRun, RunPatch, RunQuery } from '../job-store.js';
import type { JobTables } from './schema.js';

type Db = Kysely<JobTables>;
type RunRow = Selectable<JobTables['job_runs']>;

const later = (now: string, ms: number) => new Date(Date.parse(now) + ms).toISOString();

/** `JobStore` on the registry's own database (same Kysely handle, same migrations). */
export class SqlJobStore implements JobStore {
  constructor(
    private readonly db: Db,
    private readonly immediate: boolean,
  ) {}

  putJob(job: Job, options: { readonly replace?: boolean } = {}): Promise<{ created: boolean }> {
    const row = {
      // The whole compiled job, defaults filled in, so a later change of defaults never alters it.
      spec: JSON.stringify(job),
      origin: job.origin,
      created_by: job.createdBy,
      created_at: job.createdAt,
      updated_at: job.updatedAt,
    };
    return this.write(async (trx) => {
      if (options.replace === false) {
        // The primary key decides: of two creations of one name, exactly one inserts.
        const { numInsertedOrUpdatedRows } = await trx
          .insertInto('jobs')
          .values({ name: job.name, ...row })
          .onConflict((conflict) => conflict.column('name').doNothing())
          .executeTakeFirst();
        if (numInsertedOrUpdatedRows === 0n) {
          throw new SlipwayError(
            'ALREADY_EXISTS',
            `Job "${job.name}" already exists; replace it with PUT /api/v1/jobs/${job.name} (slipway jobs create --replace).`,
            { job: job.name },
          );
        }
        return { created: true };
      }
      const { numInsertedOrUpdatedRows } = await trx
        .insertInto('jobs')
        .values({ name: job.name, ...row })
        .onConflict((conflict) => conflict.column('name').doNothing())
        .executeTakeFirst();
      const created = numInsertedOrUpdatedRows !== 0n;
      if (!created) await trx.updateTable('jobs').set(row).where('name', '=', job.name).execute();
      return { created };
    });
  }

  async getJob(name: string): Promise<Job> {
    const job = await this.findJob(name);
    if (!job) throw new SlipwayError('NOT_FOUND', `Job "${name}" does not exist.`, { job: name });
    return job;
  }

  async findJob(name: string): Promise<Job | null> {
    const row = await this.db.selectFrom('jobs').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? toJob(row) : null;
  }

  async listJobs(): Promise<Job[]> {
    const rows = await this.db.selectFrom('jobs').selectAll().orderBy('name').execute();
    return rows.map(toJob);
  }

  deleteJob(name: string): Promise<void> {
    return this.write(async (trx) => {
      await this.lockJob(trx, name);
      const running = await trx
        .selectFrom('job_runs')
        .select('id')
        .where('job_name', '=', name)
        .where('status', '=', 'running')
        .executeTakeFirst();
      if (running) {
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `Job "${name}" has a run in progress (${running.id}); cancel it first.`,
          { job: name, run: running.id },
        );
      }
      const runs = trx.selectFrom('job_runs').select('id').where('job_name', '=', name);
      await trx.deleteFrom('job_run_logs').where('run_id', 'in', runs).execute();
      await trx.deleteFrom('job_runs').where('job_name', '=', name).execute();
      await trx.deleteFrom('job_leases').where('job_name', '=', name).execute();
      const deleted = await trx.deleteFrom('jobs').where('name', '=', name).executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 0)
        throw new SlipwayError('NOT_FOUND', `Job "${name}" does not exist.`, { job: name });
    });
  }

  createRun(run: NewRun): Promise<JobRun | null> {
    return this.write(async (trx) => {
      // Runs of a job are numbered, and its schedule times taken, one transaction at a time.
      await this.lockJob(trx, run.job);
      if (run.scheduledFor !== null) {
        const taken = await trx
          .selectFrom('job_runs')
          .select('id')
          .where('job_name', '=', run.job)
          .where('scheduled_for', '=', run.scheduledFor)
          .executeTakeFirst();
        if (taken) return null;
      }
      const last = await trx
        .selectFrom('job_runs')
        .select(({ fn }) => fn.max('seq').as('seq'))
        .where('job_name', '=', run.job)
        .executeTakeFirst();
      const row: RunRow = {
        id: randomUUID(),
        job_name: run.job,
        seq: Number(last?.seq ?? 0) + 1,
        logical_date: run.logicalDate,
        status: 'queued',
        trigger: run.trigger,
        attempt: run.attempt,
        scheduled_for: run.scheduledFor,
        not_before: run.notBefore,
        model_name: null,
        model_version: null,
        rows_read: 0,
        rows_written: 0,
        rows_failed: 0,
        rows_expected: null,
        started_at: null,
        finished_at: null,
        error: null,
        actor: run.actor,
        holder: null,
        cancel_requested: 0,
        created_at: new Date().toISOString(),
      };
      await trx.insertInto('job_runs').values(row).execute();
      return toRun(row);
    });
  }

  async getRun(job: string, id: string): Promise<JobRun> {
    // A run is named by its id, or by its number within the job (`#12` in listings).
    const byNumber = /^[0-9]{1,9}$/.test(id);
    const row = await this.db
      .selectFrom('job_runs')
      .selectAll()
      .where('job_name', '=', job)
      .where(byNumber ? 'seq' : 'id', '=', byNumber ? Number(id) : id)
      .executeTakeFirst();
    if (!row) throw new SlipwayError('NOT_FOUND', `Job "${job}" has no run "${id}".`, { job, run: id });
    return toRun(row);
  }

  async listRuns(job: string, query: RunQuery = {}): Promise<Page<JobRun>> {
    const { limit, offset } = paging(query);
    let select = this.db.selectFrom('job_runs').selectAll().where('job_name', '=', job);
    if (query.status) select = select.where('status', '=', query.status);
    const rows = await select
      .orderBy('seq', 'desc')
      .limit(limit + 1)
      .offset(offset)
      .execute();
    return toPage(rows.map(toRun), limit, offset);
  }

  async activeRuns(job: string): Promise<JobRun[]> {
    const rows = await this.db
      .selectFrom('job_runs')
      .selectAll()
      .where('job_name', '=', job)
      .where('status', 'in', ['queued', 'running'])
      .orderBy('seq')
      .execute();
    return rows.map(toRun);
  }

  async latestRunsByDate(job: string, from: string, to: string): Promise<Map<string, JobRun>> {
    const rows = await this.db
      .selectFrom('job_runs')
      .selectAll()
      .where('job_name', '=', job)
      .where('logical_date', '>=', from)
      .where('logical_date', '<=', to)
      .orderBy('seq')
      .execute();
    return new Map(rows.map((row) => [row.logical_date, toRun(row)]));
  }

  async latestScheduledFor(job: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('job_runs')
      .select(({ fn }) => fn.max('scheduled_for').as('at'))
      .where('job_name', '=', job)
      .executeTakeFirst();
    return (row?.at as string | null | undefined) ?? null;
  }

  updateRun(id: string, patch: RunPatch, from?: RunStatus): Promise<boolean> {
    return this.write(async (trx) => {
      let update = trx.updateTable('job_runs').set(toRow(patch)).where('id', '=', id);
      if (from) update = update.where('status', '=', from);
      const result = await update.executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    });
  }

  async requestCancel(id: string): Promise<void> {
    await this.write((trx) =>
      trx.updateTable('job_runs').set({ cancel_requested: 1 }).where('id', '=', id).execute(),
    );
  }

  async orphanedRuns(now: string): Promise<JobRun[]> {
    const rows = await this.db
      .selectFrom('job_runs')
      .leftJoin('job_leases', 'job_leases.job_name', 'job_runs.job_name')
      .selectAll('job_runs')
      .where('job_runs.status', '=', 'running')
      .where((eb) =>
        eb.or([
          eb('job_leases.expires_at', 'is', null),
          eb('job_leases.expires_at', '<', now),
          eb('job_leases.holder', '!=', eb.ref('job_runs.holder')),
        ]),
      )
      .execute();
    return rows.map(toRun);
  }

  claimNextRun(job: string, holder: string, now: string, ttlMs: number): Promise<JobRun | null> {
    return this.write(async (trx) => {
      // Of the processes that claim a job's next run at once, one looks at a time.
      await this.lockJob(trx, job);
      const lease = await trx
        .selectFrom('job_leases')
        .selectAll()
        .where('job_name', '=', job)
        .executeTakeFirst();
      if (lease && lease.holder !== holder && lease.expires_at > now) return null;
      const running = await trx
        .selectFrom('job_runs')
        .select('id')
        .where('job_name', '=', job)
        .where('status', '=', 'running')
        .executeTakeFirst();
      // A run still marked running under a free lease belongs to a process that died; the sweep of
      // orphaned runs fails it first, so the next run never overlaps it.
      if (running) return null;
      const next = await trx
        .selectFrom('job_runs')
        .selectAll()
        .where('job_name', '=', job)
        .where('status', '=', 'queued')
        .where('not_before', '<=', now)
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst();
      if (!next) return null;
      await trx.deleteFrom('job_leases').where('job_name', '=', job).execute();
      await trx
        .insertInto('job_leases')
        .values({ job_name: job, holder, expires_at: later(now, ttlMs) })
        .execute();
      await trx
        .updateTable('job_runs')
        .set({ status: 'running', holder, started_at: now })
        .where('id', '=', next.id)
        .execute();
      return toRun({ ...next, status: 'running', holder, started_at: now });
    });
  }

  renewLease(
    job: string,
    holder: string,
    now: string,
    ttlMs: number,
  ): Promise<{ held: boolean; cancel: boolean }> {
    return this.write(async (trx) => {
      const result = await trx
        .updateTable('job_leases')
        .set({ expires_at: later(now, ttlMs) })
        .where('job_name', '=', job)
        .where('holder', '=', holder)
        .executeTakeFirst();
      const cancel = await trx
        .selectFrom('job_runs')
        .select('id')
        .where('job_name', '=', job)
        .where('holder', '=', holder)
        .where('status', '=', 'running')
        .where('cancel_requested', '=', 1)
        .executeTakeFirst();
      return { held: Number(result.numUpdatedRows) > 0, cancel: cancel !== undefined };
    });
  }

  async releaseLease(job: string, holder: string): Promise<void> {
    await this.write((trx) =>
      trx.deleteFrom('job_leases').where('job_name', '=', job).where('holder', '=', holder).execute(),
    );
  }

  async appendLog(run: string, level: RunLogLine['level'], message: string): Promise<void> {
    await this.write(async (trx) => {
      // A run's log lines are numbered one transaction at a time.
      await forWrite(trx, trx.selectFrom('job_runs').select('id').where('id', '=', run)).execute();
      const last = await trx
        .selectFrom('job_run_logs')
        .select(({ fn }) => fn.max('seq').as('seq'))
        .where('run_id', '=', run)
        .executeTakeFirst();
      await trx
        .insertInto('job_run_logs')
        .values({
          run_id: run,
          seq: Number(last?.seq ?? 0) + 1,
          at: new Date().toISOString(),
          level,
          message,
        })
        .execute();
    });
  }

  async listLogs(run: string, afterSeq = 0): Promise<RunLogLine[]> {
    const rows = await this.db
      .selectFrom('job_run_logs')
      .selectAll()
      .where('run_id', '=', run)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .execute();
    return rows.map((row) => ({
      seq: row.seq,
      at: row.at,
      level: row.level as RunLogLine['level'],
      message: row.message,
    }));
  }

  /** Locks a job's row until the transaction ends (a no-op on SQLite, see `forWrite`). */
  private async lockJob(trx: Transaction<JobTables>, name: string): Promise<void> {
    await forWrite(trx, trx.selectFrom('jobs').select('name').where('name', '=', name)).execute();
  }

  private write<T>(work: (trx: Transaction<JobTables>) => Promise<T>): Promise<T> {
    return writeTransaction(this.db, this.immediate, work);
  }
}

function toJob(row: Selectable<JobTables['jobs']>): Job {
  return JSON.parse(row.spec) as Job;
}

function toRun(row: RunRow): JobRun {
  return {
    id: row.id,
    job: row.job_name,
    seq: row.seq,
    logicalDate: row.logical_date,
    status: row.status as RunStatus,
    trigger: row.trigger as RunTrigger,
    attempt: row.attempt,
    scheduledFor: row.scheduled_for,
    notBefore: row.not_before,
    modelName: row.model_name,
    modelVersion: row.model_version,
    rowsRead: Number(row.rows_read),
    rowsWritten: Number(row.rows_written),
    rowsFailed: Number(row.rows_failed),
    rowsExpected: row.rows_expected === null ? null : Number(row.rows_expected),
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
    actor: row.actor,
    holder: row.holder,
    cancelRequested: row.cancel_requested === 1,
    createdAt: row.created_at,
  };
}

function toRow(patch: RunPatch): Partial<RunRow> {
  const row: Partial<RunRow> = {};
  if (patch.status !== undefined) row.status = patch.status;
  if (patch.modelName !== undefined) row.model_name = patch.modelName;
  if (patch.modelVersion !== undefined) row.model_version = patch.modelVersion;
  if (patch.rowsRead !== undefined) row.rows_read = patch.rowsRead;
  if (patch.rowsWritten !== undefined) row.rows_written = patch.rowsWritten;
  if (patch.rowsFailed !== undefined) row.rows_failed = patch.rowsFailed;
  if (patch.rowsExpected !== undefined) row.rows_expected = patch.rowsExpected;
  if (patch.startedAt !== undefined) row.started_at = patch.startedAt;
  if (patch.finishedAt !== undefined) row.finished_at = patch.finishedAt;
  if (patch.error !== undefined) row.error = patch.error;
  if (patch.holder !== undefined) row.holder = patch.holder;
  return row;
}
