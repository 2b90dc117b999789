import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { parseManifest } from '../../domain/manifest.js';
import type { ModelVersion } from '../../domain/model.js';
import { assertAliasName, assertModelName, parseVersionNumber } from '../../domain/names.js';
import type { Page } from '../../domain/page.js';
import { echo, SlipwayError } from '../../errors/index.js';
import { contextOf } from '../auth.js';
import type { HttpServices } from '../services.js';
import type { TypeBoxTypeProvider } from '../type-provider.js';
import { errorResponses, NoContent, pageOf } from '../wire/common.js';
import {
  AliasBody,
  AliasParams,
  AliasResult,
  CreateModelBody,
  ModelPage,
  ModelParams,
  ModelQuery,
  ModelSchema,
  toWireModel,
  toWireVersion,
  VersionPage,
  VersionParams,
  VersionQuery,
  VersionSchema,
  VersionSearchQuery,
  type WireVersionPage,
} from '../wire/models.js';

const errors = errorResponses(400, 404, 409);
const ModelRef = Type.Ref(ModelSchema);
const VersionRef = Type.Ref(VersionSchema);

/** The control API for models, versions and aliases under /api/v1. */
export async function controlModelRoutes(scope: FastifyInstance, services: HttpServices): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { registry, config } = services;
  const tags = ['models'];

  app.get(
    '/api/v1/models',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        operationId: 'listModels',
        summary: 'List models',
        querystring: ModelQuery,
        response: { 200: ModelPage, ...errors },
      },
    },
    async (request) => {
      const { search, tag } = request.query;
      const page = await registry.listModels({
        ...(search ? { search } : {}),
        ...(tag ? { tag } : {}),
        ...pageOf(request.query),
      });
      return { models: page.items.map(toWireModel), next_page_token: page.nextPageToken };
    },
  );

  app.post(
    '/api/v1/models',
    {
      config: { access: 'developer' },
      schema: {
        tags,
        operationId: 'createModel',
        summary: 'Create a model',
        body: CreateModelBody,
        response: { 201: ModelRef, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
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
        operationId: 'getModel',
        summary: 'Get a model',
        params: ModelParams,
        response: { 200: ModelRef, ...errors },
      },
    },
    async (request) => toWireModel(await registry.getModel(modelName(request.params))),
  );

  app.post(
    '/api/v1/models/:model/versions',
    {
      config: { access: 'developer' },
      schema: {
        tags,
        operationId: 'pushVersion',
        summary: 'Upload a version',
        description:
          'multipart/form-data with optional text fields `manifest` (JSON), `description` and `sha256`, then the file field `model` (the ONNX file). The file is streamed to disk, validated, loaded and warmed with the manifest sample before the version is numbered and marked READY.',
        consumes: ['multipart/form-data'],
        params: ModelParams,
        response: { 201: VersionRef, ...errorResponses(400, 404, 409, 413, 415, 422) },
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
        operationId: 'listModelVersions',
        summary: "List a model's versions, newest first",
        params: ModelParams,
        querystring: VersionQuery,
        response: { 200: VersionPage, ...errors },
      },
    },
    async (request) => {
      const model = modelName(request.params);
      return versionPage(await registry.listVersions({ model, ...versionFilters(request.query) }));
    },
  );

  app.get(
    '/api/v1/versions',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        operationId: 'searchVersions',
        summary: 'Search versions across models',
        querystring: VersionSearchQuery,
        response: { 200: VersionPage, ...errors },
      },
    },
    async (request) => {
      const { model } = request.query;
      const filter = model === undefined ? {} : { model: assertModelName(model, 'model') };
      return versionPage(await registry.listVersions({ ...filter, ...versionFilters(request.query) }));
    },
  );

  app.get(
    '/api/v1/models/:model/versions/:version',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        operationId: 'getVersion',
        summary: 'Get a version',
        params: VersionParams,
        response: { 200: VersionRef, ...errors },
      },
    },
    async (request) =>
      toWireVersion(
        await registry.getVersion(modelName(request.params), parseVersionNumber(request.params.version)),
      ),
  );

  app.put(
    '/api/v1/models/:model/aliases/:alias',
    {
      config: { access: 'developer' },
      schema: {
        tags,
        operationId: 'setAlias',
        summary: 'Point an alias at a version',
        params: AliasParams,
        body: AliasBody,
        response: { 200: AliasResult, ...errors },
      },
    },
    async (request) => {
      const { alias } = request.params;
      const { version } = request.body;
      const model = modelName(request.params);
      const { previous } = await registry.setAlias(model, alias, version, contextOf(request));
      return { model, alias, version, previous_version: previous };
    },
  );

  app.get(
    '/api/v1/models/:model/aliases/:alias',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        operationId: 'getAlias',
        summary: 'Get the version an alias points at',
        params: AliasParams,
        response: { 200: VersionRef, ...errors },
      },
    },
    async (request) => {
      const model = modelName(request.params);
      return toWireVersion(await registry.getAliasedVersion(model, assertAliasName(request.params.alias)));
    },
  );

  app.delete(
    '/api/v1/models/:model/aliases/:alias',
    {
      config: { access: 'developer' },
      schema: {
        tags,
        operationId: 'deleteAlias',
        summary: 'Delete an alias',
        params: AliasParams,
        response: { 204: NoContent, ...errors },
      },
    },
    async (request, reply) => {
      await registry.deleteAlias(modelName(request.params), request.params.alias, contextOf(request));
      return reply.status(204).send(null);
    },
  );
}

const modelName = (params: { model: string }): string => assertModelName(params.model, 'model');

function versionFilters(query: {
  status?: 'PENDING' | 'READY' | 'FAILED';
  tag?: string;
  uploader?: string;
  run_id?: string;
  limit?: string;
  page_token?: string;
}) {
  return {
    ...(query.status ? { status: query.status } : {}),
    ...(query.tag ? { tag: query.tag } : {}),
    ...(query.uploader ? { uploader: query.uploader } : {}),
    ...(query.run_id ? { runId: query.run_id } : {}),
    ...pageOf(query),
  };
}

const versionPage = (page: Page<ModelVersion>): WireVersionPage => ({
  versions: page.items.map(toWireVersion),
  next_page_token: page.nextPageToken,
});
