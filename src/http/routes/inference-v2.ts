import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ModelVersion } from '../../domain/model.js';
import { assertModelName, parseVersionNumber } from '../../domain/names.js';
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

/**
 * Open Inference Protocol (KServe V2 / Triton HTTP): server and model health, metadata and infer,
 * each with and without an explicit version segment.
 */
export async function inferenceV2Routes(app: FastifyInstance, services: HttpServices): Promise<void> {
  const { dataPlane, registry } = services;
  const tags = ['inference (Open Inference Protocol)'];

  app.get('/v2', { schema: { tags, summary: 'Server metadata' } }, async () => ({
    name: 'slipway',
    version: services.version,
    extensions: [],
  }));
  app.get('/v2/health/live', { schema: { tags, summary: 'Server liveness' } }, async () => ({ live: true }));
  app.get('/v2/health/ready', { schema: { tags, summary: 'Server readiness' } }, async (_request, reply) => {
    const ready = services.isReady();
    return reply.status(ready ? 200 : 503).send({ ready });
  });

  const metadata = async (model: string, version: number | undefined) => {
    const served = await dataPlane.resolve(model, version);
    const ready = await registry.store.listVersions({ model, status: 'READY', limit: 1000 });
    return {
      name: model,
      versions: ready.items.map((v) => String(v.version)),
      platform: 'onnxruntime_onnx',
      inputs: served.signature.inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
      outputs: served.signature.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    };
  };
  app.get(
    '/v2/models/:model',
    { schema: { tags, summary: 'Model metadata', params: ModelParams, response: errors } },
    async (request) => metadata(modelOf(request.params), undefined),
  );
  app.get(
    '/v2/models/:model/versions/:version',
    { schema: { tags, summary: 'Model version metadata', params: VersionParams, response: errors } },
    async (request) => metadata(modelOf(request.params), versionOf(request.params)),
  );

  const readiness = async (model: string, version: number | undefined, reply: FastifyReply) => {
    const served = await dataPlane.resolve(model, version);
    return reply.send({ name: model, version: String(served.version), ready: true });
  };
  app.get(
    '/v2/models/:model/ready',
    { schema: { tags, summary: 'Model readiness', params: ModelParams, response: errors } },
    (request, reply) => readiness(modelOf(request.params), undefined, reply),
  );
  app.get(
    '/v2/models/:model/versions/:version/ready',
    { schema: { tags, summary: 'Model version readiness', params: VersionParams, response: errors } },
    (request, reply) => readiness(modelOf(request.params), versionOf(request.params), reply),
  );

  const infer = async (
    model: string,
    version: number | undefined,
    body: InferRequest,
    requestId: string,
    reply: FastifyReply,
  ) => {
    const result = await dataPlane.infer({
      model,
      ...(version !== undefined ? { version } : {}),
      inputs: { kind: 'tensors', tensors: body.inputs },
      ...(body.outputs ? { outputs: body.outputs.map((o) => o.name) } : {}),
      onVersion: (version) => setVersionHeader(reply, version),
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
    { schema: { tags, summary: 'Infer', params: ModelParams, body: InferRequest, response: errors } },
    (request, reply) =>
      infer(modelOf(request.params), undefined, request.body as InferRequest, request.id, reply),
  );
  app.post(
    '/v2/models/:model/versions/:version/infer',
    {
      schema: {
        tags,
        summary: 'Infer with a version',
        params: VersionParams,
        body: InferRequest,
        response: errors,
      },
    },
    (request, reply) =>
      infer(
        modelOf(request.params),
        versionOf(request.params),
        request.body as InferRequest,
        request.id,
        reply,
      ),
  );
}

export function setVersionHeader(reply: FastifyReply, version: ModelVersion): void {
  void reply.header('x-slipway-model-version', String(version.version));
}

const modelOf = (params: unknown) => assertModelName((params as { model: string }).model, 'model');
const versionOf = (params: unknown) => parseVersionNumber((params as { version: string }).version);
