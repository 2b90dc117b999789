import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { assertModelName } from '../../domain/names.js';
import { echo, SlipwayError } from '../../errors/index.js';
import { type JobRun, JobSpecSchema, REPROCESS, RUN_STATUSES, RUN_TRIGGERS } from '../../jobs/job.js';
import { toWireJob, toWireRun } from '../../jobs/wire.js';
import { contextOf } from '../auth.js';
import type { HttpServices } from '../services.js';
import { ErrorSchema } from '../wire.js';

const errors = { 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema };
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const JobParams = Type.Object({ job: Type.String({ maxLength: 200 }) });
const RunParams = Type.Object({
  job: Type.String({ maxLength: 200 }),
  run: Type.String({ maxLength: 64, description: 'The run id, or its number within the job.' }),
});

const JobSchema = Type.Composite(
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

const RunSchema = Type.Object(
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
    model: Type.Union([Type.Object({ name: Type.String(), version: Type.Integer() }), Type.Null()]),
    rows_read: Type.Integer(),
    rows_written: Type.Integer(),
    rows_failed: Type.Integer(),
    rows_expected: Type.Union([Type.Integer(), Type.Null()]),
    started_at: Nullable(Type.String()),
    finished_at: Nullable(Type.String()),
    duration_ms: Type.Union([Type.Integer(), Type.Null()]),
    error: Nullable(Type.String()),
    actor: Type.String(),
    cancel_requested: Type.Boolean(),
    created_at: Type.String(),
  },
  { $id: 'JobRun' },
);

const BackfillBody = Type.Object(
  {
    from: Type.String({ maxLength: 10, description: 'First logical date, YYYY-MM-DD.' }),
    to: Type.String({ maxLength: 10, description: 'Last logical date, YYYY-MM-DD (inclusive).' }),
    reprocess: Type.Optional(Type.Union(REPROCESS.map((r) => Type.Literal(r)))),
    backwards: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** The control API for batch scoring jobs and their runs under /api/v1/jobs. */
export async function controlJobRoutes(app: FastifyInstance, services: HttpServices): Promise<void> {
  const { jobs } = services;
  const tags = ['jobs'];
  app.addSchema(JobSchema);
  app.addSchema(RunSchema);
  const JobRef = Type.Ref(JobSchema);
  const RunRef = Type.Ref(RunSchema);

  app.get(
    '/api/v1/jobs',
    {
      config: { access: 'viewer' },
      schema: { tags, summary: 'List jobs', response: { 200: Type.Object({ jobs: Type.Array(JobRef) }) } },
    },
    async () => ({ jobs: (await jobs.listJobs()).map(toWireJob) }),
  );

  app.post(
    '/api/v1/jobs',
    {
      config: { access: 'deployer' },
      schema: {
        tags,
        summary: 'Create a job',
        description:
          'A job scores the rows its source query returns with a model version and writes them to its sink table. Its SQL runs with the warehouse credentials and, for DuckDB, the server’s file access: creating jobs needs the deployer role.',
        body: JobSpecSchema,
        response: { 201: JobRef, ...errors },
      },
    },
    async (request, reply) => {
      const spec = request.body as Static<typeof JobSpecSchema>;
      if (await jobs.store.findJob(spec.name)) {
        throw new SlipwayError(
          'ALREADY_EXISTS',
          `Job "${spec.name}" already exists; PUT /api/v1/jobs/${spec.name} replaces it.`,
          {
            job: spec.name,
          },
        );
      }
      const { job } = await jobs.putJob(spec, contextOf(request));
      return reply.status(201).send(toWireJob(job));
    },
  );

  app.put(
    '/api/v1/jobs/:job',
    {
      config: { access: 'deployer' },
      schema: {
        tags,
        summary: 'Create or replace a job',
        params: JobParams,
        body: JobSpecSchema,
        response: { 200: JobRef, 201: JobRef, ...errors },
      },
    },
    async (request, reply) => {
      const { job: name } = request.params as Static<typeof JobParams>;
      const spec = request.body as Static<typeof JobSpecSchema>;
      if (spec.name !== name) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          `name ${echo(spec.name)} differs from the job in the path, ${echo(name)}.`,
          {
            field: 'name',
          },
        );
      }
      const { job, created } = await jobs.putJob(spec, contextOf(request));
      return reply.status(created ? 201 : 200).send(toWireJob(job));
    },
  );

  app.get(
    '/api/v1/jobs/:job',
    {
      config: { access: 'viewer' },
      schema: { tags, summary: 'Show a job', params: JobParams, response: { 200: JobRef, ...errors } },
    },
    async (request) => toWireJob(await jobs.getJob(jobName(request.params))),
  );

  app.delete(
    '/api/v1/jobs/:job',
    {
      config: { access: 'deployer' },
      schema: {
        tags,
        summary: 'Delete a job and its run history',
        description: 'Tables the job wrote are left as they are.',
        params: JobParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await jobs.deleteJob(jobName(request.params), contextOf(request));
      return reply.status(204).send();
    },
  );

  for (const [verb, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    app.post(
      `/api/v1/jobs/:job/${verb}`,
      {
        config: { access: 'deployer' },
        schema: {
          tags,
          summary: paused ? 'Pause a job’s schedule' : 'Resume a job’s schedule',
          params: JobParams,
          response: { 200: JobRef, ...errors },
        },
      },
      async (request) => toWireJob(await jobs.setPaused(jobName(request.params), paused, contextOf(request))),
    );
  }

  app.post(
    '/api/v1/jobs/:job/runs',
    {
      config: { access: 'deployer' },
      schema: {
        tags,
        summary: 'Run a job now',
        description:
          'Queues a run of one logical date (default: today in the job’s time zone); it starts when the job is free.',
        params: JobParams,
        body: Type.Optional(
          Type.Object(
            { logical_date: Type.Optional(Type.String({ maxLength: 10, description: 'YYYY-MM-DD.' })) },
            { additionalProperties: false },
          ),
        ),
        response: { 202: RunRef, ...errors },
      },
    },
    async (request, reply) => {
      const body = (request.body ?? {}) as { logical_date?: string };
      const run = await jobs.trigger(jobName(request.params), body.logical_date, contextOf(request));
      return reply.status(202).send(toWireRun(run));
    },
  );

  app.post(
    '/api/v1/jobs/:job/backfill',
    {
      config: { access: 'deployer' },
      schema: {
        tags,
        summary: 'Backfill a range of dates',
        description:
          'Queues one run per logical date. Dates with a queued or running run are skipped; `reprocess` says whether dates that already ran are run again: `none` (default), `failed`, or `completed`.',
        params: JobParams,
        body: BackfillBody,
        response: {
          202: Type.Object({
            queued: Type.Array(RunRef),
            skipped: Type.Array(Type.Object({ date: Type.String(), reason: Type.String() })),
          }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const body = request.body as Static<typeof BackfillBody>;
      const result = await jobs.backfill(jobName(request.params), body, contextOf(request));
      return reply.status(202).send({ queued: result.queued.map(toWireRun), skipped: result.skipped });
    },
  );

  app.get(
    '/api/v1/jobs/:job/runs',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: 'List a job’s runs, newest first',
        params: JobParams,
        querystring: Type.Object({
          status: Type.Optional(Type.Union(RUN_STATUSES.map((s) => Type.Literal(s)))),
          limit: Type.Optional(
            Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000 (default 100).' }),
          ),
          page_token: Type.Optional(Type.String({ maxLength: 200 })),
        }),
        response: {
          200: Type.Object({
            runs: Type.Array(RunRef),
            next_page_token: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const query = request.query as { status?: JobRun['status']; limit?: string; page_token?: string };
      const page = await jobs.listRuns(jobName(request.params), {
        ...(query.status ? { status: query.status } : {}),
        ...(query.limit !== undefined ? { limit: Number(query.limit) } : {}),
        ...(query.page_token !== undefined ? { pageToken: query.page_token } : {}),
      });
      return { runs: page.items.map(toWireRun), next_page_token: page.nextPageToken };
    },
  );

  app.get(
    '/api/v1/jobs/:job/runs/:run',
    {
      config: { access: 'viewer' },
      schema: { tags, summary: 'Show a run', params: RunParams, response: { 200: RunRef, ...errors } },
    },
    async (request) => {
      const params = request.params as Static<typeof RunParams>;
      return toWireRun(await jobs.getRun(jobName(params), params.run));
    },
  );

  app.get(
    '/api/v1/jobs/:job/runs/:run/logs',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: 'A run’s log lines',
        params: RunParams,
        querystring: Type.Object({
          after: Type.Optional(
            Type.String({
              pattern: '^[0-9]{1,9}$',
              description: 'Only lines after this seq (to follow a run).',
            }),
          ),
        }),
        response: {
          200: Type.Object({
            run: RunRef,
            lines: Type.Array(
              Type.Object({
                seq: Type.Integer(),
                at: Type.String(),
                level: Type.String(),
                message: Type.String(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const params = request.params as Static<typeof RunParams>;
      const { after } = request.query as { after?: string };
      const { run, lines } = await jobs.logs(
        jobName(params),
        params.run,
        after === undefined ? undefined : Number(after),
      );
      return { run: toWireRun(run), lines };
    },
  );

  app.post(
    '/api/v1/jobs/:job/runs/:run/cancel',
    {
      config: { access: 'deployer' },
      schema: {
        tags,
        summary: 'Cancel a run',
        description:
          'A queued run is cancelled at once; a running one stops within a batch and publishes nothing.',
        params: RunParams,
        response: { 200: RunRef, ...errors },
      },
    },
    async (request) => {
      const params = request.params as Static<typeof RunParams>;
      return toWireRun(await jobs.cancel(jobName(params), params.run, contextOf(request)));
    },
  );
}

function jobName(params: unknown): string {
  return assertModelName((params as { job: string }).job, 'job');
}
