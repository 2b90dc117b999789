/**
 * The MLflow tracking domain: experiments, runs with their params, metrics and tags, logged models,
 * and what MLflow records about registry versions. Times are milliseconds since the epoch, as MLflow
 * clients send them.
 */

export type LifecycleStage = 'active' | 'deleted';
export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
export type LoggedModelStatus = 'LOGGED_MODEL_PENDING' | 'LOGGED_MODEL_READY' | 'LOGGED_MODEL_UPLOAD_FAILED';

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

export interface Experiment {
  readonly experimentId: string;
  readonly name: string;
  readonly artifactLocation: string;
  readonly lifecycleStage: LifecycleStage;
  readonly creationTime: number;
  readonly lastUpdateTime: number;
  readonly tags: readonly KeyValue[];
}

/** One logged point of a metric; `value` may be NaN or ±Infinity. */
export interface Metric {
  readonly key: string;
  readonly value: number;
  readonly timestamp: number;
  readonly step: number;
  /** Logged model the point belongs to ("" for none), and the dataset it was computed on. */
  readonly modelId?: string;
  readonly datasetName?: string;
  readonly datasetDigest?: string;
}

export interface RunInfo {
  readonly runId: string;
  readonly runName: string;
  readonly experimentId: string;
  readonly userId: string;
  readonly status: RunStatus;
  readonly startTime: number;
  readonly endTime: number | null;
  readonly artifactUri: string;
  readonly lifecycleStage: LifecycleStage;
}

/** A run with its data: params, tags, the latest point of each metric, inputs and outputs. */
export interface Run {
  readonly info: RunInfo;
  readonly params: readonly KeyValue[];
  readonly tags: readonly KeyValue[];
  readonly metrics: readonly Metric[];
  /** Dataset inputs as the client sent them (MLflow DatasetInput JSON). */
  readonly datasetInputs: readonly unknown[];
  readonly modelInputs: readonly { modelId: string }[];
  readonly modelOutputs: readonly { modelId: string; step: number }[];
}

export interface NewRun {
  readonly runId: string;
  readonly experimentId: string;
  readonly runName: string;
  readonly userId: string;
  readonly startTime: number;
  readonly artifactUri: string;
  readonly tags: readonly KeyValue[];
}

export interface RunUpdate {
  readonly status?: RunStatus;
  readonly endTime?: number;
  readonly runName?: string;
}

export interface LoggedModel {
  readonly modelId: string;
  readonly experimentId: string;
  readonly name: string;
  readonly artifactLocation: string;
  readonly status: LoggedModelStatus;
  readonly statusMessage: string;
  readonly modelType: string;
  readonly sourceRunId: string;
  readonly creationTimestamp: number;
  readonly lastUpdatedTimestamp: number;
  readonly params: readonly KeyValue[];
  readonly tags: readonly KeyValue[];
  /** Points logged with this model's id. */
  readonly metrics: readonly Metric[];
}

export type NewLoggedModel = Omit<LoggedModel, 'metrics' | 'lastUpdatedTimestamp' | 'statusMessage'>;

/** What MLflow says about a registry version beyond what Slipway records itself. */
export interface VersionRecord {
  readonly model: string;
  readonly version: number;
  /** The `source` the client registered (`models:/m-…`, `runs:/…`, `mlflow-artifacts:/…`). */
  readonly source: string;
  /** Where its files are: an `mlflow-artifacts:/…` URI (the download URI). */
  readonly storageLocation: string;
  readonly modelId: string;
  readonly runLink: string;
  /** Deprecated MLflow stage: None, Staging, Production or Archived. */
  readonly stage: string;
  readonly lastUpdatedTimestamp: number;
}

/** A batch of writes to one run, applied atomically. */
export interface RunBatch {
  readonly metrics?: readonly Metric[];
  readonly params?: readonly KeyValue[];
  readonly tags?: readonly KeyValue[];
}

/**
 * Durable store of the MLflow tracking domain. Writes are atomic: a batch is written whole or not
 * at all. Metrics are append-only and a point logged twice is stored once (clients replay requests).
 * Params never change: logging a different value for a key is INVALID_ARGUMENT.
 *
 * Errors: NOT_FOUND (experiment, run, logged model, tag), ALREADY_EXISTS, INVALID_ARGUMENT.
 */
export interface TrackingStore {
  createExperiment(name: string, tags: readonly KeyValue[], artifactLocation?: string): Promise<Experiment>;
  getExperiment(experimentId: string): Promise<Experiment>;
  /** The experiment with that name, or null. */
  findExperiment(name: string): Promise<Experiment | null>;
  /** Every experiment (the service filters, sorts and pages). */
  listExperiments(): Promise<Experiment[]>;
  updateExperiment(
    experimentId: string,
    change: { name?: string; lifecycleStage?: LifecycleStage },
  ): Promise<void>;
  setExperimentTag(experimentId: string, key: string, value: string | null): Promise<void>;

  createRun(run: NewRun): Promise<Run>;
  getRun(runId: string): Promise<Run>;
  /** The runs of the given experiments (the service filters, sorts and pages). */
  listRuns(experimentIds: readonly string[]): Promise<Run[]>;
  updateRun(runId: string, update: RunUpdate): Promise<RunInfo>;
  setRunLifecycle(runId: string, stage: LifecycleStage): Promise<void>;
  /** Writes metrics, params and tags of one run in one transaction. */
  logBatch(runId: string, batch: RunBatch): Promise<void>;
  deleteRunTag(runId: string, key: string): Promise<void>;
  /** Every point of one metric, ordered by step, then timestamp. */
  metricHistory(runId: string, key: string): Promise<Metric[]>;
  /** Records run inputs (datasets, models) or outputs (models). */
  logRunLinks(
    runId: string,
    links: readonly { direction: 'input' | 'output'; kind: 'dataset' | 'model'; payload: unknown }[],
  ): Promise<void>;

  createLoggedModel(model: NewLoggedModel): Promise<LoggedModel>;
  getLoggedModel(modelId: string): Promise<LoggedModel>;
  listLoggedModels(experimentIds: readonly string[]): Promise<LoggedModel[]>;
  finalizeLoggedModel(modelId: string, status: LoggedModelStatus): Promise<LoggedModel>;
  setLoggedModelTags(modelId: string, tags: readonly KeyValue[]): Promise<void>;
  deleteLoggedModelTag(modelId: string, key: string): Promise<void>;
  logLoggedModelParams(modelId: string, params: readonly KeyValue[]): Promise<void>;

  recordVersion(record: VersionRecord): Promise<void>;
  /** MLflow's record of a version, or null for a version pushed through Slipway's own API. */
  versionRecord(model: string, version: number): Promise<VersionRecord | null>;
  versionRecords(model: string | null): Promise<VersionRecord[]>;
  setVersionStage(model: string, version: number, stage: string): Promise<void>;
}
