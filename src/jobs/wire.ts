import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Cron } from 'croner';
import {
  type Job,
  type JobRun,
  JobSpecSchema,
  REPROCESS,
  RUN_STATUSES,
  RUN_TRIGGERS,
  toSpec,
} from './job.js';
import { maskConnectionString } from './warehouse/references.js';

/**
 * The jobs area of the API (`/api/v1/jobs`): jobs, runs and their log lines, snake_case on the wire.
 * The HTTP routes validate and serialize with these schemas; the CLI reads the same `Wire*` types.
 */

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** A job as the API answers it: its spec (warehouse passwords redacted), origin, and next run. */
export const JobSchema = Type.Composite(
  [
    JobSpecSchema,
    Type.Object({
      origin: Type.Union([Type.Literal('api'), Type.Literal('config')]),
      created_by: Type.String(),
      created_at: Type.String(),
      updated_at: Type.String(),
      next_run_at: Nullable(
        Type.String({ description: 'Next schedule time, unless paused or unscheduled.' }),
      ),
    }),
  ],
  { $id: 'Job', additionalProperties: false },
);

/** One attempt at scoring one logical date. */
export const RunSchema = Type.Object(
  {
    id: Type.String(),
    job: Type.String(),
    number: Type.Integer(),
    logical_date: Type.String(),
    status: Type.Union(RUN_STATUSES.map((s) => Type.Literal(s))),
    trigger: Type.Union(RUN_TRIGGERS.map((t) => Type.Literal(t))),
    attempt: Type.Integer(),
    scheduled_for: Nullable(Type.String()),
    not_before: Type.String(),
    model: Nullable(Type.Object({ name: Type.String(), version: Type.Integer() })),
    rows_read: Type.Integer(),
    rows_written: Type.Integer(),
    rows_failed: Type.Integer(),
    rows_expected: Nullable(Type.Integer()),
    started_at: Nullable(Type.String()),
    finished_at: Nullable(Type.String()),
    duration_ms: Nullable(Type.Integer()),
    error: Nullable(Type.String()),
    actor: Type.String(),
    cancel_requested: Type.Boolean(),
    created_at: Type.String(),
  },
  { $id: 'JobRun' },
);

export const LogLineSchema = Type.Object({
  seq: Type.Integer(),
  at: Type.String(),
  level: Type.Union([Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')]),
  message: Type.String(),
});

export const JobParams = Type.Object({ job: Type.String({ maxLength: 200 }) });
export const RunParams = Type.Object({
  job: Type.String({ maxLength: 200 }),
  run: Type.String({ maxLength: 64, description: 'The run id, or its number within the job.' }),
});

export const TriggerBody = Type.Optional(
  Type.Object(
    { logical_date: Type.Optional(Type.String({ maxLength: 10, description: 'YYYY-MM-DD.' })) },
    { additionalProperties: false },
  ),
);
export const BackfillBody = Type.Object(
  {
    from: Type.String({ maxLength: 10, description: 'First logical date, YYYY-MM-DD.' }),
    to: Type.String({ maxLength: 10, description: 'Last logical date, YYYY-MM-DD (inclusive).' }),
    reprocess: Type.Optional(Type.Union(REPROCESS.map((r) => Type.Literal(r)))),
    backwards: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export const RunQuery = Type.Object({
  status: Type.Optional(Type.Union(RUN_STATUSES.map((s) => Type.Literal(s)))),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000 (default 100).' })),
  page_token: Type.Optional(Type.String({ maxLength: 200 })),
});
export const LogQuery = Type.Object({
  after: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,9}$', description: 'Only lines after this seq (to follow a run).' }),
  ),
});

export const JobList = Type.Object({ jobs: Type.Array(Type.Ref(JobSchema)) });
export const RunPage = Type.Object({
  runs: Type.Array(Type.Ref(RunSchema)),
  next_page_token: Nullable(Type.String()),
});
export const BackfillResult = Type.Object({
  queued: Type.Array(Type.Ref(RunSchema)),
  skipped: Type.Array(Type.Object({ date: Type.String(), reason: Type.String() })),
});
export const RunLogs = Type.Object({ run: Type.Ref(RunSchema), lines: Type.Array(LogLineSchema) });

export type WireJob = Static<typeof JobSchema>;
export type WireRun = Static<typeof RunSchema>;
export type WireLogLine = Static<typeof LogLineSchema>;
export type WireJobList = Static<typeof JobList>;
export type WireRunPage = Static<typeof RunPage>;
export type WireBackfillResult = Static<typeof BackfillResult>;
export type WireRunLogs = Static<typeof RunLogs>;

/** A job as the API answers it: its spec (warehouse passwords redacted), origin, and next run. */
export function toWireJob(job: Job): WireJob {
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
export function toWireRun(run: JobRun): WireRun {
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
