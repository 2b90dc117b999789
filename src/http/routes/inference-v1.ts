import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { assertModelName } from '../../domain/names.js';
import { SlipwayError } from '../../errors/index.js';
import { toRowOutputs } from '../../serving/output-encoder.js';
import type { HttpServices } from '../services.js';
import { ErrorSchema } from '../wire.js';
import { environmentOf, routeKeyOf, setVersionHeader } from './inference-v2.js';

const PredictRequest = Type.Object(
  {
    instances: Type.Optional(
      Type.Array(Type.Unknown(), {
        maxItems: 100_000,
        description:
          'One entry per row: an object keyed by input name, or an array of values in input order.',
      }),
    ),
    inputs: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);
const ModelParams = Type.Object({ model: Type.String({ maxLength: 200 }) });

/** KServe V1 (TensorFlow Serving style) row predictions. */
export async function inferenceV1Routes(app: FastifyInstance, services: HttpServices): Promise<void> {
  const { dataPlane, deployments } = services;
  const tags = ['inference (KServe V1)'];

  app.get(
    '/v1/models',
    { config: { access: 'viewer' }, schema: { tags, summary: 'List the models deployed here' } },
    async (request) => {
      const environment = environmentOf(request, services);
      dataPlane.assertServes(environment);
      const revisions = await deployments.store.currentRevisions(environment);
      return { models: revisions.map((r) => r.model) };
    },
  );

  app.get(
    '/v1/models/:model',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: 'Model readiness',
        params: ModelParams,
        response: { 404: ErrorSchema, 503: ErrorSchema },
      },
    },
    async (request) => {
      const model = assertModelName((request.params as { model: string }).model, 'model');
      const served = await dataPlane.resolve(environmentOf(request, services), model);
      return { name: model, version: String(served.version), ready: true };
    },
  );

  // The router cannot split "name:predict" into a parameter and a literal, so the handler does it.
  const PredictParams = Type.Object({
    target: Type.String({ maxLength: 220, description: '`{model}:predict`' }),
  });
  app.post(
    '/v1/models/:target',
    {
      // Predictions change nothing; a body without a Content-Type is read as JSON, as on V2.
      config: { access: 'viewer', untypedBody: true },
      schema: {
        tags,
        summary: 'Predict: POST /v1/models/{model}:predict',
        params: PredictParams,
        body: PredictRequest,
        response: { 400: ErrorSchema, 404: ErrorSchema, 503: ErrorSchema },
      },
    },
    async (request, reply) => {
      const { target } = request.params as Static<typeof PredictParams>;
      if (!target.endsWith(':predict')) {
        throw new SlipwayError(
          'ROUTE_NOT_FOUND',
          `No route for POST ${request.url}; expected /v1/models/{model}:predict.`,
        );
      }
      const model = assertModelName(target.slice(0, -':predict'.length), 'model');
      const body = request.body as Static<typeof PredictRequest>;
      if (body.instances === undefined) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          body.inputs === undefined
            ? 'instances: is missing; expected {"instances": [row, ...]}.'
            : 'inputs: the columnar format is not supported; send rows as {"instances": [row, ...]}, or use the V2 protocol for tensors.',
          { field: 'instances' },
        );
      }
      const result = await dataPlane.infer({
        model,
        environment: environmentOf(request, services),
        ...routeKeyOf(request),
        inputs: { kind: 'rows', rows: body.instances },
        onVersion: (version, revision) => setVersionHeader(reply, version, revision),
      });
      return { predictions: toRowOutputs(result.outputs, body.instances.length) };
    },
  );
}
