import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import { SlipwayError } from '../errors/index.js';
import { DOCS, installAuth } from './auth.js';
import { INFERENCE_HEADER_CONTENT_LENGTH } from './binary-tensors.js';
import { errorBody, installErrorHandling } from './error-handler.js';
import { installRequestGuard } from './request-guard.js';
import { installRequestLog } from './request-log.js';
import { installRequestMetrics } from './request-metrics.js';
import { consoleRoutes } from './routes/console.js';
import { controlDeploymentRoutes } from './routes/control-deployments.js';
import { controlDriftRoutes } from './routes/control-drift.js';
import { controlJobRoutes } from './routes/control-jobs.js';
import { controlModelRoutes } from './routes/control-models.js';
import { healthRoutes, metricsRoutes, replicaRoutes } from './routes/health.js';
import { inferenceV1Routes } from './routes/inference-v1.js';
import { inferenceV2Routes } from './routes/inference-v2.js';
import type { HttpServices } from './services.js';
import { SHARED_SCHEMAS } from './wire/index.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** The longest path parameter the router takes (Fastify's default is 100). */
const MAX_PATH_PARAMETER = 1024;

/** Builds the HTTP server: every protocol on one port, one error format, OpenAPI at /docs. */
/**
 * Routes of another protocol that live with the module that speaks it (MLflow's REST API): registered
 * after Slipway's own, behind the same request guard, authentication and error handling.
 */
export type RoutePlugin = (scope: FastifyInstance) => Promise<void>;

export async function buildHttpServer(
  services: HttpServices,
  logger: Logger,
  plugins: readonly RoutePlugin[] = [],
): Promise<FastifyInstance> {
  const app = Fastify({
    // Query strings can carry secrets a client should never have put there; request log lines keep
    // the path only.
    loggerInstance: logger.child({}, { serializers: { req: requestForLog } }) as FastifyBaseLogger,
    bodyLimit: services.config.maxBodyBytes,
    // A caller's x-request-id is kept when it is a plain token (so it cannot forge log lines).
    genReqId: (request: IncomingMessage) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    ajv: {
      // Never coerce: "1" is not 1 and a missing field is not a default. Clients hear about it.
      customOptions: { coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false },
    },
    return503OnClosing: true,
    // installRequestLog writes the lines an operator needs instead of two lines for every request.
    logController: new LogController({ disableRequestLogging: true }),
    // Path parameters are checked by Slipway's own rules (names, versions, keys), whose errors say what
    // is expected; the router's limit only stops the absurd.
    routerOptions: { maxParamLength: MAX_PATH_PARAMETER },
    // URLs the router cannot take answer in Slipway's error format, with nothing of the URL echoed.
    frameworkErrors: (error, request, reply) => {
      const refusal = new SlipwayError(
        'INVALID_ARGUMENT',
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? `A path segment is longer than ${MAX_PATH_PARAMETER} characters.`
          : 'The URL is not valid: a percent-encoded character in its path is malformed.',
        { field: 'url' },
      );
      request.log.info({ code: refusal.code, error: refusal.message }, 'request refused');
      void (reply as unknown as FastifyReply).status(400).send(errorBody(refusal, request.id));
    },
  });

  // Host, Origin, token-in-URL and preflight-free writes are refused before anything else runs.
  installRequestGuard(app, {
    allowedHosts: services.config.allowedHosts,
    allowedOrigins: services.config.allowedOrigins,
  });
  // Only JSON (and multipart for uploads). text/plain is a body any web page can send.
  app.removeContentTypeParser('text/plain');
  // Triton's HTTP client (tritonclient, perf_analyzer) sends inference bodies without any
  // Content-Type; Triton reads them as JSON and so does Slipway. A page can send such a body too
  // (a Blob without a type), so the request guard lets it through only to routes that declare
  // `untypedBody` (inference, which changes nothing), and only from Slipway's own origin.
  app.addHook('onRequest', async (request) => {
    const { headers } = request;
    const length = headers['content-length'];
    const hasBody = (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined;
    if (!hasBody) return;
    if (carriesBinaryTensors(headers)) headers['content-type'] = 'application/octet-stream';
    else if (headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  });
  installErrorHandling(app);
  installAuth(app, {
    enabled: services.config.auth,
    tokens: services.tokens,
    audit: services.audit,
  });
  const replica = services.config.replicaName;
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    // Behind a load balancer, says which replica answered.
    reply.header('x-slipway-replica', replica);
    done(null, payload);
  });
  installRequestLog(app, {
    slowRequestMs: services.config.slowRequestMs,
    sampleRate: services.config.logSampleRate,
  });

  installRequestMetrics(app, services.metrics);

  await app.register(multipart, { throwFileSizeLimit: true });
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Slipway',
        version: services.version,
        description:
          'Model registry, serving and deployment. Errors on every route are JSON `{"error", "code", "request_id", "details"}`; codes are listed in docs/errors.md. Routes other than health and docs need `Authorization: Bearer <token>` unless the server runs in local mode; each route names the weakest role that may call it.',
      },
      components: { securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
    },
    // Shared schemas appear under their own names (`#/components/schemas/ModelVersion`).
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: DOCS });
  app.get('/api/v1/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () =>
    app.swagger(),
  );

  await app.register(async (scope) => healthRoutes(scope, services));
  await app.register(async (scope) => metricsRoutes(scope, services));
  await app.register(async (scope) => replicaRoutes(scope, services));
  // Inference at the plain paths serves the default environment; in all-in-one mode every
  // environment is also reachable under /envs/{env} (a server for one environment serves only it).
  await app.register(async (scope) => inferenceV2Routes(scope, services));
  await app.register(async (scope) => inferenceV1Routes(scope, services));
  await app.register(async (scope) => inferenceV2Routes(scope, services), { prefix: '/envs/:env' });
  await app.register(async (scope) => inferenceV1Routes(scope, services), { prefix: '/envs/:env' });
  await app.register(async (scope) => controlModelRoutes(scope, services));
  await app.register(async (scope) => controlDriftRoutes(scope, services));
  await app.register(async (scope) => controlDeploymentRoutes(scope, services));
  await app.register(async (scope) => controlJobRoutes(scope, services));
  for (const plugin of plugins) await app.register(plugin);
  // The web console at `/` (web/, built into dist/console by `make build`).
  await app.register(async (scope) => consoleRoutes(scope));
  return app;
}

/**
 * What a request log line says about the request: the path without its query (which may carry a
 * secret, see the request guard), never the headers.
 */
export function requestForLog(request: FastifyRequest): Record<string, unknown> {
  const url = request.url ?? '';
  const query = url.indexOf('?');
  return {
    method: request.method,
    url: query < 0 ? url : `${url.slice(0, query)}?…`,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/**
 * A body of the binary tensor data extension: it says how long its JSON header is, and either has
 * no Content-Type (tritonclient) or calls itself JSON while being longer than that header (a JSON
 * parser would only choke on the bytes after it). perf_analyzer's all-JSON bodies carry the header
 * equal to the whole body and stay on the JSON path.
 */
function carriesBinaryTensors(headers: IncomingHttpHeaders): boolean {
  const headerLength = headers[INFERENCE_HEADER_CONTENT_LENGTH];
  if (headerLength === undefined) return false;
  const type = headers['content-type'];
  if (type === undefined) return true;
  const json = type.split(';')[0]!.trim().toLowerCase() === 'application/json';
  return json && headerLength !== headers['content-length'];
}

/** How long shutdown waits for requests in progress before it closes their connections. */
export const SHUTDOWN_GRACE_MS = 10_000;
/** How often shutdown closes the keep-alive connections that have gone idle since it began. */
const REAP_INTERVAL_MS = 100;

/**
 * Stops the HTTP server: no new connection is accepted, requests in progress finish (for at most
 * `graceMs`), and then it resolves. Node closes idle keep-alive connections only once, when the
 * server closes; a connection whose request ends after that would stay open until its keep-alive
 * timeout (72 s), so the idle ones are closed again every 100 ms, and all of them after the grace.
 */
export async function closeHttpServer(
  app: FastifyInstance,
  logger: Logger,
  graceMs = SHUTDOWN_GRACE_MS,
): Promise<void> {
  const server = app.server;
  const reaper = setInterval(() => server.closeIdleConnections(), REAP_INTERVAL_MS);
  const deadline = setTimeout(() => {
    logger.warn(
      { graceMs },
      'requests still in progress after the shutdown grace; closing their connections',
    );
    server.closeAllConnections();
  }, graceMs);
  try {
    await app.close();
  } finally {
    clearInterval(reaper);
    clearTimeout(deadline);
  }
}
