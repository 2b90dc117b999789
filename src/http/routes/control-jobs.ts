import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { assertModelName } from '../../domain/names.js';
import { echo, SlipwayError } from '../../errors/index.js';
import { JobSpecSchema } from '../../jobs/job.js';
import {
  BackfillBody,
  BackfillResult,
  JobList,
  JobParams,
  JobSchema,
  LogQuery,
  RunLogs,
  RunPage,
  RunParams,
  RunQuery,
  RunSchema,
  TriggerBody,
  toWireJob,
  toWireRun,
} from '../../jobs/wire.js';
import { contextOf } from '../auth.js';
import type { HttpServices } from '../services.js';
import type { TypeBoxTypeProvider } from '../type-provider.js';
import { errorResponses, NoContent, pageOf } from '../wire/common.js';

const errors = errorResponses(400, 404, 409);
const JobRef = Type.Ref(JobSchema);
const RunRef = Type.Ref(RunSchema);

/** The control API for batch scoring jobs and their runs under /api/v1/jobs. */
export async function controlJobRoutes(scope: FastifyInstance, services: HttpServices): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { jobs } = services;
  const tags = ['jobs'];

  app.get(
    '/api/v1/jobs',
    {
      config: { access: 'viewer' },
      schema: { tags, operationId: 'listJobs', summary: 'List jobs', response: { 200: JobList } },
    },
    async () => ({ jobs: (await jobs.listJobs()).map(toWireJob) }),
  );

  app.post(
    '/api/v1/jobs',
    {
      config: { access: 'deployer' },
      schema: {
        tags,
        operationId: 'createJob',
        summary: 'Create a job',
        description:
          'A job scores the rows its source query returns with a model version and writes them to its sink table. Its SQL runs with the warehouse credentials and, for DuckDB, the server’s file access: creating jobs needs the deployer role.',
        body: JobSpecSchema,
        response: { 201: JobRef, ...errors },
      },
    },
    async (request, reply) => {
      const job = await jobs.createJob(request.body, contextOf(request));
      return reply.status(201).send(toWireJob(job));
    },
  );

  app.put(
    '/api/v1/jobs/:job',
    {
      config: { access: 'deployer' },
      schema: {
        tags,
        operationId: 'putJob',
        summary: 'Create or replace a job',
        params: JobParams,
        body: JobSpecSchema,
        response: { 200: JobRef, 201: JobRef, ...errors },
      },
    },
    async (request, reply) => {
      const { job: name } = request.params;
      const spec = request.body;
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
      schema: {
        tags,
        operationId: 'getJob',
        summary: 'Show a job',
        params: JobParams,
        response: { 200: JobRef, ...errors },
      },
    },
    async (request) => toWireJob(await jobs.getJob(jobName(request.params))),
  );

  app.delete(
    '/api/v1/jobs/:job',
    {
      config: { access: 'deployer' },
      schema: {
        tags,
        operationId: 'deleteJob',
        summary: 'Delete a job and its run history',
        description: 'Tables the job wrote are left as they are.',
        params: JobParams,
        response: { 204: NoContent, ...errors },
      },
    },
    async (request, reply) => {
      await jobs.deleteJob(jobName(request.params), contextOf(request));
      return reply.status(204).send(null);
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
          operationId: `${verb}Job`,
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
        operationId: 'triggerRun',
        summary: 'Run a job now',
        description:
          'Queues a run of one logical date (default: today in the job’s time zone); it starts when the job is free.',
        params: JobParams,
        body: TriggerBody,
        response: { 202: RunRef, ...errors },
      },
    },
    async (request, reply) => {
      const run = await jobs.trigger(jobName(request.params), request.body?.logical_date, contextOf(request));
      return reply.status(202).send(toWireRun(run));
    },
  );

  app.post(
    '/api/v1/jobs/:job/backfill',
    {
      config: { access: 'deployer' },
      schema: {
        tags,
        operationId: 'backfillJob',
        summary: 'Backfill a range of dates',
        description:
          'Queues one run per logical date. Dates with a queued or running run are skipped; `reprocess` says whether dates that already ran are run again: `none` (default), `failed`, or `completed`.',
        params: JobParams,
        body: BackfillBody,
        response: { 202: BackfillResult, ...errors },
      },
    },
    async (request, reply) => {
      const result = await jobs.backfill(jobName(request.params), request.body, contextOf(request));
      return reply.status(202).send({ queued: result.queued.map(toWireRun), skipped: result.skipped });
    },
  );

  app.get(
    '/api/v1/jobs/:job/runs',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        operationId: 'listRuns',
        summary: 'List a job’s runs, newest first',
        params: JobParams,
        querystring: RunQuery,
        response: { 200: RunPage, ...errors },
      },
    },
    async (request) => {
      const { status } = request.query;
      const page = await jobs.listRuns(jobName(request.params), {
        ...(status ? { status } : {}),
        ...pageOf(request.query),
      });
      return { runs: page.items.map(toWireRun), next_page_token: page.nextPageToken };
    },
  );

  app.get(
    '/api/v1/jobs/:job/runs/:run',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        operationId: 'getRun',
        summary: 'Show a run',
        params: RunParams,
        response: { 200: RunRef, ...errors },
      },
    },
    async (request) => toWireRun(await jobs.getRun(jobName(request.params), request.params.run)),
  );

  app.get(
    '/api/v1/jobs/:job/runs/:run/logs',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        operationId: 'getRunLogs',
        summary: 'A run’s log lines',
        params: RunParams,
        querystring: LogQuery,
        response: { 200: RunLogs, ...errors },
      },
    },
    async (request) => {
      const { after } = request.query;
      const { run, lines } = await jobs.logs(
        jobName(request.params),
        request.params.run,
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
        operationId: 'cancelRun',
        summary: 'Cancel a run',
        description:
          'A queued run is cancelled at once; a running one stops within a batch and publishes nothing.',
        params: RunParams,
        response: { 200: RunRef, ...errors },
      },
    },
    async (request) =>
      toWireRun(await jobs.cancel(jobName(request.params), request.params.run, contextOf(request))),
  );
}

const jobName = (params: { job: string }): string => assertModelName(params.job, 'job');
