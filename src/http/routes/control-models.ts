import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { parseManifest } from '../../domain/manifest.js';
import { assertAliasName, assertModelName, parseVersionNumber } from '../../domain/names.js';
import { echo, SlipwayError } from '../../errors/index.js';
import { contextOf } from '../auth.js';
import type { HttpServices } from '../services.js';
import { ErrorSchema, ModelSchema, toWireModel, toWireVersion, VersionSchema } from '../wire.js';

const errors = { 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema };
const Limit = Type.Optional(
  Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000 (default 100).' }),
);
const PageToken = Type.Optional(
  Type.String({ maxLength: 200, description: 'next_page_token of the previous page.' }),
);
const ModelParams = Type.Object({ model: Type.String({ maxLength: 200 }) });
const VersionParams = Type.Object({
  model: Type.String({ maxLength: 200 }),
  version: Type.String({ maxLength: 20 }),
});
const AliasParams = Type.Object({
  model: Type.String({ maxLength: 200 }),
  alias: Type.String({ maxLength: 100 }),
});
const VersionFilters = {
  status: Type.Optional(Type.Union([Type.Literal('PENDING'), Type.Literal('READY'), Type.Literal('FAILED')])),
  tag: Type.Optional(
    Type.String({ maxLength: 500, description: '`key=value`, or `key` alone to match any value.' }),
  ),
  uploader: Type.Optional(Type.String({ maxLength: 200 })),
  run_id: Type.Optional(Type.String({ maxLength: 200 })),
  limit: Limit,
  page_token: PageToken,
};
const VersionPage = Type.Object({
  versions: Type.Array(VersionSchema),
  next_page_token: Type.Union([Type.String(), Type.Null()]),
});

/** The control API for models, versions and aliases under /api/v1. */
export async function controlModelRoutes(app: FastifyInstance, services: HttpServices): Promise<void> {
  const { registry, config } = services;
  const tags = ['models'];

  app.get(
    '/api/v1/models',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: 'List models',
        querystring: Type.Object({
          search: Type.Optional(Type.String({ maxLength: 200, description: 'Substring of the name.' })),
          tag: VersionFilters.tag,
          limit: Limit,
          page_token: PageToken,
        }),
        response: {
          200: Type.Object({
            models: Type.Array(ModelSchema),
            next_page_token: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const query = request.query as { search?: string; tag?: string; limit?: string; page_token?: string };
      const page = await registry.store.listModels({
        ...(query.search ? { search: query.search } : {}),
        ...(query.tag ? { tag: query.tag } : {}),
        ...pageOf(query),
      });
      return { models: page.items.map(toWireModel), next_page_token: page.nextPageToken };
    },
  );

  const CreateModel = Type.Object(
    {
      name: Type.String({ description: 'Lowercase letters, digits, `-`, `_`, `.`; at most 128 characters.' }),
      description: Type.Optional(Type.String({ maxLength: 5000 })),
      tags: Type.Optional(Type.Record(Type.String(), Type.String())),
    },
    { additionalProperties: false },
  );
  app.post(
    '/api/v1/models',
    {
      config: { access: 'developer' },
      schema: {
        tags,
        summary: 'Create a model',
        body: CreateModel,
        response: { 201: ModelSchema, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body as Static<typeof CreateModel>;
      const model = await registry.createModel(
        {
          name: body.name,
          ...(body.description !== undefined ? { description: body.description } : {}),
          ...(body.tags ? { tags: body.tags } : {}),
        },
        contextOf(request),
      );
      return reply.status(201).send(toWireModel(model));
    },
  );

  app.get(
    '/api/v1/models/:model',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: 'Get a model',
        params: ModelParams,
        response: { 200: ModelSchema, ...errors },
      },
    },
    async (request) => toWireModel(await registry.store.getModel(modelName(request.params))),
  );

  app.post(
    '/api/v1/models/:model/versions',
    {
      config: { access: 'developer' },
      schema: {
        tags,
        summary: 'Upload a version',
        description:
          'multipart/form-data with optional text fields `manifest` (JSON), `description` and `sha256`, then the file field `model` (the ONNX file). The file is streamed to disk, validated, loaded and warmed with the manifest sample before the version is numbered and marked READY.',
        consumes: ['multipart/form-data'],
        params: ModelParams,
        response: { 201: VersionSchema, ...errors, 413: ErrorSchema, 415: ErrorSchema, 422: ErrorSchema },
      },
    },
    async (request, reply) => {
      const model = modelName(request.params);
      if (!request.isMultipart()) {
        throw new SlipwayError(
          'UNSUPPORTED_MEDIA_TYPE',
          'Upload a version as multipart/form-data with the ONNX file in the field "model".',
        );
      }
      const fields: Record<string, string> = {};
      // Fields must come before the file: the file is streamed straight through validation.
      for await (const part of request.parts({
        limits: { fileSize: config.maxUploadBytes + 1, files: 1, fields: 10, fieldSize: 4 * 1024 * 1024 },
      })) {
        if (part.type === 'field') {
          if (!['manifest', 'description', 'sha256'].includes(part.fieldname)) {
            throw new SlipwayError(
              'INVALID_ARGUMENT',
              `Unknown form field ${echo(part.fieldname)}; expected manifest, description, sha256 and the file field model.`,
              {
                field: part.fieldname,
              },
            );
          }
          fields[part.fieldname] = String(part.value);
          continue;
        }
        if (part.fieldname !== 'model') {
          throw new SlipwayError(
            'INVALID_ARGUMENT',
            `File field ${echo(part.fieldname)} is not expected; send the ONNX file in the field "model".`,
            {
              field: part.fieldname,
            },
          );
        }
        if (fields.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(fields.sha256)) {
          throw new SlipwayError('INVALID_ARGUMENT', 'sha256 must be 64 hexadecimal characters.', {
            field: 'sha256',
          });
        }
        const version = await registry.pushVersion(
          model,
          part.file,
          {
            ...(fields.manifest !== undefined ? { manifest: parseManifest(fields.manifest) } : {}),
            ...(fields.description !== undefined ? { description: fields.description } : {}),
            ...(fields.sha256 !== undefined ? { expectedSha256: fields.sha256 } : {}),
          },
          contextOf(request),
        );
        return reply.status(201).send(toWireVersion(version));
      }
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        'The upload has no file field "model"; expected the ONNX file there.',
        { field: 'model' },
      );
    },
  );

  app.get(
    '/api/v1/models/:model/versions',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: "List a model's versions, newest first",
        params: ModelParams,
        querystring: Type.Object(VersionFilters),
        response: { 200: VersionPage, ...errors },
      },
    },
    async (request) => {
      const model = modelName(request.params);
      return versionPage(await registry.store.listVersions({ model, ...versionFilters(request.query) }));
    },
  );

  app.get(
    '/api/v1/versions',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: 'Search versions across models',
        querystring: Type.Object({
          model: Type.Optional(Type.String({ maxLength: 200 })),
          ...VersionFilters,
        }),
        response: { 200: VersionPage, ...errors },
      },
    },
    async (request) => {
      const query = request.query as { model?: string };
      const model = query.model === undefined ? {} : { model: assertModelName(query.model, 'model') };
      return versionPage(await registry.store.listVersions({ ...model, ...versionFilters(request.query) }));
    },
  );

  app.get(
    '/api/v1/models/:model/versions/:version',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: 'Get a version',
        params: VersionParams,
        response: { 200: VersionSchema, ...errors },
      },
    },
    async (request) => {
      const params = request.params as Static<typeof VersionParams>;
      return toWireVersion(
        await registry.store.getVersion(modelName(params), parseVersionNumber(params.version)),
      );
    },
  );

  const AliasBody = Type.Object({ version: Type.Integer({ minimum: 1 }) }, { additionalProperties: false });
  const AliasResult = Type.Object({
    model: Type.String(),
    alias: Type.String(),
    version: Type.Integer(),
    previous_version: Type.Union([Type.Integer(), Type.Null()]),
  });
  app.put(
    '/api/v1/models/:model/aliases/:alias',
    {
      config: { access: 'developer' },
      schema: {
        tags,
        summary: 'Point an alias at a version',
        params: AliasParams,
        body: AliasBody,
        response: { 200: AliasResult, ...errors },
      },
    },
    async (request) => {
      const params = request.params as Static<typeof AliasParams>;
      const { version } = request.body as Static<typeof AliasBody>;
      const model = modelName(params);
      const { previous } = await registry.setAlias(model, params.alias, version, contextOf(request));
      return { model, alias: params.alias, version, previous_version: previous };
    },
  );

  app.get(
    '/api/v1/models/:model/aliases/:alias',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: 'Get the version an alias points at',
        params: AliasParams,
        response: { 200: VersionSchema, ...errors },
      },
    },
    async (request) => {
      const params = request.params as Static<typeof AliasParams>;
      const model = modelName(params);
      const version = await registry.store.resolveAlias(model, assertAliasName(params.alias));
      return toWireVersion(await registry.store.getVersion(model, version));
    },
  );

  app.delete(
    '/api/v1/models/:model/aliases/:alias',
    {
      config: { access: 'developer' },
      schema: {
        tags,
        summary: 'Delete an alias',
        params: AliasParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const params = request.params as Static<typeof AliasParams>;
      await registry.deleteAlias(modelName(params), params.alias, contextOf(request));
      return reply.status(204).send();
    },
  );
}

function modelName(params: unknown): string {
  return assertModelName((params as { model: string }).model, 'model');
}

function pageOf(query: { limit?: string; page_token?: string }): { limit?: number; pageToken?: string } {
  return {
    ...(query.limit !== undefined ? { limit: Number(query.limit) } : {}),
    ...(query.page_token !== undefined ? { pageToken: query.page_token } : {}),
  };
}

function versionFilters(query: unknown) {
  const q = query as {
    status?: 'PENDING' | 'READY' | 'FAILED';
    tag?: string;
    uploader?: string;
    run_id?: string;
    limit?: string;
    page_token?: string;
  };
  return {
    ...(q.status ? { status: q.status } : {}),
    ...(q.tag ? { tag: q.tag } : {}),
    ...(q.uploader ? { uploader: q.uploader } : {}),
    ...(q.run_id ? { runId: q.run_id } : {}),
    ...pageOf(q),
  };
}

function versionPage(page: {
  items: readonly import('../../domain/model.js').ModelVersion[];
  nextPageToken: string | null;
}) {
  return { versions: page.items.map(toWireVersion), next_page_token: page.nextPageToken };
}
