import type { FastifyInstance } from 'fastify';
import { assertModelName } from '../../domain/names.js';
import { echo, SlipwayError } from '../../errors/index.js';
import { traceClock } from '../../observability/tracing.js';
import { toRowOutputs } from '../../serving/output-encoder.js';
import type { HttpServices } from '../services.js';
import type { TypeBoxTypeProvider } from '../type-provider.js';
import { errorResponses } from '../wire/common.js';
import {
  ModelParams,
  ModelReadiness,
  PredictParams,
  PredictRequest,
  PredictResponse,
  V1ModelList,
} from '../wire/inference.js';
import { environmentOf, operationIdOf, routeKeyOf, setVersionHeader, tracedRoute } from './inference-v2.js';

/** KServe V1 (TensorFlow Serving style) row predictions. */
export async function inferenceV1Routes(scope: FastifyInstance, services: HttpServices): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const id = operationIdOf(app);
  const { dataPlane } = services;
  const tags = ['inference (KServe V1)'];
  const traced = tracedRoute(app, services.tracing, 'v1');

  app.get(
    '/v1/models',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        operationId: id('listServedModels'),
        summary: 'List the models deployed here',
        response: { 200: V1ModelList, ...errorResponses(404) },
      },
    },
    async (request) => ({ models: await dataPlane.deployedModels(environmentOf(request, services)) }),
  );

  app.get(
    '/v1/models/:model',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        operationId: id('predictorReady'),
        summary: 'Model readiness',
        params: ModelParams,
        response: { 200: ModelReadiness, ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => {
      const model = assertModelName(request.params.model, 'model');
      const served = await dataPlane.resolve(environmentOf(request, services), model);
      return { name: model, version: String(served.version), ready: true };
    },
  );

  // The router cannot split "name:predict" into a parameter and a literal, so the handler does it.
  app.post(
    '/v1/models/:target',
    {
      // Predictions change nothing; a body without a Content-Type is read as JSON, as on V2.
      config: { access: 'viewer', untypedBody: true, prediction: 'v1' },
      ...traced,
      schema: {
        tags,
        operationId: id('predict'),
        summary: 'Predict: POST /v1/models/{model}:predict',
        params: PredictParams,
        body: PredictRequest,
        response: { 200: PredictResponse, ...errorResponses(400, 404, 503) },
      },
    },
    async (request, reply) => {
      const { target } = request.params;
      if (!target.endsWith(':predict')) {
        throw new SlipwayError(
          'ROUTE_NOT_FOUND',
          `No route for POST ${echo(request.url.split('?')[0])}; expected /v1/models/{model}:predict.`,
        );
      }
      const model = assertModelName(target.slice(0, -':predict'.length), 'model');
      const body = request.body;
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
        requestId: request.id,
        onVersion: (version, revision) => setVersionHeader(reply, version, revision),
        trace: request.trace,
      });
      const { trace } = request;
      const encodeStart = trace ? traceClock() : 0;
      const predictions = toRowOutputs(result.outputs, body.instances.length);
      trace?.encoded(encodeStart, traceClock());
      return { predictions };
    },
  );
}
