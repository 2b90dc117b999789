import { type Static, Type } from '@sinclair/typebox';
import type { Model, ModelVersion } from '../domain/model.js';
import { DATATYPES } from '../domain/signature.js';

/** JSON shapes of the control API (snake_case on the wire), shared by routes and the OpenAPI document. */
export const ErrorSchema = Type.Object(
  {
    error: Type.String({ description: 'What was wrong and what was expected.' }),
    code: Type.String({ description: 'Stable error code; see docs/errors.md.' }),
    request_id: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'Error' },
);

const TensorSpecSchema = Type.Object({
  name: Type.String(),
  datatype: Type.Union(DATATYPES.map((d) => Type.Literal(d))),
  shape: Type.Array(Type.Integer(), { description: '-1 marks a dimension of any size.' }),
});

export const ModelSchema = Type.Object(
  {
    name: Type.String(),
    description: Type.String(),
    tags: Type.Record(Type.String(), Type.String()),
    latest_version: Type.Integer(),
    aliases: Type.Record(Type.String(), Type.Integer()),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'Model' },
);

export const VersionSchema = Type.Object(
  {
    model: Type.String(),
    version: Type.Integer(),
    status: Type.Union([Type.Literal('PENDING'), Type.Literal('READY'), Type.Literal('FAILED')]),
    description: Type.String(),
    sha256: Type.String(),
    size_bytes: Type.Integer(),
    signature: Type.Object({
      inputs: Type.Array(TensorSpecSchema),
      outputs: Type.Array(TensorSpecSchema),
      labels: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Number()]))),
    }),
    inputs: Type.Array(
      Type.Object({
        name: Type.String(),
        nullable: Type.Boolean(),
        description: Type.Optional(Type.String()),
      }),
      { description: 'How each input treats null (manifest `inputs`).' },
    ),
    metrics: Type.Record(Type.String(), Type.Number()),
    tags: Type.Record(Type.String(), Type.String()),
    task: Type.Union([Type.String(), Type.Null()]),
    lineage: Type.Object({
      uploader: Type.String(),
      run_id: Type.Union([Type.String(), Type.Null()]),
      git_commit: Type.Union([Type.String(), Type.Null()]),
      dataset: Type.Union([Type.String(), Type.Null()]),
    }),
    sample: Type.Array(Type.Record(Type.String(), Type.Unknown())),
    aliases: Type.Array(Type.String()),
    created_at: Type.String({ format: 'date-time' }),
    servable: Type.Boolean({
      description: 'False for a version stored as bytes that Slipway never loads (a non-ONNX MLflow flavor).',
    }),
    unservable_reason: Type.Optional(Type.String({ description: 'Why the version cannot serve.' })),
  },
  { $id: 'ModelVersion' },
);

export type WireModel = Static<typeof ModelSchema>;
export type WireVersion = Static<typeof VersionSchema>;

export function toWireModel(model: Model): WireModel {
  return {
    name: model.name,
    description: model.description,
    tags: { ...model.tags },
    latest_version: model.latestVersion,
    aliases: { ...model.aliases },
    created_at: model.createdAt,
    updated_at: model.updatedAt,
  };
}

export function toWireVersion(version: ModelVersion): WireVersion {
  const { signature } = version;
  return {
    model: version.model,
    version: version.version,
    status: version.status,
    description: version.description,
    sha256: version.sha256,
    size_bytes: version.sizeBytes,
    signature: {
      inputs: signature.inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape: [...shape] })),
      outputs: signature.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape: [...shape] })),
      ...(signature.labels ? { labels: [...signature.labels] } : {}),
    },
    inputs: version.inputPolicies.map((p) => ({ ...p })),
    metrics: { ...version.metrics },
    tags: { ...version.tags },
    task: version.task,
    lineage: {
      uploader: version.lineage.uploader,
      run_id: version.lineage.runId,
      git_commit: version.lineage.gitCommit,
      dataset: version.lineage.dataset,
    },
    sample: version.sample.map((row) => ({ ...row })),
    aliases: [...version.aliases],
    created_at: version.createdAt,
    servable: !version.unservableReason,
    ...(version.unservableReason ? { unservable_reason: version.unservableReason } : {}),
  };
}
