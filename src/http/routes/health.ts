import type { FastifyInstance } from 'fastify';
import type { HttpServices } from '../services.js';

/**
 * `GET /health` in the shape operators' probes and dashboards expect from a model service. It never
 * waits on a model: it reads state the data plane already holds, so it answers while inference runs.
 */
export async function healthRoutes(app: FastifyInstance, services: HttpServices): Promise<void> {
  app.get(
    '/health',
    { config: { access: 'public' }, schema: { tags: ['health'], summary: 'Service health' } },
    async () => {
      const models = services.dataPlane.status();
      const failed = models.some((m) => m.state === 'FAILED');
      return {
        status: failed ? 'degraded' : 'healthy',
        version: services.version,
        model_loaded: models.some((m) => m.state === 'READY'),
        ready: services.isReady(),
        models,
      };
    },
  );
}
