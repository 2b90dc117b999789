import type { FastifyRequest } from 'fastify';
import { echo, SlipwayError } from '../../errors/index.js';
import { defaultSource, type MlflowModel, type MlflowVersion } from '../mlflow-service.js';
import type { Experiment, KeyValue, LoggedModel, Metric, Run, RunInfo } from '../tracking-store.js';

/**
 * MLflow's JSON shapes (proto3 JSON: snake_case, ids and versions as strings, enums by name, NaN and
 * infinities as strings) and the reading of requests as the MLflow client sends them: GET parameters
 * in the query string (repeated keys for lists), everything else as a JSON body.
 */

/** Request fields, from the query string of a GET or the JSON body of anything else. */
export class Fields {
  private readonly source: Record<string, unknown>;

  constructor(request: FastifyRequest) {
    const from = request.method === 'GET' || request.method === 'HEAD' ? request.query : request.body;
    if (from !== undefined && from !== null && (typeof from !== 'object' || Array.isArray(from))) {
      throw invalid('The request body must be a JSON object.', 'body');
    }
    this.source = (from ?? {}) as Record<string, unknown>;
  }

  /** A string field; numbers are accepted as their decimal spelling (ids may arrive either way). */
  string(name: string): string | undefined {
    const value = this.first(name);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    throw invalid(`Field '${name}' must be a string.`, name);
  }

  required(name: string): string {
    const value = this.string(name);
    if (value === undefined || value === '')
      throw invalid(`Missing value for required parameter '${name}'.`, name);
    return value;
  }

  /** The run id, sent as `run_id` and (older clients) `run_uuid`. */
  runId(): string {
    const value = this.string('run_id') || this.string('run_uuid');
    if (!value) throw invalid("Missing value for required parameter 'run_id'.", 'run_id');
    return value;
  }

  /** An int64: a JSON number or a numeric string. */
  integer(name: string): number | undefined {
    const value = this.first(name);
    if (value === undefined || value === null || value === '') return undefined;
    const number = typeof value === 'string' && /^-?\d{1,18}$/.test(value) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isSafeInteger(number)) {
      throw invalid(`Field '${name}' must be an integer, got ${echo(value)}.`, name);
    }
    return number;
  }

  boolean(name: string): boolean | undefined {
    const value = this.first(name);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    throw invalid(`Field '${name}' must be true or false.`, name);
  }

  /** A repeated string field (repeated query keys, or a JSON array). */
  strings(name: string): string[] {
    const value = this.source[name];
    if (value === undefined || value === null) return [];
    const list = Array.isArray(value) ? value : [value];
    return list.map((item) => {
      if (typeof item === 'string') return item;
      if (typeof item === 'number') return String(item);
      throw invalid(`Field '${name}' must be a list of strings.`, name);
    });
  }

  /** A repeated message field (JSON arrays of objects; POST bodies only). */
  objects(name: string): Record<string, unknown>[] {
    const value = this.source[name];
    if (value === undefined || value === null) return [];
    if (
      !Array.isArray(value) ||
      value.some((item) => typeof item !== 'object' || item === null || Array.isArray(item))
    ) {
      throw invalid(`Field '${name}' must be a list of objects.`, name);
    }
    return value as Record<string, unknown>[];
  }

  keyValues(name: string): KeyValue[] {
    return this.objects(name).map((item, index) => {
      const { key, value } = item;
      if (typeof key !== 'string' || key === '')
        throw invalid(`${name}[${index}].key must be a non-empty string.`, name);
      if (value !== undefined && value !== null && typeof value !== 'string') {
        throw invalid(`${name}[${index}].value must be a string.`, name);
      }
      return { key, value: (value as string | undefined) ?? '' };
    });
  }

  raw(name: string): unknown {
    return this.first(name);
  }

  private first(name: string): unknown {
    const value = this.source[name];
    return Array.isArray(value) && typeof value[0] !== 'object' ? value[0] : value;
  }
}

/** A metric value: a number, or the strings proto JSON uses for NaN and the infinities. */
export function metricValue(value: unknown, field: string): number {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return Number.NaN;
  if (value === 'Infinity') return Number.POSITIVE_INFINITY;
  if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  throw invalid(`${field} must be a number, got ${echo(value)}.`, field);
}

/** A metric as the client sends it (log-metric fields, or one item of log-batch `metrics`). */
export function readMetric(item: Record<string, unknown>, field: string): Metric {
  const { key, timestamp, step } = item;
  if (typeof key !== 'string' || key === '') throw invalid(`${field}.key must be a non-empty string.`, field);
  const int = (value: unknown, name: string, fallback?: number): number => {
    if ((value === undefined || value === null) && fallback !== undefined) return fallback;
    const number = typeof value === 'string' && /^-?\d{1,18}$/.test(value) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isSafeInteger(number)) {
      throw invalid(`${field}.${name} must be an integer, got ${echo(value)}.`, field);
    }
    return number;
  };
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  return {
    key,
    value: metricValue(item.value, `${field}.value`),
    timestamp: int(timestamp, 'timestamp'),
    step: int(step, 'step', 0),
    modelId: text(item.model_id),
    datasetName: text(item.dataset_name),
    datasetDigest: text(item.dataset_digest),
  };
}

function double(value: number): number | string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return 'Infinity';
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
  return value;
}

const pairs = (items: readonly KeyValue[]) => items.map(({ key, value }) => ({ key, value }));

export function wireMetric(metric: Metric, runId?: string) {
  return {
    key: metric.key,
    value: double(metric.value),
    timestamp: metric.timestamp,
    step: metric.step,
    ...(metric.modelId ? { model_id: metric.modelId } : {}),
    ...(metric.datasetName ? { dataset_name: metric.datasetName } : {}),
    ...(metric.datasetDigest ? { dataset_digest: metric.datasetDigest } : {}),
    ...(runId ? { run_id: runId } : {}),
  };
}

export function wireExperiment(experiment: Experiment) {
  return {
    experiment_id: experiment.experimentId,
    name: experiment.name,
    artifact_location: experiment.artifactLocation,
    lifecycle_stage: experiment.lifecycleStage,
    last_update_time: experiment.lastUpdateTime,
    creation_time: experiment.creationTime,
    tags: pairs(experiment.tags),
  };
}

export function wireRunInfo(info: RunInfo) {
  return {
    run_id: info.runId,
    run_uuid: info.runId,
    run_name: info.runName,
    experiment_id: info.experimentId,
    user_id: info.userId,
    status: info.status,
    start_time: info.startTime,
    ...(info.endTime !== null ? { end_time: info.endTime } : {}),
    artifact_uri: info.artifactUri,
    lifecycle_stage: info.lifecycleStage,
  };
}

export function wireRun(run: Run) {
  return {
    info: wireRunInfo(run.info),
    data: {
      metrics: run.metrics.map((m) => wireMetric(m)),
      params: pairs(run.params),
      tags: pairs(run.tags),
    },
    inputs: {
      dataset_inputs: [...run.datasetInputs],
      model_inputs: run.modelInputs.map((m) => ({ model_id: m.modelId })),
    },
    outputs: { model_outputs: run.modelOutputs.map((m) => ({ model_id: m.modelId, step: m.step })) },
  };
}

export function wireLoggedModel(
  model: LoggedModel,
  registrations: readonly { name: string; version: string }[] = [],
) {
  return {
    info: {
      model_id: model.modelId,
      experiment_id: model.experimentId,
      name: model.name,
      artifact_uri: model.artifactLocation,
      status: model.status,
      creation_timestamp_ms: model.creationTimestamp,
      last_updated_timestamp_ms: model.lastUpdatedTimestamp,
      ...(model.modelType ? { model_type: model.modelType } : {}),
      ...(model.sourceRunId ? { source_run_id: model.sourceRunId } : {}),
      ...(model.statusMessage ? { status_message: model.statusMessage } : {}),
      tags: pairs(model.tags),
      registrations: [...registrations],
    },
    data: { params: pairs(model.params), metrics: model.metrics.map((m) => wireMetric(m)) },
  };
}

const VERSION_STATUS = {
  READY: 'READY',
  PENDING: 'PENDING_REGISTRATION',
  FAILED: 'FAILED_REGISTRATION',
} as const;

export function wireVersion({ version, record }: MlflowVersion) {
  const created = Date.parse(version.createdAt);
  const statusMessage = version.unservableReason
    ? `Stored, not servable: ${version.unservableReason}`
    : version.status === 'READY'
      ? ''
      : `Slipway status ${version.status}`;
  return {
    name: version.model,
    version: String(version.version),
    creation_timestamp: created,
    last_updated_timestamp: Math.max(created, record?.lastUpdatedTimestamp ?? 0),
    user_id: version.lineage.uploader,
    current_stage: record?.stage || 'None',
    description: version.description,
    source: record?.source || defaultSource(version),
    ...(version.lineage.runId ? { run_id: version.lineage.runId } : {}),
    status: VERSION_STATUS[version.status],
    ...(statusMessage ? { status_message: statusMessage } : {}),
    tags: Object.entries(version.tags).map(([key, value]) => ({ key, value })),
    ...(record?.runLink ? { run_link: record.runLink } : {}),
    aliases: [...version.aliases],
    ...(record?.modelId ? { model_id: record.modelId } : {}),
  };
}

export function wireRegisteredModel({ model, latestVersions }: MlflowModel) {
  return {
    name: model.name,
    creation_timestamp: Date.parse(model.createdAt),
    last_updated_timestamp: Date.parse(model.updatedAt),
    description: model.description,
    latest_versions: latestVersions.map(wireVersion),
    tags: Object.entries(model.tags).map(([key, value]) => ({ key, value })),
    aliases: Object.entries(model.aliases).map(([alias, version]) => ({ alias, version: String(version) })),
  };
}

/** A version number as MLflow sends it: a decimal string. */
export function versionNumber(text: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text)) {
    throw invalid(`Invalid model version '${text}': expected a positive integer such as "1".`, 'version');
  }
  return Number(text);
}

export function invalid(message: string, field: string): SlipwayError {
  return new SlipwayError('INVALID_ARGUMENT', message, { field });
}
