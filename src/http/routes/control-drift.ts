import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { assertModelName, parseVersionNumber } from '../../domain/names.js';
import { echo, SlipwayError } from '../../errors/index.js';
import type { HttpServices } from '../services.js';
import type { TypeBoxTypeProvider } from '../type-provider.js';
import { errorResponses } from '../wire/common.js';
import {
  DriftCheckList,
  DriftCheckParams,
  DriftCheckSchema,
  DriftModelParams,
  DriftReportSchema,
  DriftRowsBody,
  DriftWindowQuery,
  ProfileSchema,
  toWireDriftCheck,
  toWireDriftReport,
  toWireProfile,
} from '../wire/drift.js';
import { VersionParams } from '../wire/models.js';

const errors = errorResponses(400, 401, 403, 404, 409);
const viewer = { access: 'viewer' } as const;
const deployer = { access: 'deployer' } as const;
const DAY_MS = 86_400_000;

/**
 * The drift area: a version's reference profile, drift of a window of a deployment's prediction
 * log or of rows sent in the request, and the scheduled checks with their last outcomes.
 */
export async function controlDriftRoutes(scope: FastifyInstance, services: HttpServices): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { drift } = services;
  const tags = ['drift'];

  app.get(
    '/api/v1/models/:model/drift',
    {
      config: viewer,
      schema: {
        tags,
        operationId: 'driftOfWindow',
        summary: "Drift of a deployment's logged predictions against its version's reference",
        params: DriftModelParams,
        querystring: DriftWindowQuery,
        response: { 200: DriftReportSchema, ...errors },
      },
    },
    async (request) => {
      const model = assertModelName(request.params.model, 'model');
      const query = request.query as Static<typeof DriftWindowQuery>;
      const environment = query.environment ?? services.config.defaultEnvironment;
      if (!services.config.environments.some((e) => e.name === environment)) {
        throw new SlipwayError(
          'ENVIRONMENT_NOT_FOUND',
          `There is no environment ${echo(environment)}; expected one of ${services.config.environments.map((e) => e.name).join(', ')}.`,
          { field: 'environment' },
        );
      }
      const to = instant(query.to, 'to') ?? new Date();
      const from = instant(query.from, 'from') ?? new Date(to.getTime() - DAY_MS);
      const report = await drift.compareWindow(model, environment, { from, to }, options(query));
      return toWireDriftReport(report);
    },
  );

  app.post(
    '/api/v1/models/:model/versions/:version/drift',
    {
      config: viewer,
      schema: {
        tags,
        operationId: 'driftOfRows',
        summary: "Drift of the rows sent against a version's reference (check a batch before scoring it)",
        params: VersionParams,
        body: DriftRowsBody,
        response: { 200: DriftReportSchema, ...errors },
      },
    },
    async (request) => {
      const model = assertModelName(request.params.model, 'model');
      const version = parseVersionNumber(request.params.version);
      const body = request.body as Static<typeof DriftRowsBody>;
      return toWireDriftReport(await drift.compareRows(model, version, body.rows, options(body)));
    },
  );

  app.get(
    '/api/v1/models/:model/versions/:version/profile',
    {
      config: viewer,
      schema: {
        tags,
        operationId: 'referenceProfile',
        summary: "A version's reference profile (built from its reference data when first needed)",
        params: VersionParams,
        response: { 200: ProfileSchema, ...errors },
      },
    },
    async (request) => {
      const model = assertModelName(request.params.model, 'model');
      const version = parseVersionNumber(request.params.version);
      return toWireProfile(await drift.profile(model, version));
    },
  );

  app.get(
    '/api/v1/drift/checks',
    {
      config: viewer,
      schema: {
        tags,
        operationId: 'listDriftChecks',
        summary: 'Scheduled drift checks (slipway.yaml drift_checks:) and their last outcomes',
        response: { 200: DriftCheckList, ...errors },
      },
    },
    async () => ({
      checks: drift.checks().map(({ spec, last, next }) => toWireDriftCheck(spec, last, next)),
    }),
  );

  app.post(
    '/api/v1/drift/checks/:name/run',
    {
      config: deployer,
      schema: {
        tags,
        operationId: 'runDriftCheck',
        summary: 'Run a scheduled drift check now (its metrics and alerts follow as on schedule)',
        params: DriftCheckParams,
        response: { 200: DriftCheckSchema, ...errors },
      },
    },
    async (request) => {
      const found = drift.checks().find((c) => c.spec.name === request.params.name);
      if (!found) {
        throw new SlipwayError(
          'NOT_FOUND',
          `There is no drift check ${echo(request.params.name)}; slipway.yaml drift_checks: declares ${
            drift
              .checks()
              .map((c) => c.spec.name)
              .join(', ') || 'none'
          }.`,
          { field: 'name' },
        );
      }
      const last = await drift.runCheck(found.spec);
      return toWireDriftCheck(found.spec, last, found.next);
    },
  );
}

function options(from: { method?: string; threshold?: number }) {
  return {
    ...(from.method ? { method: from.method as never } : {}),
    ...(from.threshold !== undefined ? { threshold: from.threshold } : {}),
  };
}

function instant(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${field}: ${echo(value)} is not a date-time; expected ISO 8601.`,
      {
        field,
      },
    );
  }
  return date;
}
