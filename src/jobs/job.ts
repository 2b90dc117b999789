import { type Static, Type } from '@sinclair/typebox';
import { Cron } from 'croner';
import { assertAliasName, assertModelName } from '../domain/names.js';
import { echo, SlipwayError } from '../errors/index.js';
import { TABLE_NAME, WRITE_MODES, type WriteMode } from './warehouse/warehouse.js';

/**
 * A batch scoring job: pull rows with a query, predict with a model version, push the predictions to
 * a table. Declared over the API, the CLI or slipway.yaml `jobs:`; stored in the registry database.
 */
export interface Job {
  readonly name: string;
  readonly description: string;
  /** `name/3` (a version), `name@champion` (an alias), or `name` with `environment`. */
  readonly model: string;
  /** With a bare model name: score with the version this environment serves. */
  readonly environment: string | null;
  readonly source: { readonly warehouse: string; readonly query: string };
  /** Model input -> source column, for inputs whose column has another name. */
  readonly inputs: Readonly<Record<string, string>>;
  readonly sink: { readonly warehouse: string; readonly table: string; readonly errorsTable: string };
  readonly writeMode: WriteMode;
  /** Cron expression (five or six fields), or null for a job that runs only when asked. */
  readonly schedule: string | null;
  readonly timezone: string;
  readonly catchup: CatchupPolicy;
  readonly retries: number;
  readonly retryDelaySeconds: number;
  /** The run fails when more than this share of rows cannot be scored (0 to 1). */
  readonly maxErrorRate: number;
  readonly batchRows: number;
  readonly paused: boolean;
  /** When the schedule was last set: schedule times before it are never run. */
  readonly scheduleSince: string;
  readonly origin: 'api' | 'config';
  readonly createdBy: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What to do with schedule times missed while no server ran: none, the latest one, or all of them. */
export const CATCHUP_POLICIES = ['none', 'latest', 'all'] as const;
export type CatchupPolicy = (typeof CATCHUP_POLICIES)[number];

export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FINISHED: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'cancelled']);

export const RUN_TRIGGERS = ['manual', 'schedule', 'backfill', 'retry'] as const;

/** Airflow's reprocessing choices for a backfill: which dates that already have runs are run again. */
export const REPROCESS = ['none', 'failed', 'completed'] as const;
export type Reprocess = (typeof REPROCESS)[number];
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

/** One attempt at scoring one logical date. A retry is a new run with the next attempt number. */
export interface JobRun {
  readonly id: string;
  readonly job: string;
  /** 1, 2, 3… within the job: runs can be named by it (`slipway jobs logs flight-delay 12`). */
  readonly seq: number;
  readonly logicalDate: string;
  readonly status: RunStatus;
  readonly trigger: RunTrigger;
  readonly attempt: number;
  /** The schedule time a scheduled run stands for (one run per schedule time, whatever the replicas). */
  readonly scheduledFor: string | null;
  /** A queued run waits until then (retries back off). */
  readonly notBefore: string;
  /** The version the model reference resolved to when the run started. */
  readonly modelName: string | null;
  readonly modelVersion: number | null;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly rowsFailed: number;
  /** Rows the source query returns, when counting them was possible; for progress only. */
  readonly rowsExpected: number | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly error: string | null;
  readonly actor: string;
  /** The server process running it (its lease holder). */
  readonly holder: string | null;
  readonly cancelRequested: boolean;
  readonly createdAt: string;
}

export interface RunLogLine {
  readonly seq: number;
  readonly at: string;
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
}

const NAME = '^[a-z0-9][a-z0-9._-]{0,127}$';
const DATE = '^[0-9]{4}-[0-9]{2}-[0-9]{2}$';

/** A job as the API and slipway.yaml spell it (snake_case); every field but four has a default. */
export const JobSpecSchema = Type.Object(
  {
    name: Type.String({ pattern: NAME, description: 'Lowercase letters, digits, `-`, `_`, `.`.' }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    model: Type.String({
      maxLength: 200,
      description: '`name/3` (a version), `name@alias`, or a bare `name` together with `environment`.',
    }),
    environment: Type.Optional(Type.Union([Type.String({ pattern: NAME }), Type.Null()])),
    source: Type.Object(
      {
        warehouse: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
        query: Type.String({
          minLength: 1,
          maxLength: 100_000,
          description: 'One SELECT. `{{ logical_date }}` becomes the run’s date as a SQL DATE literal.',
        }),
      },
      { additionalProperties: false },
    ),
    inputs: Type.Optional(
      Type.Record(Type.String({ maxLength: 200 }), Type.String({ minLength: 1, maxLength: 200 }), {
        description: 'Model input -> source column, where they differ.',
      }),
    ),
    sink: Type.Object(
      {
        warehouse: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
        table: Type.String({ maxLength: 127 }),
        errors_table: Type.Optional(Type.String({ maxLength: 127 })),
      },
      { additionalProperties: false },
    ),
    write_mode: Type.Optional(Type.Union(WRITE_MODES.map((m) => Type.Literal(m)))),
    schedule: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
    timezone: Type.Optional(Type.String({ maxLength: 64 })),
    catchup: Type.Optional(Type.Union(CATCHUP_POLICIES.map((p) => Type.Literal(p)))),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
    retry_delay_seconds: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400 })),
    max_error_rate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    batch_rows: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    paused: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type JobSpec = Static<typeof JobSpecSchema>;

export const JOB_DEFAULTS = {
  warehouse: 'default',
  writeMode: 'replace_partition' as WriteMode,
  timezone: 'UTC',
  catchup: 'latest' as CatchupPolicy,
  retries: 2,
  retryDelaySeconds: 60,
  maxErrorRate: 0.01,
  batchRows: 16_384,
};

export type ModelReference =
  | { readonly kind: 'version'; readonly model: string; readonly version: number }
  | { readonly kind: 'alias'; readonly model: string; readonly alias: string }
  | { readonly kind: 'environment'; readonly model: string; readonly environment: string };

/** Reads `name/3`, `name@alias`, or a bare name with an environment. */
export function parseModelReference(model: string, environment: string | null): ModelReference {
  const invalid = (why: string) =>
    new SlipwayError('INVALID_ARGUMENT', `model ${echo(model)} ${why}`, { field: 'model' });
  const versioned = /^([^/@]+)\/([0-9]{1,9})$/.exec(model);
  const aliased = /^([^/@]+)@([^/@]+)$/.exec(model);
  if (environment !== null && (versioned || aliased))
    throw invalid('names a version or alias, so it cannot also name an environment; give one or the other.');
  if (versioned) {
    const version = Number(versioned[2]);
    if (version < 1) throw invalid('has version 0; versions start at 1.');
    return { kind: 'version', model: assertModelName(versioned[1]!, 'model'), version };
  }
  if (aliased)
    return {
      kind: 'alias',
      model: assertModelName(aliased[1]!, 'model'),
      alias: assertAliasName(aliased[2]!, 'model alias'),
    };
  if (environment === null)
    throw invalid('needs a version (`name/3`), an alias (`name@champion`) or an `environment`.');
  return { kind: 'environment', model: assertModelName(model, 'model'), environment };
}

export const describeReference = (reference: ModelReference): string =>
  reference.kind === 'version'
    ? `${reference.model}/${reference.version}`
    : reference.kind === 'alias'
      ? `${reference.model}@${reference.alias}`
      : `the version ${reference.environment} serves of ${reference.model}`;

/** Checks a cron expression and time zone with the scheduler's own parser; returns the next time. */
export function checkSchedule(schedule: string, timezone: string): Date | null {
  try {
    return new Cron(schedule, { timezone, paused: true }).nextRun();
  } catch (error) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `schedule ${echo(schedule)} in time zone ${echo(timezone)} is invalid: ${(error as Error).message}. Expected a cron expression such as "0 2 * * *" (02:00 every day) and an IANA time zone such as "UTC" or "Europe/Paris".`,
      { field: 'schedule' },
    );
  }
}

/** A date written YYYY-MM-DD that exists in the calendar. */
export function assertDate(value: string, field: string): string {
  const parsed = new Date(`${value}T00:00:00Z`);
  if (
    !new RegExp(DATE).test(value) ||
    Number.isNaN(parsed.getTime()) ||
    parsed.toISOString().slice(0, 10) !== value
  ) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${field} ${echo(value)} is not a date; expected YYYY-MM-DD.`,
      {
        field,
      },
    );
  }
  return value;
}

/** The calendar date of an instant in a time zone, as YYYY-MM-DD. */
export function dateIn(instant: Date, timezone: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(instant);
}

/** The source query with `{{ logical_date }}` replaced by a DATE literal (the date is checked first). */
export function renderQuery(query: string, logicalDate: string): string {
  return query.replace(/\{\{\s*logical_date\s*\}\}/g, `DATE '${assertDate(logicalDate, 'logical_date')}'`);
}

/** Turns a checked spec into a job, filling defaults; `previous` keeps the creation facts of an update. */
export function compileJob(spec: JobSpec, actor: string, origin: Job['origin'], previous?: Job): Job {
  const environment = spec.environment ?? null;
  parseModelReference(spec.model, environment);
  const timezone = spec.timezone ?? JOB_DEFAULTS.timezone;
  const schedule = spec.schedule ?? null;
  if (schedule !== null) checkSchedule(schedule, timezone);
  else if (spec.timezone !== undefined) checkSchedule('0 0 * * *', timezone);
  for (const [field, table] of [
    ['sink.table', spec.sink.table],
    ['sink.errors_table', spec.sink.errors_table ?? `${spec.sink.table}_errors`],
  ] as const) {
    if (!TABLE_NAME.test(table)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `${field} ${echo(table)} is not a table name Slipway writes: expected name or schema.name, each part letters, digits and underscores, starting with a letter or underscore, at most 63 characters${field === 'sink.errors_table' && spec.sink.errors_table === undefined ? ' (name errors_table when the table name leaves no room for "_errors")' : ''}.`,
        { field },
      );
    }
  }
  for (const [input, column] of Object.entries(spec.inputs ?? {})) {
    if (input.length === 0 || column.trim() === '')
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        'inputs: every entry maps a model input to a source column.',
        {
          field: 'inputs',
        },
      );
  }
  const now = new Date().toISOString();
  return {
    name: spec.name,
    description: spec.description ?? '',
    model: spec.model,
    environment,
    source: { warehouse: spec.source.warehouse ?? JOB_DEFAULTS.warehouse, query: spec.source.query },
    inputs: { ...(spec.inputs ?? {}) },
    sink: {
      warehouse: spec.sink.warehouse ?? JOB_DEFAULTS.warehouse,
      table: spec.sink.table,
      errorsTable: spec.sink.errors_table ?? `${spec.sink.table}_errors`,
    },
    writeMode: spec.write_mode ?? JOB_DEFAULTS.writeMode,
    schedule,
    timezone,
    catchup: spec.catchup ?? JOB_DEFAULTS.catchup,
    retries: spec.retries ?? JOB_DEFAULTS.retries,
    retryDelaySeconds: spec.retry_delay_seconds ?? JOB_DEFAULTS.retryDelaySeconds,
    maxErrorRate: spec.max_error_rate ?? JOB_DEFAULTS.maxErrorRate,
    batchRows: spec.batch_rows ?? JOB_DEFAULTS.batchRows,
    paused: spec.paused ?? false,
    scheduleSince:
      previous && previous.schedule === schedule && previous.timezone === timezone
        ? previous.scheduleSince
        : now,
    origin,
    createdBy: previous?.createdBy ?? actor,
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
  };
}

/** The spec a job was made from, in the API's spelling (what `GET /jobs/{name}` and the CLI show). */
export function toSpec(job: Job): JobSpec {
  return {
    name: job.name,
    description: job.description,
    model: job.model,
    environment: job.environment,
    source: { warehouse: job.source.warehouse, query: job.source.query },
    inputs: { ...job.inputs },
    sink: { warehouse: job.sink.warehouse, table: job.sink.table, errors_table: job.sink.errorsTable },
    write_mode: job.writeMode,
    schedule: job.schedule,
    timezone: job.timezone,
    catchup: job.catchup,
    retries: job.retries,
    retry_delay_seconds: job.retryDelaySeconds,
    max_error_rate: job.maxErrorRate,
    batch_rows: job.batchRows,
    paused: job.paused,
  };
}
