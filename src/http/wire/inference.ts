import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Nullable, PathName } from './common.js';

/**
 * The inference area: service health, the Open Inference Protocol (KServe V2 / Triton HTTP) and
 * KServe V1 row predictions. Field names follow those protocols, which clients of other servers read.
 */

const LoadState = Type.Union(['LOADING', 'READY', 'FAILED', 'NONE'].map((s) => Type.Literal(s)));

export const HealthSchema = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded')]),
  version: Type.String(),
  model_loaded: Type.Boolean({ description: 'Whether any deployment here has a loaded version.' }),
  ready: Type.Boolean(),
  models: Type.Array(
    Type.Object({
      model: Type.String(),
      environment: Type.String(),
      revision: Nullable(Type.Integer()),
      versions: Type.Array(
        Type.Object({ version: Type.Integer(), percent: Type.Integer(), state: LoadState }),
      ),
      state: LoadState,
    }),
  ),
});

export const ServerMetadata = Type.Object({
  name: Type.String(),
  version: Type.String(),
  extensions: Type.Array(Type.String()),
});
export const ServerLive = Type.Object({ live: Type.Boolean() });
export const ServerReady = Type.Object({ ready: Type.Boolean() });

const TensorMetadata = Type.Object({
  name: Type.String(),
  datatype: Type.String(),
  shape: Type.Array(Type.Integer()),
});
export const ModelMetadata = Type.Object({
  name: Type.String(),
  versions: Type.Array(Type.String(), { description: 'The versions the deployment routes traffic to.' }),
  platform: Type.String(),
  inputs: Type.Array(TensorMetadata),
  outputs: Type.Array(TensorMetadata),
});
export const ModelReadiness = Type.Object({
  name: Type.String(),
  version: Type.String(),
  ready: Type.Boolean(),
});

const TritonTensor = Type.Object({
  name: Type.String(),
  data_type: Type.String(),
  dims: Type.Array(Type.Integer()),
});
/** Triton's model configuration, as far as Slipway fills it in. */
export const ModelConfig = Type.Object({
  name: Type.String(),
  platform: Type.Literal('onnxruntime_onnx'),
  backend: Type.Literal('onnxruntime'),
  max_batch_size: Type.Integer(),
  input: Type.Array(TritonTensor),
  output: Type.Array(TritonTensor),
  dynamic_batching: Type.Optional(
    Type.Object({
      max_queue_delay_microseconds: Type.Integer(),
      preferred_batch_size: Type.Optional(Type.Array(Type.Integer())),
    }),
  ),
});

export const ModelParams = Type.Object({ model: PathName });
export const VersionParams = Type.Object({ model: PathName, version: Type.String({ maxLength: 20 }) });

const Parameters = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]));
const TensorData = Type.Array(Type.Unknown(), { description: 'Row-major values, nested or flat.' });
/** The request schema; `data` is optional in the JSON header of a binary request (binary inputs have none). */
const inferRequest = <D extends TSchema>(data: D) =>
  Type.Object(
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
            data,
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
/** An Open Inference Protocol request with JSON tensors. */
export const InferRequest = inferRequest(TensorData);
/** The JSON header of a binary tensor data request: inputs sent as bytes carry no `data`. */
export const InferHeader = inferRequest(Type.Optional(TensorData));

/** A JSON inference answer (binary answers are the same header followed by raw tensors). */
export const InferResponse = Type.Object({
  model_name: Type.String(),
  model_version: Type.String(),
  id: Type.String(),
  outputs: Type.Array(
    Type.Object({
      name: Type.String(),
      datatype: Type.String(),
      shape: Type.Array(Type.Integer()),
      data: Type.Array(Type.Unknown()),
    }),
  ),
});

export const PredictParams = Type.Object({
  target: Type.String({ maxLength: 220, description: '`{model}:predict`' }),
});
export const PredictRequest = Type.Object(
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
export const PredictResponse = Type.Object({
  predictions: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
    description: 'One object per row, keyed by output name.',
  }),
});
export const V1ModelList = Type.Object({ models: Type.Array(Type.String()) });

export type WireHealth = Static<typeof HealthSchema>;
export type WireModelMetadata = Static<typeof ModelMetadata>;
export type WireInferRequest = Static<typeof InferRequest>;
export type WireInferHeader = Static<typeof InferHeader>;
export type WirePredictResponse = Static<typeof PredictResponse>;
