import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ModelVersion } from '../../domain/model.js';
import { assertModelName, parseVersionOrTag } from '../../domain/names.js';
import type { Revision } from '../../domain/revision.js';
import { toTensorOutputs } from '../../serving/output-encoder.js';
import type { HttpServices } from '../services.js';
import { ErrorSchema } from '../wire.js';

const Parameters = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]));
const InferRequest = Type.Object(
  {
    id: Type.Optional(Type.String({ maxLength: 256 })),
    parameters: Type.Optional(Parameters),
    inputs: Type.Array(
      Type.Object(
        {
          name: Type.String({ maxLength: 256 }),
          shape: Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 32 }),
          datatype: Type.String({ maxLength: 16 }),
          parameters: Type.Optional(Parameters),
          data: Type.Array(Type.Unknown(), { description: 'Row-major values, nested or flat.' }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1024 },
    ),
    outputs: Type.Optional(
      Type.Array(
        Type.Object({ name: Type.String({ maxLength: 256 }), parameters: Type.Optional(Parameters) }),
        { maxItems: 1024 },
      ),
    ),
  },
  { additionalProperties: false },
);
type InferRequest = Static<typeof InferRequest>;

const ModelParams = Type.Object({ model: Type.String({ maxLength: 200 }) });
const VersionParams = Type.Object({
  model: Type.String({ maxLength: 200 }),
  version: Type.String({ maxLength: 20 }),
});
const errors = { 400: ErrorSchema, 404: ErrorSchema, 503: ErrorSchema };

const viewer = { access: 'viewer' } as const;
const open = { access: 'public' } as const;

/**
 * Open Inference Protocol (KServe V2 / Triton HTTP): server and model health, metadata and infer,
 * each with and without an explicit version segment. Registered twice in all-in-one mode: at the
 * plain paths for the default environment, and under `/envs/{env}` for each environment.
 */
export async function inferenceV2Routes(app: FastifyInstance, services: HttpServices): Promise<void> {
  const { dataPlane } = services;
  const tags = ['inference (Open Inference Protocol)'];

  app.get('/v2', { config: open, schema: { tags, summary: 'Server metadata' } }, async () => ({
    name: 'slipway',
    version: services.version,
    extensions: [],
  }));
  app.get('/v2/health/live', { config: open, schema: { tags, summary: 'Server liveness' } }, async () => ({
    live: true,
  }));
  app.get(
    '/v2/health/ready',
    { config: open, schema: { tags, summary: 'Server readiness' } },
    async (_request, reply) => {
      const ready = services.isReady();
      return reply.status(ready ? 200 : 503).send({ ready });
    },
  );

  const metadata = async (request: FastifyRequest, version: number | string | undefined) => {
    const model = modelOf(request.params);
    const environment = environmentOf(request, services);
    const served = await dataPlane.resolve(environment, model, version);
    const revision = await dataPlane.revision(environment, model);
    return {
      name: model,
      versions: revision.traffic.map((share) => String(share.version)),
      platform: 'onnxruntime_onnx',
      inputs: served.signature.inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
      outputs: served.signature.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    };
  };
  app.get(
    '/v2/models/:model',
    { config: viewer, schema: { tags, summary: 'Model metadata', params: ModelParams, response: errors } },
    async (request) => metadata(request, undefined),
  );
  app.get(
    '/v2/models/:model/versions/:version',
    {
      config: viewer,
      schema: { tags, summary: 'Model version metadata', params: VersionParams, response: errors },
    },
    async (request) => metadata(request, versionOf(request.params)),
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
    { config: viewer, schema: { tags, summary: 'Model readiness', params: ModelParams, response: errors } },
    (request, reply) => readiness(request, undefined, reply),
  );
  app.get(
    '/v2/models/:model/versions/:version/ready',
    {
      config: viewer,
      schema: { tags, summary: 'Model version readiness', params: VersionParams, response: errors },
    },
    (request, reply) => readiness(request, versionOf(request.params), reply),
  );

  const infer = async (
    request: FastifyRequest,
    version: number | string | undefined,
    reply: FastifyReply,
  ) => {
    const model = modelOf(request.params);
    const body = request.body as InferRequest;
    const requestId = request.id;
    const result = await dataPlane.infer({
      model,
      environment: environmentOf(request, services),
      ...(version !== undefined ? { version } : {}),
      ...routeKeyOf(request),
      inputs: { kind: 'tensors', tensors: body.inputs },
      ...(body.outputs ? { outputs: body.outputs.map((o) => o.name) } : {}),
      onVersion: (version, revision) => setVersionHeader(reply, version, revision),
    });
    return {
      model_name: model,
      model_version: String(result.version.version),
      id: body.id ?? requestId,
      outputs: toTensorOutputs(result.outputs),
    };
  };
  app.post(
    '/v2/models/:model/infer',
    {
      config: viewer,
      schema: { tags, summary: 'Infer', params: ModelParams, body: InferRequest, response: errors },
    },
    (request, reply) => infer(request, undefined, reply),
  );
  app.post(
    '/v2/models/:model/versions/:version/infer',
    {
      config: viewer,
      schema: {
        tags,
        summary: 'Infer with a version (or a revision tag)',
        params: VersionParams,
        body: InferRequest,
        response: errors,
      },
    },
    (request, reply) => infer(request, versionOf(request.params), reply),
  );
}

/** Names the version that answered and the revision that routed to it, on every response. */
export function setVersionHeader(reply: FastifyReply, version: ModelVersion, revision: Revision): void {
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
