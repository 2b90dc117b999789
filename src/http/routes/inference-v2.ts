import { TypeCompiler } from '@sinclair/typebox/compiler';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
  onResponseHookHandler,
} from 'fastify';
import type { ModelVersion } from '../../domain/model.js';
import { assertModelName, parseVersionOrTag } from '../../domain/names.js';
import type { Revision } from '../../domain/revision.js';
import { SlipwayError } from '../../errors/index.js';
import type { Protocol } from '../../observability/metrics.js';
import { type RequestTrace, type Tracing, traceClock } from '../../observability/tracing.js';
import { servedModelConfig } from '../../serving/model-config.js';
import { toTensorOutputs } from '../../serving/output-encoder.js';
import {
  assertNoBinaryInputs,
  binaryOutputChooser,
  encodeBinaryResponse,
  INFERENCE_HEADER_CONTENT_LENGTH,
  splitBinaryBody,
  withBinaryInputs,
} from '../binary-tensors.js';
import { noteServed } from '../request-metrics.js';
import type { HttpServices } from '../services.js';
import type { TypeBoxTypeProvider } from '../type-provider.js';
import { errorResponses } from '../wire/common.js';
import {
  InferHeader,
  InferRequest,
  InferResponse,
  ModelConfig,
  ModelMetadata,
  ModelParams,
  ModelReadiness,
  ServerLive,
  ServerMetadata,
  ServerReady,
  VersionParams,
  type WireInferHeader,
  type WireInferRequest,
  type WireModelMetadata,
} from '../wire/inference.js';

const checkInferHeader = TypeCompiler.Compile(InferHeader);

declare module 'fastify' {
  interface FastifyRequest {
    /** The prediction's trace while tracing is on, else null. */
    trace: RequestTrace | null;
  }
}

const errors = errorResponses(400, 404, 503);

const viewer = { access: 'viewer' } as const;
/** Inference: tritonclient sends its bodies without a Content-Type (see the request guard). */
const inference = { access: 'viewer', untypedBody: true, prediction: 'v2' } as const;
const open = { access: 'public' } as const;

/**
 * Open Inference Protocol (KServe V2 / Triton HTTP): server and model health, metadata and infer,
 * each with and without an explicit version segment. Registered twice in all-in-one mode: at the
 * plain paths for the default environment, and under `/envs/{env}` for each environment.
 */
export async function inferenceV2Routes(scope: FastifyInstance, services: HttpServices): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const id = operationIdOf(app);
  const { dataPlane } = services;
  const tags = ['inference (Open Inference Protocol)'];
  const traced = tracedRoute(app, services.tracing, 'v2');

  // Bodies of the binary tensor data extension (a JSON header, then raw tensor bytes). Only these
  // routes accept them: everywhere else octet-stream stays a 415.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );

  app.get(
    '/v2',
    {
      config: open,
      schema: {
        tags,
        operationId: id('serverMetadata'),
        summary: 'Server metadata',
        response: { 200: ServerMetadata },
      },
    },
    async () => ({ name: 'slipway', version: services.version, extensions: EXTENSIONS }),
  );
  app.get(
    '/v2/health/live',
    {
      config: open,
      schema: {
        tags,
        operationId: id('serverLive'),
        summary: 'Server liveness',
        response: { 200: ServerLive },
      },
    },
    async () => ({ live: true }),
  );
  app.get(
    '/v2/health/ready',
    {
      config: open,
      schema: {
        tags,
        operationId: id('serverReady'),
        summary: 'Server readiness',
        response: { 200: ServerReady, 503: ServerReady },
      },
    },
    async (_request, reply) => {
      const ready = services.isReady();
      return reply.status(ready ? 200 : 503).send({ ready });
    },
  );

  const metadata = (
    request: FastifyRequest,
    version: number | string | undefined,
  ): Promise<WireModelMetadata> =>
    dataPlane.metadata(environmentOf(request, services), modelOf(request.params), version);
  app.get(
    '/v2/models/:model',
    {
      config: viewer,
      schema: {
        tags,
        operationId: id('modelMetadata'),
        summary: 'Model metadata',
        params: ModelParams,
        response: { 200: ModelMetadata, ...errors },
      },
    },
    async (request) => metadata(request, undefined),
  );
  app.get(
    '/v2/models/:model/versions/:version',
    {
      config: viewer,
      schema: {
        tags,
        operationId: id('modelVersionMetadata'),
        summary: 'Model version metadata',
        params: VersionParams,
        response: { 200: ModelMetadata, ...errors },
      },
    },
    async (request) => metadata(request, versionOf(request.params)),
  );

  // Triton's model configuration (the model_configuration extension); perf_analyzer needs it.
  const config = async (request: FastifyRequest, version: number | string | undefined) => {
    const model = modelOf(request.params);
    const served = await dataPlane.resolve(environmentOf(request, services), model, version);
    return servedModelConfig(model, served.signature, services.config.batching(model));
  };
  app.get(
    '/v2/models/:model/config',
    {
      config: viewer,
      schema: {
        tags,
        operationId: id('modelConfig'),
        summary: 'Model configuration (Triton)',
        params: ModelParams,
        response: { 200: ModelConfig, ...errors },
      },
    },
    async (request) => config(request, undefined),
  );
  app.get(
    '/v2/models/:model/versions/:version/config',
    {
      config: viewer,
      schema: {
        tags,
        operationId: id('modelVersionConfig'),
        summary: 'Model version configuration (Triton)',
        params: VersionParams,
        response: { 200: ModelConfig, ...errors },
      },
    },
    async (request) => config(request, versionOf(request.params)),
  );

  const readiness = async (
    request: FastifyRequest,
    version: number | string | undefined,
    reply: FastifyReply,
  ) => {
    const model = modelOf(request.params);
    const served = await dataPlane.resolve(environmentOf(request, services), model, version);
    return reply.send({ name: model, version: String(served.version), ready: true });
  };
  app.get(
    '/v2/models/:model/ready',
    {
      config: viewer,
      schema: {
        tags,
        operationId: id('modelReady'),
        summary: 'Model readiness',
        params: ModelParams,
        response: { 200: ModelReadiness, ...errors },
      },
    },
    (request, reply) => readiness(request, undefined, reply),
  );
  app.get(
    '/v2/models/:model/versions/:version/ready',
    {
      config: viewer,
      schema: {
        tags,
        operationId: id('modelVersionReady'),
        summary: 'Model version readiness',
        params: VersionParams,
        response: { 200: ModelReadiness, ...errors },
      },
    },
    (request, reply) => readiness(request, versionOf(request.params), reply),
  );

  const infer = async (
    request: FastifyRequest,
    version: number | string | undefined,
    reply: FastifyReply,
  ) => {
    const model = modelOf(request.params);
    const body = request.body as WireInferRequest;
    const isBinary = binaryOutputChooser(body);
    const result = await dataPlane.infer({
      model,
      environment: environmentOf(request, services),
      ...(version !== undefined ? { version } : {}),
      ...routeKeyOf(request),
      inputs: { kind: 'tensors', tensors: body.inputs },
      ...(body.outputs ? { outputs: body.outputs.map((o) => o.name) } : {}),
      requestId: request.id,
      onVersion: (version, revision) => setVersionHeader(reply, version, revision),
      trace: request.trace,
    });
    const response = {
      model_name: model,
      model_version: String(result.version.version),
      id: body.id ?? request.id,
    };
    const { trace } = request;
    const encodeStart = trace ? traceClock() : 0;
    const binary = encodeBinaryResponse(response, result.outputs, isBinary);
    if (!binary) {
      const outputs = toTensorOutputs(result.outputs);
      trace?.encoded(encodeStart, traceClock());
      return { ...response, outputs };
    }
    trace?.encoded(encodeStart, traceClock());
    return reply
      .header(INFERENCE_HEADER_CONTENT_LENGTH, binary.headerLength)
      .type('application/octet-stream')
      .send(binary.body);
  };
  const inferSchema = {
    tags,
    body: InferRequest,
    response: { 200: InferResponse, ...errors },
    description:
      'A JSON body, or (binary tensor data extension) a JSON header of `Inference-Header-Content-Length` bytes followed by the raw tensors of the inputs that set `parameters.binary_data_size`, sent as `application/octet-stream` or without a Content-Type. Outputs asked for with `parameters.binary_data` come back the same way.',
  };
  app.post(
    '/v2/models/:model/infer',
    {
      config: inference,
      ...traced,
      preValidation: readBinaryBody,
      schema: { ...inferSchema, operationId: id('infer'), summary: 'Infer', params: ModelParams },
    },
    (request, reply) => infer(request, undefined, reply),
  );
  app.post(
    '/v2/models/:model/versions/:version/infer',
    {
      config: inference,
      ...traced,
      preValidation: readBinaryBody,
      schema: {
        ...inferSchema,
        operationId: id('inferVersion'),
        summary: 'Infer with a version (or a revision tag)',
        params: VersionParams,
      },
    },
    (request, reply) => infer(request, versionOf(request.params), reply),
  );
}

/**
 * Names a route's operation uniquely: inference routes are registered at the plain paths and again
 * under `/envs/{env}`, where `infer` becomes `inferInEnvironment`.
 */
export function operationIdOf(app: { prefix: string }): (name: string) => string {
  return (name) => (app.prefix === '' ? name : `${name}InEnvironment`);
}

/** The Open Inference Protocol extensions Slipway implements, as `GET /v2` lists them. */
export const EXTENSIONS = ['binary_tensor_data', 'model_configuration'];

/**
 * Turns a binary-extension body into the request the JSON path would have received (binary inputs
 * read into `data`), so the route's schema and the InputDecoder check both kinds alike. The JSON
 * header is checked first, against the same schema with `data` optional, since the binary part
 * cannot be read without valid names, datatypes and shapes.
 */
async function readBinaryBody(request: FastifyRequest): Promise<void> {
  if (!Buffer.isBuffer(request.body)) {
    assertNoBinaryInputs(request.body);
    return;
  }
  const { header, binary } = splitBinaryBody(request.body, request.headers[INFERENCE_HEADER_CONTENT_LENGTH]);
  const first = checkInferHeader.Errors(header).First();
  if (first) {
    const field = first.path.slice(1).replaceAll('/', '.') || 'body';
    throw new SlipwayError('INVALID_ARGUMENT', `${field}: ${first.message}.`, { field });
  }
  const valid = header as WireInferHeader;
  request.body = { ...valid, inputs: withBinaryInputs(valid.inputs, binary) };
}

/**
 * The hooks that trace a prediction route while tracing is on (none otherwise): its trace starts when
 * the request arrived, continuing the caller's `traceparent`, and ends once the answer is sent.
 */
export function tracedRoute(
  app: FastifyInstance,
  tracing: Tracing | null,
  protocol: Protocol,
): { onRequest?: onRequestHookHandler; onResponse?: onResponseHookHandler } {
  app.decorateRequest('trace', null);
  if (tracing === null) return {};
  return {
    onRequest: async (request, reply) => {
      request.trace = tracing.startRequest({
        protocol,
        requestId: request.id,
        carrier: request.headers,
        startedAt: traceClock() - reply.elapsedTime,
      });
    },
    onResponse: async (request, reply) => {
      request.trace?.end(reply.statusCode);
    },
  };
}

/** Names the version that answered and the revision that routed to it, on every response. */
export function setVersionHeader(reply: FastifyReply, version: ModelVersion, revision: Revision): void {
  noteServed(reply, version, revision);
  reply.request.trace?.served(version.model, version.version, revision.environment, revision.number);
  void reply.header('x-slipway-model-version', String(version.version));
  void reply.header('x-slipway-environment', revision.environment);
  void reply.header('x-slipway-revision', String(revision.number));
}

/** The environment a request addresses: its `/envs/{env}` prefix, else the server's default. */
export function environmentOf(request: FastifyRequest, services: HttpServices): string {
  return (request.params as { env?: string }).env ?? services.config.defaultEnvironment;
}

/** A caller's sticky-routing key: requests with the same key keep the same version during a split. */
export const ROUTE_KEY_HEADER = 'x-slipway-route-key';
export function routeKeyOf(request: FastifyRequest): { routeKey?: string } {
  const key = request.headers[ROUTE_KEY_HEADER];
  return typeof key === 'string' && key.length > 0 && key.length <= 256 ? { routeKey: key } : {};
}

const modelOf = (params: unknown) => assertModelName((params as { model: string }).model, 'model');
const versionOf = (params: unknown) => parseVersionOrTag((params as { version: string }).version);
