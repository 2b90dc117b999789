import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../observability/metrics.js';
import type { RegistryService } from '../../registry/registry-service.js';
import type { MlflowService } from '../mlflow-service.js';
import { artifactRoutes } from './artifact-routes.js';
import { installMlflowErrors } from './mlflow-errors.js';
import { registryRoutes } from './registry-routes.js';
import { trackingRoutes } from './tracking-routes.js';

/**
 * MLflow's REST API, so the unchanged `mlflow` client works with `MLFLOW_TRACKING_URI` set to this
 * server: tracking and registry under /api/2.0/mlflow, proxied artifacts under
 * /api/2.0/mlflow-artifacts, the capability probe under /api/3.0/mlflow. Errors on these paths are
 * MLflow's `{"error_code", "message"}`; the routes are left out of Slipway's OpenAPI document
 * (MLflow documents its own API).
 */
export async function mlflowRoutes(
  app: FastifyInstance,
  services: {
    readonly mlflow: MlflowService;
    readonly registry: RegistryService;
    readonly metrics: Pick<Metrics, 'mlflowWrite'>;
  },
): Promise<void> {
  const { mlflow, registry, metrics } = services;
  await app.register(
    async (scope) => {
      installMlflowErrors(scope);
      countWrites(scope, metrics, '/api/2.0/mlflow/');
      trackingRoutes(scope, mlflow);
      registryRoutes(scope, mlflow, registry);
    },
    { prefix: '/api/2.0/mlflow' },
  );
  await app.register(
    async (scope) => {
      installMlflowErrors(scope);
      countWrites(scope, metrics, '/api/2.0/mlflow-artifacts/');
      artifactRoutes(scope, mlflow.artifacts);
    },
    { prefix: '/api/2.0/mlflow-artifacts' },
  );
  await app.register(
    async (scope) => {
      installMlflowErrors(scope);
      scope.get('/server-info', { config: { access: 'viewer' }, schema: { hide: true } }, async () => ({
        store_type: 'SqlStore',
        workspaces_enabled: false,
        multipart_uploads_enabled: false,
        multipart_downloads_enabled: false,
      }));
    },
    { prefix: '/api/3.0/mlflow' },
  );
}

/**
 * Counts each write that succeeded in `slipway_mlflow_writes_total{operation}`: a route that needs
 * more than the viewer role (searches are POSTs, but reads), named by its path pattern (`runs/log-batch`),
 * so the label can only take the values the routes define.
 */
function countWrites(scope: FastifyInstance, metrics: Pick<Metrics, 'mlflowWrite'>, prefix: string): void {
  scope.addHook('onResponse', async (request, reply) => {
    const { access } = request.routeOptions.config;
    if (access === undefined || access === 'viewer' || access === 'public' || reply.statusCode >= 400) return;
    const route = request.routeOptions.url ?? '';
    metrics.mlflowWrite(route.startsWith(prefix) ? route.slice(prefix.length) : route);
  });
}
