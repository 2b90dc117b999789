import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import type { Model, ModelVersion } from '../domain/model.js';
import { assertAliasName, assertModelName } from '../domain/names.js';
import type { RequestContext } from '../domain/roles.js';
import { echo, SlipwayError } from '../errors/index.js';
import type { RegistryService } from '../registry/registry-service.js';
import { decodePageToken, encodePageToken } from '../storage/page-token.js';
import { artifactPathOf, EXPORTS, type MlflowArtifacts } from './mlflow-artifacts.js';
import { randomRunName } from './run-names.js';
import {
  type FilterSpec,
  type Lookup,
  matches,
  type OrderBy,
  parseFilter,
  parseOrderBy,
  sortBy,
} from './search-filter.js';
import type {
  Experiment,
  KeyValue,
  LoggedModel,
  LoggedModelStatus,
  Metric,
  Run,
  RunStatus,
  TrackingStore,
  VersionRecord,
} from './tracking-store.js';

/** A registry version as MLflow sees it: Slipway's version plus MLflow's record of it, if any. */
export interface MlflowVersion {
  readonly version: ModelVersion;
  readonly record: VersionRecord | null;
}

/** A registered model: Slipway's model, with its latest version per stage. */
export interface MlflowModel {
  readonly model: Model;
  readonly latestVersions: readonly MlflowVersion[];
}

export interface SearchPage<T> {
  readonly items: readonly T[];
  readonly nextPageToken: string | null;
}

export interface SearchRequest {
  readonly filter?: string;
  readonly orderBy?: readonly string[];
  readonly maxResults?: number;
  readonly pageToken?: string;
}

export interface MlflowServiceOptions {
  readonly tracking: TrackingStore;
  readonly registry: RegistryService;
  readonly artifacts: MlflowArtifacts;
  readonly logger: Logger;
}

/** MLflow's four stages (deprecated by MLflow, kept for old clients), in their canonical spelling. */
export const STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;

/** An MLmodel file is a small YAML manifest; anything larger is refused before it is parsed. */
const MAX_MLMODEL_BYTES = 1024 * 1024;
/** Files a registered MLflow model directory may hold; each is copied into the version's own folder. */
const MAX_MODEL_FILES = 1000;

/** An MLflow model directory as registration read it. */
interface ModelDirectory {
  /** Its artifact path. */
  readonly path: string;
  /** The MLmodel file's bytes, exactly as they were parsed. */
  readonly manifest: Uint8Array;
  /** `onnx`, or the flavor kept as bytes. */
  readonly flavor: string;
  /** The file (relative to `path`) that holds the model, if the flavor names one. */
  readonly dataFile: string | null;
  /** Every file, relative to `path`. */
  readonly files: readonly string[];
}

const LIMITS = {
  name: 500,
  key: 250,
  paramValue: 6000,
  tagValue: 8000,
  experimentTagValue: 5000,
} as const;

const EXPERIMENT_SEARCH: FilterSpec = {
  attributes: {
    name: 'string',
    creation_time: 'numeric',
    last_update_time: 'numeric',
    experiment_id: 'string',
  },
  entities: ['tag'],
};
const RUN_SEARCH: FilterSpec = {
  attributes: {
    run_id: 'string',
    run_name: 'string',
    status: 'string',
    user_id: 'string',
    artifact_uri: 'string',
    lifecycle_stage: 'string',
    start_time: 'numeric',
    end_time: 'numeric',
  },
  aliases: { created: 'start_time', 'run name': 'run_name', 'Run name': 'run_name', run_uuid: 'run_id' },
  entities: ['metric', 'param', 'tag', 'dataset'],
};
const LOGGED_MODEL_SEARCH: FilterSpec = {
  attributes: {
    name: 'string',
    model_id: 'string',
    model_type: 'string',
    status: 'string',
    source_run_id: 'string',
    creation_timestamp: 'numeric',
    last_updated_timestamp: 'numeric',
  },
  aliases: { creation_time: 'creation_timestamp' },
  entities: ['metric', 'param', 'tag'],
};
const MODEL_SEARCH: FilterSpec = {
  attributes: { name: 'string', creation_timestamp: 'numeric', last_updated_timestamp: 'numeric' },
  aliases: { timestamp: 'creation_timestamp' },
  entities: ['tag'],
};
const VERSION_SEARCH: FilterSpec = {
  attributes: {
    name: 'string',
    version_number: 'numeric',
    run_id: 'string',
    source_path: 'string',
    creation_timestamp: 'numeric',
    last_updated_timestamp: 'numeric',
  },
  aliases: { timestamp: 'creation_timestamp' },
  entities: ['tag'],
};

/**
 * MLflow's tracking and registry use cases on Slipway's stores. Registered models and versions are
 * Slipway's own: a version registered here passes the same checks as `slipway models push` (ONNX is
 * validated, loaded and warmed; other flavors are stored as bytes, never loaded, and marked as not
 * servable). Sources are only `models:/`, `runs:/` and `mlflow-artifacts:/` URIs this server
 * resolves itself; it never fetches a URL a client gave it.
 */
export class MlflowService {
  constructor(private readonly options: MlflowServiceOptions) {}

  get tracking(): TrackingStore {
    return this.options.tracking;
  }

  get artifacts(): MlflowArtifacts {
    return this.options.artifacts;
  }

  // ---------------------------------------------------------------- experiments

  async createExperiment(
    name: string,
    tags: readonly KeyValue[],
    artifactLocation?: string,
  ): Promise<Experiment> {
    checkText('name', name, LIMITS.name);
    checkTags(tags, LIMITS.experimentTagValue);
    if (artifactLocation !== undefined && artifactLocation !== '') {
      // Only locations this server resolves inside its own artifact root: a client-chosen URL
      // would make the server (or other clients) read and write wherever it points.
      if (artifactPathOf(artifactLocation) === null || artifactPathOf(artifactLocation) === '') {
        throw invalid(
          `Invalid artifact_location '${artifactLocation}': expected an mlflow-artifacts:/<path> URI inside this server's artifact root, or none.`,
          'artifact_location',
        );
      }
      if (artifactPathOf(artifactLocation)!.split('/')[0] === EXPORTS) {
        throw invalid(
          `Invalid artifact_location '${artifactLocation}': '${EXPORTS}/' is reserved.`,
          'artifact_location',
        );
      }
    }
    return this.tracking.createExperiment(
      name,
      tags,
      artifactLocation === '' ? undefined : artifactLocation?.replace(/\/+$/, ''),
    );
  }

  async searchExperiments(
    request: SearchRequest & { viewType: 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL' },
  ): Promise<SearchPage<Experiment>> {
    const clauses = parseFilter(request.filter, EXPERIMENT_SEARCH);
    const order = orderOrDefault(parseOrderBy(request.orderBy, EXPERIMENT_SEARCH), [
      { entity: 'attribute', key: 'last_update_time', ascending: false },
    ]);
    const lookup =
      (e: Experiment): Lookup =>
      (entity, key) => {
        if (entity === 'tag') return e.tags.find((t) => t.key === key)?.value;
        if (key === 'name') return e.name;
        if (key === 'experiment_id') return e.experimentId;
        if (key === 'creation_time') return e.creationTime;
        if (key === 'last_update_time') return e.lastUpdateTime;
        return undefined;
      };
    const all = (await this.tracking.listExperiments()).filter(
      (e) => inView(e.lifecycleStage, request.viewType) && matches(clauses, lookup(e)),
    );
    all.sort((a, b) => Number(b.experimentId) - Number(a.experimentId));
    return page(sortBy(all, order, lookup), request, { default: 1000, max: 50_000 });
  }

  // ---------------------------------------------------------------- runs

  async createRun(request: {
    experimentId: string;
    userId: string;
    runName?: string;
    startTime?: number;
    tags: readonly KeyValue[];
  }): Promise<Run> {
    checkTags(request.tags, LIMITS.tagValue);
    const experiment = await this.tracking.getExperiment(request.experimentId);
    const runId = randomUUID().replaceAll('-', '');
    const givenName = request.runName || request.tags.find((t) => t.key === 'mlflow.runName')?.value;
    const runName = givenName || randomRunName();
    checkText('run_name', runName, LIMITS.name);
    const tags = [
      ...request.tags.filter((t) => t.key !== 'mlflow.runName'),
      { key: 'mlflow.runName', value: runName },
    ];
    return this.tracking.createRun({
      runId,
      experimentId: experiment.experimentId,
      runName,
      userId: request.userId,
      startTime: request.startTime ?? Date.now(),
      artifactUri: `${experiment.artifactLocation}/${runId}/artifacts`,
      tags,
    });
  }

  async logBatch(
    runId: string,
    batch: { metrics?: readonly Metric[]; params?: readonly KeyValue[]; tags?: readonly KeyValue[] },
  ): Promise<void> {
    const metrics = batch.metrics ?? [];
    const params = batch.params ?? [];
    const tags = batch.tags ?? [];
    if (metrics.length > 1000 || params.length > 100 || tags.length > 100) {
      throw invalid(
        `A batch may hold at most 1000 metrics, 100 params and 100 tags; got ${metrics.length}, ${params.length} and ${tags.length}.`,
        'metrics',
      );
    }
    for (const metric of metrics) checkText('metrics.key', metric.key, LIMITS.key);
    for (const param of params) {
      checkText('params.key', param.key, LIMITS.key);
      if (param.value.length > LIMITS.paramValue) {
        throw invalid(
          `Param '${param.key}' has a value longer than ${LIMITS.paramValue} characters.`,
          'params',
        );
      }
    }
    checkTags(tags, LIMITS.tagValue);
    await this.tracking.logBatch(runId, { metrics, params, tags });
  }

  async searchRuns(
    request: SearchRequest & {
      experimentIds: readonly string[];
      viewType: 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';
    },
  ): Promise<SearchPage<Run>> {
    const clauses = parseFilter(request.filter, RUN_SEARCH);
    const order = orderOrDefault(parseOrderBy(request.orderBy, RUN_SEARCH), [
      { entity: 'attribute', key: 'start_time', ascending: false },
    ]);
    const lookup =
      (run: Run): Lookup =>
      (entity, key) => {
        switch (entity) {
          case 'metric':
            return run.metrics.find((m) => m.key === key)?.value;
          case 'param':
            return run.params.find((p) => p.key === key)?.value;
          case 'tag':
            return run.tags.find((t) => t.key === key)?.value;
          case 'dataset':
            return datasetField(run, key);
          default:
            return runAttribute(run, key);
        }
      };
    const runs = (await this.tracking.listRuns(request.experimentIds)).filter(
      (run) => inView(run.info.lifecycleStage, request.viewType) && matches(clauses, lookup(run)),
    );
    runs.sort((a, b) => (a.info.runId < b.info.runId ? -1 : 1));
    return page(sortBy(runs, order, lookup), request, { default: 1000, max: 50_000 });
  }

  // ---------------------------------------------------------------- logged models

  async createLoggedModel(request: {
    experimentId: string;
    name?: string;
    modelType?: string;
    sourceRunId?: string;
    params: readonly KeyValue[];
    tags: readonly KeyValue[];
  }): Promise<LoggedModel> {
    const experiment = await this.tracking.getExperiment(request.experimentId);
    if (request.sourceRunId) await this.tracking.getRun(request.sourceRunId);
    const modelId = `m-${randomUUID().replaceAll('-', '')}`;
    const name = request.name || randomRunName();
    checkText('name', name, LIMITS.name);
    checkTags(request.tags, LIMITS.tagValue);
    return this.tracking.createLoggedModel({
      modelId,
      experimentId: experiment.experimentId,
      name,
      artifactLocation: `${experiment.artifactLocation}/models/${modelId}/artifacts`,
      status: 'LOGGED_MODEL_PENDING',
      modelType: request.modelType ?? '',
      sourceRunId: request.sourceRunId ?? '',
      creationTimestamp: Date.now(),
      params: request.params,
      tags: request.tags,
    });
  }

  async searchLoggedModels(
    request: Omit<SearchRequest, 'orderBy'> & {
      experimentIds: readonly string[];
      orderBy: readonly { fieldName: string; ascending: boolean }[];
    },
  ): Promise<SearchPage<LoggedModel>> {
    const clauses = parseFilter(request.filter, LOGGED_MODEL_SEARCH);
    const order = orderOrDefault(
      request.orderBy.flatMap((o) =>
        parseOrderBy([o.fieldName], LOGGED_MODEL_SEARCH).map((parsed) => ({
          ...parsed,
          ascending: o.ascending,
        })),
      ),
      [{ entity: 'attribute', key: 'creation_timestamp', ascending: false }],
    );
    const lookup =
      (m: LoggedModel): Lookup =>
      (entity, key) => {
        if (entity === 'metric') return latestOf(m.metrics.filter((x) => x.key === key))?.value;
        if (entity === 'param') return m.params.find((p) => p.key === key)?.value;
        if (entity === 'tag') return m.tags.find((t) => t.key === key)?.value;
        const attributes: Record<string, string | number> = {
          name: m.name,
          model_id: m.modelId,
          model_type: m.modelType,
          status: m.status,
          source_run_id: m.sourceRunId,
          creation_timestamp: m.creationTimestamp,
          last_updated_timestamp: m.lastUpdatedTimestamp,
        };
        return attributes[key];
      };
    const models = (await this.tracking.listLoggedModels(request.experimentIds)).filter((m) =>
      matches(clauses, lookup(m)),
    );
    const { orderBy: _structured, ...paging } = request;
    return page(sortBy(models, order, lookup), paging, { default: 100, max: 10_000 });
  }

  async finalizeLoggedModel(modelId: string, status: LoggedModelStatus): Promise<LoggedModel> {
    if (status === 'LOGGED_MODEL_PENDING') {
      throw invalid(
        'A logged model is finalized as LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED.',
        'status',
      );
    }
    return this.tracking.finalizeLoggedModel(modelId, status);
  }

  // ---------------------------------------------------------------- registered models

  async createRegisteredModel(
    name: string,
    tags: readonly KeyValue[],
    description: string | undefined,
    context: RequestContext,
  ): Promise<MlflowModel> {
    const model = await this.options.registry.createModel(
      {
        name: canonicalName(name),
        ...(description ? { description } : {}),
        ...(tags.length > 0 ? { tags: Object.fromEntries(tags.map((t) => [t.key, t.value])) } : {}),
      },
      context,
    );
    return { model, latestVersions: [] };
  }

  async getRegisteredModel(name: string): Promise<MlflowModel> {
    const model = await this.options.registry.getModel(canonicalName(name));
    return { model, latestVersions: await this.latestVersions(model.name, []) };
  }

  async searchRegisteredModels(request: SearchRequest): Promise<SearchPage<MlflowModel>> {
    const clauses = parseFilter(request.filter, MODEL_SEARCH);
    const order = orderOrDefault(parseOrderBy(request.orderBy, MODEL_SEARCH), [
      { entity: 'attribute', key: 'name', ascending: true },
    ]);
    const lookup =
      (m: Model): Lookup =>
      (entity, key) => {
        if (entity === 'tag') return m.tags[key];
        if (key === 'name') return m.name;
        if (key === 'creation_timestamp') return Date.parse(m.createdAt);
        if (key === 'last_updated_timestamp') return Date.parse(m.updatedAt);
        return undefined;
      };
    const models = (await this.allModels()).filter((m) => matches(clauses, lookup(m)));
    const found = page(sortBy(models, order, lookup), request, { default: 100, max: 1000 });
    const items = await Promise.all(
      found.items.map(async (model) => ({
        model,
        latestVersions: await this.latestVersions(model.name, []),
      })),
    );
    return { items, nextPageToken: found.nextPageToken };
  }

  /** The latest version in each of `stages` (every stage when none is named). */
  async latestVersions(name: string, stages: readonly string[]): Promise<MlflowVersion[]> {
    const wanted = stages.length === 0 ? [...STAGES] : stages.map(canonicalStage);
    const versions = await this.versionsOf(canonicalName(name));
    const latest = new Map<string, MlflowVersion>();
    for (const entry of versions) {
      const stage = entry.record?.stage ?? 'None';
      const current = latest.get(stage);
      if (!current || current.version.version < entry.version.version) latest.set(stage, entry);
    }
    return wanted.flatMap((stage) => (latest.has(stage) ? [latest.get(stage)!] : []));
  }

  // ---------------------------------------------------------------- model versions

  async getVersion(name: string, version: number): Promise<MlflowVersion> {
    const model = canonicalName(name);
    const found = await this.options.registry.getVersion(model, version);
    return { version: found, record: await this.tracking.versionRecord(model, version) };
  }

  async getVersionByAlias(name: string, alias: string): Promise<MlflowVersion> {
    const model = canonicalName(name);
    const version = await this.options.registry.resolveAlias(model, assertAliasName(alias));
    return this.getVersion(model, version);
  }

  async searchVersions(request: SearchRequest): Promise<SearchPage<MlflowVersion>> {
    const clauses = parseFilter(request.filter, VERSION_SEARCH);
    const order = orderOrDefault(parseOrderBy(request.orderBy, VERSION_SEARCH), [
      { entity: 'attribute', key: 'name', ascending: true },
      { entity: 'attribute', key: 'version_number', ascending: false },
    ]);
    // A filter on one name (the usual `name='x'`) reads only that model's versions.
    const byName = clauses.find((c) => c.entity === 'attribute' && c.key === 'name' && c.comparator === '=');
    let versions: MlflowVersion[];
    if (byName) {
      const models = await this.allModels();
      versions = models.some((m) => m.name === byName.value)
        ? await this.versionsOf(byName.value as string)
        : [];
    } else {
      versions = await this.versionsOf(null);
    }
    const lookup =
      (entry: MlflowVersion): Lookup =>
      (entity, key) => {
        const { version, record } = entry;
        if (entity === 'tag') return version.tags[key];
        const attributes: Record<string, string | number | undefined> = {
          name: version.model,
          version_number: version.version,
          run_id: version.lineage.runId ?? '',
          source_path: record?.source || defaultSource(version),
          creation_timestamp: Date.parse(version.createdAt),
          last_updated_timestamp: record?.lastUpdatedTimestamp || Date.parse(version.createdAt),
        };
        return attributes[key];
      };
    const found = versions.filter((v) => matches(clauses, lookup(v)));
    return page(sortBy(found, order, lookup), request, { default: 10_000, max: 200_000 });
  }

  /**
   * Registers a version from an MLflow model directory. The directory must hold an MLmodel file; an
   * ONNX flavor goes through Slipway's upload validation and becomes servable, any other flavor is
   * stored as bytes and marked not servable. Nothing is recorded if a check fails.
   */
  async createVersion(
    request: {
      name: string;
      source: string;
      runId?: string;
      modelId?: string;
      description?: string;
      runLink?: string;
      tags: readonly KeyValue[];
    },
    context: RequestContext,
  ): Promise<MlflowVersion> {
    const name = canonicalName(request.name);
    await this.options.registry.getModel(name);
    const resolved = await this.resolveSource(request.source, request.modelId);
    const directory = await this.modelDirectory(artifactPathOf(resolved.storageLocation)!, request.source);
    const runId = request.runId || resolved.runId;
    const tags = Object.fromEntries(request.tags.map((t) => [t.key, t.value]));
    const data = directory.dataFile
      ? await this.artifacts.open(`${directory.path}/${directory.dataFile}`).catch(() => null)
      : null;
    let version: ModelVersion;
    if (directory.flavor === 'onnx') {
      if (!data) {
        throw invalid(
          `Invalid model version source '${request.source}': its ONNX flavor's file '${directory.dataFile}' does not exist.`,
          'source',
        );
      }
      version = await this.options.registry.pushVersion(
        name,
        data.stream,
        {
          manifest: { tags, ...(runId ? { lineage: { run_id: runId } } : {}) },
          ...(request.description ? { description: request.description } : {}),
        },
        context,
      );
    } else {
      // The flavor's data file is copied as a stream, byte for byte: nothing here reads it.
      version = await this.options.registry.storeUnservableVersion(
        name,
        data ? data.stream : Readable.from([Buffer.from(directory.manifest)]),
        {
          fileName: data ? directory.dataFile!.split('/').pop()! : 'MLmodel',
          unservableReason: `its MLflow flavor is "${directory.flavor}", not ONNX; Slipway keeps the files but never loads them (a pickled model runs code when it is loaded)`,
          tags,
          runId: runId || null,
          ...(request.description ? { description: request.description } : {}),
        },
        context,
      );
    }
    // From here on the version's files are its own copy: later writes to the run change nothing.
    const storageLocation = await this.exportVersion(version, directory);
    const record: VersionRecord = {
      model: name,
      version: version.version,
      source: request.source,
      storageLocation,
      modelId: resolved.modelId,
      runLink: request.runLink ?? '',
      stage: 'None',
      lastUpdatedTimestamp: Date.now(),
    };
    await this.tracking.recordVersion(record);
    return { version, record };
  }

  /**
   * Where a version's files are, as an `mlflow-artifacts:` URI: always its own folder under
   * `registry/`, which clients can read but never write, holding the bytes the version serves.
   */
  async downloadUri(name: string, version: number): Promise<string> {
    const entry = await this.getVersion(name, version);
    const recorded = artifactPathOf(entry.record?.storageLocation ?? '');
    // A version registered before its files were copied at registration points into a run's
    // artifacts: copy them now, with the registered bytes as the model file.
    const legacy =
      recorded && recorded.split('/')[0] !== EXPORTS
        ? await this.modelDirectory(recorded, entry.record!.storageLocation).catch(() => null)
        : null;
    return this.exportVersion(entry.version, legacy);
  }

  async transitionStage(
    name: string,
    version: number,
    stage: string,
    archiveExisting: boolean,
  ): Promise<MlflowVersion> {
    const target = canonicalStage(stage);
    const entry = await this.getVersion(name, version);
    if (archiveExisting && (target === 'Staging' || target === 'Production')) {
      for (const other of await this.versionsOf(entry.version.model)) {
        const otherStage = other.record?.stage ?? 'None';
        if (other.version.version !== version && otherStage === target) {
          await this.tracking.setVersionStage(entry.version.model, other.version.version, 'Archived');
        }
      }
    }
    await this.tracking.setVersionStage(entry.version.model, version, target);
    return this.getVersion(entry.version.model, version);
  }

  /**
   * Lays out a version's MLflow model directory under `registry/<model>/<version>` once, and returns
   * its URI. The model file is always the version's own artifact (verified against its sha256), so
   * what clients download is what serves; the other files of an MLflow directory are copied from
   * `directory`. Without one, an ONNX version gets a generated MLmodel. MLmodel is written last: its
   * presence says the folder is complete.
   */
  private async exportVersion(version: ModelVersion, directory: ModelDirectory | null): Promise<string> {
    const folder = `${EXPORTS}/${version.model}/${version.version}`;
    if ((await this.artifacts.read(`${folder}/MLmodel`)) !== null) return `mlflow-artifacts:/${folder}`;
    const onnx = !version.unservableReason && version.artifactKey.endsWith('.onnx');
    if (version.status !== 'READY' || (!directory && !onnx)) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `Version ${version.version} of "${version.model}" has no MLflow model directory to download.`,
        { model: version.model, version: version.version },
      );
    }
    const bytes = Buffer.from(await this.options.registry.readArtifact(version));
    if (directory) {
      // A flavor without a model file was registered as its MLmodel bytes.
      const dataFile = version.artifactKey.endsWith('/MLmodel')
        ? 'MLmodel'
        : (directory.dataFile ?? 'MLmodel');
      for (const file of directory.files) {
        if (file === dataFile || file === 'MLmodel') continue;
        // A file the client deleted since registration began is simply not part of the copy.
        const source = await this.artifacts.open(`${directory.path}/${file}`).catch(() => null);
        if (source) await this.artifacts.putInternal(`${folder}/${file}`, source.stream);
      }
      if (dataFile !== 'MLmodel')
        await this.artifacts.putInternal(`${folder}/${dataFile}`, Readable.from([bytes]));
      const manifest = dataFile === 'MLmodel' ? bytes : Buffer.from(directory.manifest);
      await this.artifacts.putInternal(`${folder}/MLmodel`, Readable.from([manifest]));
      return `mlflow-artifacts:/${folder}`;
    }
    await this.artifacts.putInternal(`${folder}/model.onnx`, Readable.from([bytes]));
    const mlmodel = [
      `artifact_path: mlflow-artifacts:/${folder}`,
      'flavors:',
      '  onnx:',
      '    data: model.onnx',
      '    providers:',
      '    - CPUExecutionProvider',
      '  python_function:',
      '    data: model.onnx',
      '    loader_module: mlflow.onnx',
      `model_size_bytes: ${version.sizeBytes}`,
      `utc_time_created: '${version.createdAt.replace('T', ' ').replace('Z', '')}'`,
      '',
    ].join('\n');
    await this.artifacts.putInternal(`${folder}/MLmodel`, Readable.from([Buffer.from(mlmodel)]));
    return `mlflow-artifacts:/${folder}`;
  }

  /**
   * Reads an MLflow model directory: its MLmodel (parsed once, here), the flavor Slipway registers,
   * the file holding the model, and every file path in it (at most MAX_MODEL_FILES).
   */
  private async modelDirectory(path: string, source: string): Promise<ModelDirectory> {
    const manifest = await this.artifacts.read(`${path}/MLmodel`, MAX_MLMODEL_BYTES);
    if (manifest === null) {
      throw invalid(
        `Invalid model version source '${source}': it has no MLmodel file (expected an MLflow model directory).`,
        'source',
      );
    }
    const flavors = parseMlmodel(Buffer.from(manifest).toString('utf8'));
    let flavor: string;
    let dataFile: string | null;
    if (flavors.onnx) {
      flavor = 'onnx';
      dataFile = flavorFile(flavors.onnx, 'data') ?? 'model.onnx';
    } else {
      flavor = Object.keys(flavors).find((f) => f !== 'python_function') ?? 'python_function';
      dataFile =
        [flavors[flavor], flavors.python_function]
          .map((f) =>
            f
              ? (flavorFile(f, 'pickled_model') ?? flavorFile(f, 'model_path') ?? flavorFile(f, 'data'))
              : null,
          )
          .find((f): f is string => typeof f === 'string') ?? null;
    }
    const files: string[] = [];
    const walk = async (folder: string): Promise<void> => {
      for (const entry of await this.artifacts.list(`${path}${folder ? `/${folder}` : ''}`)) {
        const file = folder ? `${folder}/${entry.name}` : entry.name;
        if (entry.isDir) await walk(file);
        else files.push(file);
        if (files.length > MAX_MODEL_FILES) {
          throw invalid(
            `Invalid model version source '${source}': the model directory has more than ${MAX_MODEL_FILES} files.`,
            'source',
          );
        }
      }
    };
    await walk('');
    return { path, manifest, flavor, dataFile, files };
  }

  /** Resolves a version source to the folder its files are in; refuses every other kind of URI. */
  private async resolveSource(
    source: string,
    modelId: string | undefined,
    depth = 0,
  ): Promise<{ storageLocation: string; runId: string; modelId: string }> {
    const refuse = (why: string): never => {
      throw invalid(
        `Invalid model version source '${source}': ${why}. Expected models:/<model id>, models:/<name>/<version>, runs:/<run id>/<path> or mlflow-artifacts:/<path>; Slipway never fetches other URIs.`,
        'source',
      );
    };
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects.
    if (source.length > 2000 || /[\u0000-\u001f\u007f\\]/.test(source))
      refuse('it contains a forbidden character');
    if (depth > 3) refuse('it refers to a version that refers to another, too deeply');
    if (source.startsWith('mlflow-artifacts:')) {
      const path = artifactPathOf(source);
      if (path === null || path === '') refuse("the path is not inside this server's artifact root");
      if (path!.split('/')[0] === EXPORTS && depth === 0) refuse(`'${EXPORTS}/' holds exports, not sources`);
      return { storageLocation: `mlflow-artifacts:/${path}`, runId: '', modelId: modelId ?? '' };
    }
    if (source.startsWith('models:/')) {
      const rest = source.slice('models:/'.length);
      if (/^m-[0-9a-f]{32}$/.test(rest)) {
        const logged = await this.tracking.getLoggedModel(rest);
        return {
          storageLocation: logged.artifactLocation,
          runId: logged.sourceRunId,
          modelId: logged.modelId,
        };
      }
      const named = /^([a-z0-9][a-z0-9._-]{0,127})(?:\/([1-9][0-9]{0,9})|@([a-z][a-z0-9._-]{0,63}))$/.exec(
        rest,
      );
      if (!named) return refuse('it names no logged model or registry version');
      const [, name, number, alias] = named;
      const entry = number
        ? await this.getVersion(name!, Number(number))
        : await this.getVersionByAlias(name!, alias!);
      const location = await this.downloadUri(entry.version.model, entry.version.version);
      return {
        storageLocation: location,
        runId: entry.version.lineage.runId ?? '',
        modelId: entry.record?.modelId ?? '',
      };
    }
    if (source.startsWith('runs:/')) {
      const match = /^runs:\/([0-9a-f]{32})\/(.+)$/.exec(source);
      if (!match) return refuse('expected runs:/<run id>/<path>');
      const [, runId, path] = match;
      const run = await this.tracking.getRun(runId!);
      const location = `${run.info.artifactUri}/${path!.replace(/\/+$/, '')}`;
      if (artifactPathOf(location) === null) refuse("the path is not inside the run's artifacts");
      if ((await this.artifacts.read(`${artifactPathOf(location)}/MLmodel`)) !== null) {
        return { storageLocation: location, runId: runId!, modelId: modelId ?? '' };
      }
      // MLflow 3 keeps models outside the run: `runs:/<run>/<name>` means the run's logged model of that name.
      const logged = (await this.tracking.listLoggedModels([run.info.experimentId])).find(
        (m) => m.sourceRunId === runId && m.name === path,
      );
      if (logged) return { storageLocation: logged.artifactLocation, runId: runId!, modelId: logged.modelId };
      return { storageLocation: location, runId: runId!, modelId: modelId ?? '' };
    }
    return refuse('its scheme is not accepted');
  }

  private async allModels(): Promise<Model[]> {
    const models: Model[] = [];
    let token: string | undefined;
    do {
      const found = await this.options.registry.listModels({
        limit: 1000,
        ...(token ? { pageToken: token } : {}),
      });
      models.push(...found.items);
      token = found.nextPageToken ?? undefined;
    } while (token);
    return models;
  }

  private async versionsOf(model: string | null): Promise<MlflowVersion[]> {
    const versions: ModelVersion[] = [];
    let token: string | undefined;
    do {
      const found = await this.options.registry.listVersions({
        limit: 1000,
        ...(model !== null ? { model } : {}),
        ...(token ? { pageToken: token } : {}),
      });
      versions.push(...found.items);
      token = found.nextPageToken ?? undefined;
    } while (token);
    const records = new Map(
      (await this.tracking.versionRecords(model)).map((r) => [`${r.model}\u0000${r.version}`, r]),
    );
    return versions.map((version) => ({
      version,
      record: records.get(`${version.model}\u0000${version.version}`) ?? null,
    }));
  }
}

/** The source shown for a version pushed through Slipway's own API. */
export function defaultSource(version: ModelVersion): string {
  return `models:/${version.model}/${version.version}`;
}

/**
 * Registered-model names are Slipway model names: one canonical spelling, so `a%2Fb`, `a/b` and
 * `A/B` can never be three models (or one model reached three ways).
 */
export function canonicalName(name: string): string {
  return assertModelName(name, 'name');
}

export function canonicalStage(stage: string): (typeof STAGES)[number] {
  const found = STAGES.find((s) => s.toLowerCase() === stage.toLowerCase());
  if (!found)
    throw invalid(`Invalid Model Version stage: ${stage}. Expected one of ${STAGES.join(', ')}.`, 'stage');
  return found;
}

export function parseRunStatus(value: unknown): RunStatus {
  const names: RunStatus[] = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'];
  if (typeof value === 'number' && names[value - 1]) return names[value - 1]!;
  if (typeof value === 'string' && /^[1-5]$/.test(value)) return names[Number(value) - 1]!;
  if (typeof value === 'string' && (names as string[]).includes(value)) return value as RunStatus;
  throw invalid(`Invalid run status ${echo(value)}: expected one of ${names.join(', ')}.`, 'status');
}

function parseMlmodel(text: string): Record<string, Record<string, unknown>> {
  let parsed: unknown;
  try {
    // The core schema: plain data only, no language-specific tags.
    parsed = parseYaml(text, { schema: 'core', maxAliasCount: 100 });
  } catch (error) {
    throw invalid(`The MLmodel file is not valid YAML: ${(error as Error).message}`, 'source');
  }
  const flavors = (parsed as { flavors?: unknown } | null)?.flavors;
  if (!flavors || typeof flavors !== 'object') throw invalid('The MLmodel file lists no flavors.', 'source');
  return flavors as Record<string, Record<string, unknown>>;
}

/** A file a flavor names, if it is a safe relative path. */
function flavorFile(flavor: Record<string, unknown>, field: string): string | null {
  const value = flavor[field];
  if (typeof value !== 'string' || value === '') return null;
  return artifactPathOf(`mlflow-artifacts:/${value}`) === value ? value : null;
}

function runAttribute(run: Run, key: string): string | number | undefined {
  const { info } = run;
  const attributes: Record<string, string | number | undefined> = {
    run_id: info.runId,
    run_name: info.runName,
    status: info.status,
    user_id: info.userId,
    artifact_uri: info.artifactUri,
    lifecycle_stage: info.lifecycleStage,
    start_time: info.startTime,
    end_time: info.endTime ?? undefined,
  };
  return attributes[key];
}

/** A field of the run's first dataset input; `context` is the input's `mlflow.data.context` tag. */
function datasetField(run: Run, key: string): string | undefined {
  const first = run.datasetInputs[0] as
    | { dataset?: Record<string, unknown>; tags?: { key?: string; value?: string }[] }
    | undefined;
  const value =
    key === 'context'
      ? first?.tags?.find((t) => t.key === 'mlflow.data.context')?.value
      : first?.dataset?.[key];
  return typeof value === 'string' ? value : undefined;
}

function latestOf(metrics: readonly Metric[]): Metric | undefined {
  return [...metrics].sort((a, b) => b.step - a.step || b.timestamp - a.timestamp)[0];
}

function inView(stage: string, view: 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL'): boolean {
  return view === 'ALL' || (view === 'ACTIVE_ONLY' ? stage === 'active' : stage === 'deleted');
}

function orderOrDefault(order: OrderBy[], fallback: OrderBy[]): OrderBy[] {
  return order.length > 0 ? order : fallback;
}

/** One page of already sorted items; the token is the offset of the next page. */
function page<T>(
  items: T[],
  request: SearchRequest,
  limits: { default: number; max: number },
): SearchPage<T> {
  const max = request.maxResults ?? limits.default;
  if (!Number.isInteger(max) || max < 1 || max > limits.max) {
    throw invalid(
      `Invalid value ${max} for parameter 'max_results': expected 1 to ${limits.max}.`,
      'max_results',
    );
  }
  const offset = request.pageToken ? decodePageToken(request.pageToken) : 0;
  const slice = items.slice(offset, offset + max);
  const next = offset + max < items.length ? encodePageToken(offset + max) : null;
  return { items: slice, nextPageToken: next };
}

function checkText(field: string, value: string, max: number): void {
  if (value === '') throw invalid(`${field} must not be empty.`, field);
  if (value.length > max) throw invalid(`${field} is longer than ${max} characters.`, field);
}

function checkTags(tags: readonly KeyValue[], maxValue: number): void {
  for (const tag of tags) {
    checkText('tags.key', tag.key, LIMITS.key);
    if (tag.value.length > maxValue) {
      throw invalid(`Tag '${tag.key}' has a value longer than ${maxValue} characters.`, 'tags');
    }
  }
}

function invalid(message: string, field: string): SlipwayError {
  return new SlipwayError('INVALID_ARGUMENT', message, { field });
}
