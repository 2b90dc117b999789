import type { FastifyInstance } from 'fastify';
import { echo, SlipwayError } from '../../errors/index.js';
import { type MlflowService, parseRunStatus } from '../mlflow-service.js';
import type { LoggedModelStatus } from '../tracking-store.js';
import { endpoint, optionalPaging, withToken } from './endpoint.js';
import {
  invalid,
  readMetric,
  wireExperiment,
  wireLoggedModel,
  wireMetric,
  wireRun,
  wireRunInfo,
} from './mlflow-wire.js';

const VIEW_TYPES = { 1: 'ACTIVE_ONLY', 2: 'DELETED_ONLY', 3: 'ALL' } as const;

function viewType(value: unknown): 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL' {
  if (value === undefined || value === null || value === '') return 'ACTIVE_ONLY';
  if (value === 'ACTIVE_ONLY' || value === 'DELETED_ONLY' || value === 'ALL') return value;
  const number = Number(value);
  if (number in VIEW_TYPES) return VIEW_TYPES[number as 1 | 2 | 3];
  throw invalid(`Invalid view type ${echo(value)}: expected ACTIVE_ONLY, DELETED_ONLY or ALL.`, 'view_type');
}

function loggedModelStatus(value: unknown): LoggedModelStatus {
  const names: LoggedModelStatus[] = [
    'LOGGED_MODEL_PENDING',
    'LOGGED_MODEL_READY',
    'LOGGED_MODEL_UPLOAD_FAILED',
  ];
  if (typeof value === 'string' && (names as string[]).includes(value)) return value as LoggedModelStatus;
  const number = Number(value);
  if (Number.isInteger(number) && number >= 1 && number <= 3) return names[number - 1]!;
  throw invalid(`Invalid logged model status ${echo(value)}: expected one of ${names.join(', ')}.`, 'status');
}

/** Experiments, runs, metrics and logged models under /api/2.0/mlflow. */
export function trackingRoutes(app: FastifyInstance, mlflow: MlflowService): void {
  const { tracking } = mlflow;

  // ------------------------------------------------------------ experiments
  endpoint(app, ['POST'], '/experiments/create', 'developer', async (f) => {
    const experiment = await mlflow.createExperiment(
      f.required('name'),
      f.keyValues('tags'),
      f.string('artifact_location'),
    );
    return { experiment_id: experiment.experimentId };
  });
  endpoint(app, ['GET'], '/experiments/get', 'viewer', async (f) => ({
    experiment: wireExperiment(await tracking.getExperiment(f.required('experiment_id'))),
  }));
  endpoint(app, ['GET'], '/experiments/get-by-name', 'viewer', async (f) => {
    const name = f.required('experiment_name');
    const experiment = await tracking.findExperiment(name);
    if (!experiment)
      throw new SlipwayError('NOT_FOUND', `Could not find experiment with name '${name}'`, { name });
    return { experiment: wireExperiment(experiment) };
  });
  endpoint(app, ['GET', 'POST'], '/experiments/search', 'viewer', async (f) => {
    const found = await mlflow.searchExperiments({
      filter: f.string('filter') ?? '',
      orderBy: f.strings('order_by'),
      ...optionalPaging(f),
      viewType: viewType(f.raw('view_type')),
    });
    return withToken({ experiments: found.items.map(wireExperiment) }, found.nextPageToken);
  });
  endpoint(app, ['POST'], '/experiments/update', 'developer', async (f) => {
    const name = f.string('new_name');
    await tracking.updateExperiment(f.required('experiment_id'), name ? { name } : {});
    return {};
  });
  endpoint(app, ['POST'], '/experiments/delete', 'developer', async (f) => {
    await tracking.updateExperiment(f.required('experiment_id'), { lifecycleStage: 'deleted' });
    return {};
  });
  endpoint(app, ['POST'], '/experiments/restore', 'developer', async (f) => {
    await tracking.updateExperiment(f.required('experiment_id'), { lifecycleStage: 'active' });
    return {};
  });
  endpoint(app, ['POST'], '/experiments/set-experiment-tag', 'developer', async (f) => {
    await tracking.setExperimentTag(f.required('experiment_id'), f.required('key'), f.string('value') ?? '');
    return {};
  });
  endpoint(app, ['POST'], '/experiments/delete-experiment-tag', 'developer', async (f) => {
    await tracking.setExperimentTag(f.required('experiment_id'), f.required('key'), null);
    return {};
  });

  // ------------------------------------------------------------ runs
  endpoint(app, ['POST'], '/runs/create', 'developer', async (f) => {
    const tags = f.keyValues('tags');
    const runName = f.string('run_name');
    const startTime = f.integer('start_time');
    const run = await mlflow.createRun({
      experimentId: f.string('experiment_id') || '0',
      userId: f.string('user_id') ?? tags.find((t) => t.key === 'mlflow.user')?.value ?? '',
      tags,
      ...(runName ? { runName } : {}),
      ...(startTime !== undefined ? { startTime } : {}),
    });
    return { run: wireRun(run) };
  });
  endpoint(app, ['GET'], '/runs/get', 'viewer', async (f) => ({
    run: wireRun(await tracking.getRun(f.runId())),
  }));
  endpoint(app, ['POST'], '/runs/update', 'developer', async (f) => {
    const status = f.raw('status');
    const endTime = f.integer('end_time');
    const runName = f.string('run_name');
    const info = await tracking.updateRun(f.runId(), {
      ...(status !== undefined && status !== null ? { status: parseRunStatus(status) } : {}),
      ...(endTime !== undefined ? { endTime } : {}),
      ...(runName ? { runName } : {}),
    });
    return { run_info: wireRunInfo(info) };
  });
  endpoint(app, ['POST'], '/runs/delete', 'developer', async (f) => {
    await tracking.setRunLifecycle(f.runId(), 'deleted');
    return {};
  });
  endpoint(app, ['POST'], '/runs/restore', 'developer', async (f) => {
    await tracking.setRunLifecycle(f.runId(), 'active');
    return {};
  });
  endpoint(app, ['POST'], '/runs/log-metric', 'developer', async (f) => {
    const metric = readMetric(
      {
        key: f.raw('key'),
        value: f.raw('value'),
        timestamp: f.raw('timestamp'),
        step: f.raw('step'),
        model_id: f.raw('model_id'),
        dataset_name: f.raw('dataset_name'),
        dataset_digest: f.raw('dataset_digest'),
      },
      'metric',
    );
    await mlflow.logBatch(f.runId(), { metrics: [metric] });
    return {};
  });
  endpoint(app, ['POST'], '/runs/log-parameter', 'developer', async (f) => {
    await mlflow.logBatch(f.runId(), {
      params: [{ key: f.required('key'), value: f.string('value') ?? '' }],
    });
    return {};
  });
  endpoint(app, ['POST'], '/runs/set-tag', 'developer', async (f) => {
    await mlflow.logBatch(f.runId(), { tags: [{ key: f.required('key'), value: f.string('value') ?? '' }] });
    return {};
  });
  endpoint(app, ['POST'], '/runs/delete-tag', 'developer', async (f) => {
    await tracking.deleteRunTag(f.runId(), f.required('key'));
    return {};
  });
  endpoint(app, ['POST'], '/runs/log-batch', 'developer', async (f) => {
    await mlflow.logBatch(f.runId(), {
      metrics: f.objects('metrics').map((m, i) => readMetric(m, `metrics[${i}]`)),
      params: f.keyValues('params'),
      tags: f.keyValues('tags'),
    });
    return {};
  });
  endpoint(app, ['POST'], '/runs/log-model', 'developer', async (f) => {
    // MLflow 2.x records logged models in a run tag, as MLflow's own server does.
    const runId = f.runId();
    const text = f.required('model_json');
    let model: Record<string, unknown>;
    try {
      model = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw invalid('model_json is not valid JSON.', 'model_json');
    }
    for (const key of ['artifact_path', 'flavors', 'utc_time_created', 'run_id']) {
      if (!(key in model)) throw invalid(`Model json is missing mandatory fields: ${key}`, 'model_json');
    }
    const run = await tracking.getRun(runId);
    const history = run.tags.find((t) => t.key === 'mlflow.log-model.history')?.value;
    const list = history ? (JSON.parse(history) as unknown[]) : [];
    list.push(model);
    await mlflow.logBatch(runId, {
      tags: [{ key: 'mlflow.log-model.history', value: JSON.stringify(list) }],
    });
    return {};
  });
  endpoint(app, ['POST'], '/runs/log-inputs', 'developer', async (f) => {
    const runId = f.runId();
    await tracking.logRunLinks(runId, [
      ...f
        .objects('datasets')
        .map((payload) => ({ direction: 'input' as const, kind: 'dataset' as const, payload })),
      ...f.objects('models').map((m) => ({
        direction: 'input' as const,
        kind: 'model' as const,
        payload: { modelId: String(m.model_id ?? '') },
      })),
    ]);
    return {};
  });
  endpoint(app, ['POST'], '/runs/outputs', 'developer', async (f) => {
    const runId = f.runId();
    await tracking.logRunLinks(
      runId,
      f.objects('models').map((m) => ({
        direction: 'output' as const,
        kind: 'model' as const,
        payload: { modelId: String(m.model_id ?? ''), step: Number(m.step ?? 0) },
      })),
    );
    return {};
  });
  endpoint(app, ['POST'], '/runs/search', 'viewer', async (f) => {
    const found = await mlflow.searchRuns({
      experimentIds: f.strings('experiment_ids'),
      filter: f.string('filter') ?? '',
      orderBy: f.strings('order_by'),
      ...optionalPaging(f),
      viewType: viewType(f.raw('run_view_type')),
    });
    return withToken({ runs: found.items.map(wireRun) }, found.nextPageToken);
  });
  endpoint(app, ['GET'], '/metrics/get-history', 'viewer', async (f) => {
    const runId = f.runId();
    const metrics = await tracking.metricHistory(runId, f.required('metric_key'));
    return { metrics: metrics.map((m) => wireMetric(m)) };
  });
  endpoint(app, ['GET'], '/artifacts/list', 'viewer', async (f) => {
    const run = await tracking.getRun(f.runId());
    // Relative to the run's root: an absolute or escaping path is refused, as MLflow refuses it.
    const path = (f.string('path') ?? '').replace(/\/+$/, '');
    const root = run.info.artifactUri;
    const entries = await mlflow.artifacts.list(root.replace(/^mlflow-artifacts:\/?/, ''), path);
    return {
      root_uri: root,
      files: entries.map((e) => ({
        path: path ? `${path}/${e.name}` : e.name,
        is_dir: e.isDir,
        ...(e.sizeBytes !== undefined ? { file_size: e.sizeBytes } : {}),
      })),
    };
  });

  // ------------------------------------------------------------ logged models (MLflow 3)
  endpoint(app, ['POST'], '/logged-models', 'developer', async (f) => {
    const name = f.string('name');
    const modelType = f.string('model_type');
    const sourceRunId = f.string('source_run_id');
    const model = await mlflow.createLoggedModel({
      experimentId: f.required('experiment_id'),
      params: f.keyValues('params'),
      tags: f.keyValues('tags'),
      ...(name ? { name } : {}),
      ...(modelType ? { modelType } : {}),
      ...(sourceRunId ? { sourceRunId } : {}),
    });
    return { model: wireLoggedModel(model) };
  });
  endpoint(app, ['POST'], '/logged-models/search', 'viewer', async (f) => {
    const found = await mlflow.searchLoggedModels({
      experimentIds: f.strings('experiment_ids'),
      filter: f.string('filter') ?? '',
      orderBy: f.objects('order_by').map((o) => ({
        fieldName: String(o.field_name ?? ''),
        ascending: o.ascending !== false && o.ascending !== 'false',
      })),
      ...optionalPaging(f),
    });
    return withToken({ models: found.items.map((m) => wireLoggedModel(m)) }, found.nextPageToken);
  });
  endpoint(app, ['GET'], '/logged-models/:modelId', 'viewer', async (_f, params) => ({
    model: wireLoggedModel(await tracking.getLoggedModel(params.modelId!)),
  }));
  endpoint(app, ['PATCH'], '/logged-models/:modelId', 'developer', async (f, params) => ({
    model: wireLoggedModel(
      await mlflow.finalizeLoggedModel(params.modelId!, loggedModelStatus(f.raw('status'))),
    ),
  }));
  endpoint(app, ['PATCH'], '/logged-models/:modelId/tags', 'developer', async (f, params) => {
    await tracking.setLoggedModelTags(params.modelId!, f.keyValues('tags'));
    return {};
  });
  endpoint(app, ['DELETE'], '/logged-models/:modelId/tags/:key', 'developer', async (_f, params) => {
    await tracking.deleteLoggedModelTag(params.modelId!, params.key!);
    return {};
  });
  endpoint(app, ['POST'], '/logged-models/:modelId/params', 'developer', async (f, params) => {
    await tracking.logLoggedModelParams(params.modelId!, f.keyValues('params'));
    return {};
  });
}
