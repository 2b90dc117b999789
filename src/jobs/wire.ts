import { Cron } from 'croner';
import { type Job, type JobRun, toSpec } from './job.js';
import { maskConnectionString } from './warehouse/references.js';

/** The API's spelling of jobs and runs (snake_case), shared by the HTTP routes and the CLI. */

/** A job as the API answers it: its spec (warehouse passwords redacted), origin, and next run. */
export function toWireJob(job: Job) {
  const spec = toSpec(job);
  let next: string | null = null;
  if (job.schedule !== null && !job.paused) {
    next = new Cron(job.schedule, { timezone: job.timezone, paused: true }).nextRun()?.toISOString() ?? null;
  }
  return {
    ...spec,
    source: { ...spec.source, warehouse: maskConnectionString(job.source.warehouse) },
    sink: { ...spec.sink, warehouse: maskConnectionString(job.sink.warehouse) },
    origin: job.origin,
    created_by: job.createdBy,
    created_at: job.createdAt,
    updated_at: job.updatedAt,
    next_run_at: next,
  };
}

/** A run as the API answers it. */
export function toWireRun(run: JobRun) {
  const end = run.finishedAt ? Date.parse(run.finishedAt) : null;
  return {
    id: run.id,
    job: run.job,
    number: run.seq,
    logical_date: run.logicalDate,
    status: run.status,
    trigger: run.trigger,
    attempt: run.attempt,
    scheduled_for: run.scheduledFor,
    not_before: run.notBefore,
    model:
      run.modelName !== null && run.modelVersion !== null
        ? { name: run.modelName, version: run.modelVersion }
        : null,
    rows_read: run.rowsRead,
    rows_written: run.rowsWritten,
    rows_failed: run.rowsFailed,
    rows_expected: run.rowsExpected,
    started_at: run.startedAt,
    finished_at: run.finishedAt,
    duration_ms: run.startedAt && end !== null ? end - Date.parse(run.startedAt) : null,
    error: run.error,
    actor: run.actor,
    cancel_requested: run.cancelRequested,
    created_at: run.createdAt,
  };
}

export type WireJob = ReturnType<typeof toWireJob>;
export type WireRun = ReturnType<typeof toWireRun>;
