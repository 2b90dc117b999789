import type { FastifyInstance } from 'fastify';
import { assertAliasName } from '../../domain/names.js';
import { contextOf } from '../../http/auth.js';
import type { RegistryService } from '../../registry/registry-service.js';
import { canonicalName, type MlflowService } from '../mlflow-service.js';
import { endpoint, optionalPaging, withToken } from './endpoint.js';
import { invalid, versionNumber, wireRegisteredModel, wireVersion } from './mlflow-wire.js';

/**
 * The MLflow model registry under /api/2.0/mlflow: registered models, versions, aliases and tags,
 * all of them Slipway's own models, versions and aliases.
 */
export function registryRoutes(app: FastifyInstance, mlflow: MlflowService, registry: RegistryService): void {
  // ------------------------------------------------------------ registered models
  endpoint(app, ['POST'], '/registered-models/create', 'developer', async (f, _params, request) => ({
    registered_model: wireRegisteredModel(
      await mlflow.createRegisteredModel(
        f.required('name'),
        f.keyValues('tags'),
        f.string('description'),
        contextOf(request),
      ),
    ),
  }));
  endpoint(app, ['GET'], '/registered-models/get', 'viewer', async (f) => ({
    registered_model: wireRegisteredModel(await mlflow.getRegisteredModel(f.required('name'))),
  }));
  endpoint(app, ['PATCH'], '/registered-models/update', 'developer', async (f, _params, request) => {
    const name = canonicalName(f.required('name'));
    const description = f.string('description');
    if (description !== undefined) await registry.setDescription(name, null, description, contextOf(request));
    return { registered_model: wireRegisteredModel(await mlflow.getRegisteredModel(name)) };
  });
  endpoint(app, ['POST'], '/registered-models/rename', 'developer', async (f) => {
    await mlflow.getRegisteredModel(f.required('name'));
    throw invalid(
      'Slipway model names are permanent (deployments, URLs and the audit trail refer to them); create a new registered model instead.',
      'new_name',
    );
  });
  endpoint(app, ['DELETE'], '/registered-models/delete', 'developer', async (f) => {
    await mlflow.getRegisteredModel(f.required('name'));
    throw invalid(
      'Slipway keeps every registered model and version (deployments and the audit trail refer to them); deleting is not supported.',
      'name',
    );
  });
  endpoint(app, ['GET'], '/registered-models/search', 'viewer', async (f) => {
    const found = await mlflow.searchRegisteredModels({
      filter: f.string('filter') ?? '',
      orderBy: f.strings('order_by'),
      ...optionalPaging(f),
    });
    return withToken({ registered_models: found.items.map(wireRegisteredModel) }, found.nextPageToken);
  });
  endpoint(app, ['GET', 'POST'], '/registered-models/get-latest-versions', 'viewer', async (f) => ({
    model_versions: (await mlflow.latestVersions(f.required('name'), f.strings('stages'))).map(wireVersion),
  }));
  endpoint(app, ['POST'], '/registered-models/set-tag', 'developer', async (f, _params, request) => {
    await registry.setTag(
      canonicalName(f.required('name')),
      null,
      f.required('key'),
      f.string('value') ?? '',
      contextOf(request),
    );
    return {};
  });
  endpoint(app, ['DELETE'], '/registered-models/delete-tag', 'developer', async (f, _params, request) => {
    await registry.setTag(
      canonicalName(f.required('name')),
      null,
      f.required('key'),
      null,
      contextOf(request),
    );
    return {};
  });

  // ------------------------------------------------------------ aliases (Slipway's own)
  endpoint(app, ['POST'], '/registered-models/alias', 'developer', async (f, _params, request) => {
    const name = canonicalName(f.required('name'));
    await registry.setAlias(
      name,
      assertAliasName(f.required('alias')),
      versionNumber(f.required('version')),
      contextOf(request),
    );
    return {};
  });
  endpoint(app, ['DELETE'], '/registered-models/alias', 'developer', async (f, _params, request) => {
    await registry.deleteAlias(canonicalName(f.required('name')), f.required('alias'), contextOf(request));
    return {};
  });
  endpoint(app, ['GET'], '/registered-models/alias', 'viewer', async (f) => ({
    model_version: wireVersion(await mlflow.getVersionByAlias(f.required('name'), f.required('alias'))),
  }));

  // ------------------------------------------------------------ model versions
  endpoint(app, ['POST'], '/model-versions/create', 'developer', async (f, _params, request) => {
    const runId = f.string('run_id');
    const modelId = f.string('model_id');
    const description = f.string('description');
    const runLink = f.string('run_link');
    const created = await mlflow.createVersion(
      {
        name: f.required('name'),
        source: f.required('source'),
        tags: f.keyValues('tags'),
        ...(runId ? { runId } : {}),
        ...(modelId ? { modelId } : {}),
        ...(description ? { description } : {}),
        ...(runLink ? { runLink } : {}),
      },
      contextOf(request),
    );
    return { model_version: wireVersion(created) };
  });
  endpoint(app, ['GET'], '/model-versions/get', 'viewer', async (f) => ({
    model_version: wireVersion(
      await mlflow.getVersion(f.required('name'), versionNumber(f.required('version'))),
    ),
  }));
  endpoint(app, ['PATCH'], '/model-versions/update', 'developer', async (f, _params, request) => {
    const name = canonicalName(f.required('name'));
    const version = versionNumber(f.required('version'));
    const description = f.string('description');
    if (description !== undefined)
      await registry.setDescription(name, version, description, contextOf(request));
    return { model_version: wireVersion(await mlflow.getVersion(name, version)) };
  });
  endpoint(app, ['DELETE'], '/model-versions/delete', 'developer', async (f) => {
    await mlflow.getVersion(f.required('name'), versionNumber(f.required('version')));
    throw invalid(
      'Slipway keeps every version (revisions and the audit trail refer to them); deleting is not supported.',
      'version',
    );
  });
  endpoint(app, ['POST'], '/model-versions/transition-stage', 'developer', async (f) => ({
    model_version: wireVersion(
      await mlflow.transitionStage(
        f.required('name'),
        versionNumber(f.required('version')),
        f.required('stage'),
        f.boolean('archive_existing_versions') ?? false,
      ),
    ),
  }));
  endpoint(app, ['GET'], '/model-versions/search', 'viewer', async (f) => {
    const found = await mlflow.searchVersions({
      filter: f.string('filter') ?? '',
      orderBy: f.strings('order_by'),
      ...optionalPaging(f),
    });
    return withToken({ model_versions: found.items.map(wireVersion) }, found.nextPageToken);
  });
  endpoint(app, ['GET'], '/model-versions/get-download-uri', 'viewer', async (f) => ({
    artifact_uri: await mlflow.downloadUri(f.required('name'), versionNumber(f.required('version'))),
  }));
  endpoint(app, ['POST'], '/model-versions/set-tag', 'developer', async (f, _params, request) => {
    await registry.setTag(
      canonicalName(f.required('name')),
      versionNumber(f.required('version')),
      f.required('key'),
      f.string('value') ?? '',
      contextOf(request),
    );
    return {};
  });
  endpoint(app, ['DELETE'], '/model-versions/delete-tag', 'developer', async (f, _params, request) => {
    await registry.setTag(
      canonicalName(f.required('name')),
      versionNumber(f.required('version')),
      f.required('key'),
      null,
      contextOf(request),
    );
    return {};
  });
}
