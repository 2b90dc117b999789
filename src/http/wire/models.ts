import { type Static, Type } from '@sinclair/typebox';
import type { Model, ModelVersion } from '../../domain/model.js';
import { DATATYPES } from '../../domain/signature.js';
import { NextPageToken, Nullable, PageQuery, PathName } from './common.js';

/** The models area of the control API (`/api/v1/models`, `/api/v1/versions`), snake_case on the wire. */

const VERSION_STATUSES = ['PENDING', 'READY', 'FAILED'] as const;

/** One input or output tensor of a signature. */
export const TensorSpecSchema = Type.Object({
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
    status: Type.Union(VERSION_STATUSES.map((s) => Type.Literal(s))),
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
    task: Nullable(Type.String()),
    lineage: Type.Object({
      uploader: Type.String(),
      run_id: Nullable(Type.String()),
      git_commit: Nullable(Type.String()),
      dataset: Nullable(Type.String()),
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

export const ModelParams = Type.Object({ model: PathName });
export const VersionParams = Type.Object({ model: PathName, version: Type.String({ maxLength: 20 }) });
export const AliasParams = Type.Object({ model: PathName, alias: Type.String({ maxLength: 100 }) });

const TagFilter = Type.Optional(
  Type.String({ maxLength: 500, description: '`key=value`, or `key` alone to match any value.' }),
);
export const ModelQuery = Type.Object({
  search: Type.Optional(Type.String({ maxLength: 200, description: 'Substring of the name.' })),
  tag: TagFilter,
  ...PageQuery,
});
const versionFilters = {
  status: Type.Optional(Type.Union(VERSION_STATUSES.map((s) => Type.Literal(s)))),
  tag: TagFilter,
  uploader: Type.Optional(Type.String({ maxLength: 200 })),
  run_id: Type.Optional(Type.String({ maxLength: 200 })),
  ...PageQuery,
};
/** Filters of one model's versions. */
export const VersionQuery = Type.Object(versionFilters);
/** Filters of a search across models. */
export const VersionSearchQuery = Type.Object({ model: Type.Optional(PathName), ...versionFilters });

export const CreateModelBody = Type.Object(
  {
    name: Type.String({ description: 'Lowercase letters, digits, `-`, `_`, `.`; at most 128 characters.' }),
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    tags: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
);
export const AliasBody = Type.Object(
  { version: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
);
export const AliasResult = Type.Object({
  model: Type.String(),
  alias: Type.String(),
  version: Type.Integer(),
  previous_version: Nullable(Type.Integer()),
});

export const ModelPage = Type.Object({
  models: Type.Array(Type.Ref(ModelSchema)),
  next_page_token: NextPageToken,
});
export const VersionPage = Type.Object({
  versions: Type.Array(Type.Ref(VersionSchema)),
  next_page_token: NextPageToken,
});

export type WireModel = Static<typeof ModelSchema>;
export type WireVersion = Static<typeof VersionSchema>;
export type WireModelPage = Static<typeof ModelPage>;
export type WireVersionPage = Static<typeof VersionPage>;
export type WireAliasResult = Static<typeof AliasResult>;

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
