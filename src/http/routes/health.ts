import type { FastifyInstance } from 'fastify';
import { SlipwayError } from '../../errors/index.js';
import type { HttpServices } from '../services.js';
import type { TypeBoxTypeProvider } from '../type-provider.js';
import { errorResponses } from '../wire/common.js';
import { HealthSchema } from '../wire/inference.js';
import { ReplicasSchema, toWireReplicas } from '../wire/replicas.js';

/**
 * `GET /health` in the shape operators' probes and dashboards expect from a model service. It never
 * waits on a model: it reads state the data plane already holds, so it answers while inference runs.
 */
export async function healthRoutes(scope: FastifyInstance, services: HttpServices): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        tags: ['health'],
        operationId: 'health',
        summary: 'Service health',
        response: { 200: HealthSchema },
      },
    },
    async () => {
      const models = services.dataPlane.status();
      const failed = models.some((m) => m.state === 'FAILED');
      return {
        status: failed ? 'degraded' : 'healthy',
        version: services.version,
        model_loaded: models.some((m) => m.state === 'READY'),
        ready: services.isReady(),
        models: models.map((m) => ({ ...m, versions: m.versions.map((v) => ({ ...v })) })),
      } as const;
    },
  );
}

/** `GET /api/v1/replicas`: the servers sharing this registry, and the one that leads. */
export async function replicaRoutes(scope: FastifyInstance, services: HttpServices): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/v1/replicas',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['health'],
        operationId: 'listReplicas',
        summary: 'Replicas sharing the registry, and the lead',
        description:
          'Every server process whose heartbeat is live, and the one that holds the lead (batch jobs, rollout analysis, promotion recovery, drift checks). `replica` names the server that answered.',
        response: { 200: ReplicasSchema, ...errorResponses(401, 403) },
      },
    },
    async () =>
      toWireReplicas(
        services.config.replicaName,
        services.replicas.leading(),
        await services.replicas.view(),
      ),
  );
}

/**
 * `GET /metrics`: Prometheus's text format, for a scraper holding a viewer token. Scrapers without
 * tokens read the same text on the metrics listener (`SLIPWAY_METRICS_PORT`), which serves nothing else.
 */
export async function metricsRoutes(scope: FastifyInstance, services: HttpServices): Promise<void> {
  scope.get(
    '/metrics',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['health'],
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        description:
          'Every metric in the Prometheus text exposition format (docs/observability.md lists them).',
        produces: ['text/plain'],
        response: { 200: { type: 'string' } },
      },
    },
    async (_request, reply) => {
      if (!services.metrics.enabled) {
        throw new SlipwayError('NOT_FOUND', 'Metrics are off on this server (SLIPWAY_METRICS=off).', {
          variable: 'SLIPWAY_METRICS',
        });
      }
      const text = await services.exposition.text();
      return reply.type(services.exposition.contentType).send(text);
    },
  );
}
