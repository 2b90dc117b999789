import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The protocols a prediction can arrive on. */
export type Protocol = 'v1' | 'v2' | 'grpc';

/** One answered prediction request, as `slipway_requests_total` and its duration histogram count it. */
export interface RequestOutcome {
  /** Empty when no version was chosen (an unknown model or environment): hostile names never become labels. */
  readonly model: string;
  readonly version: string;
  readonly environment: string;
  readonly revision: string;
  readonly protocol: Protocol;
  /** The HTTP status of the outcome; gRPC answers count with the status the same failure has over HTTP. */
  readonly status: number;
  readonly seconds: number;
}

/** Why an inference worker was replaced. */
export type WorkerRestartReason = 'crashed' | 'deadline' | 'start_failed';

/** How a promotion ended, as `slipway_promotions_total{result}` names it. */
export type PromotionResult = 'promoted' | 'rejected' | 'failed' | 'aborted' | 'rolled_back';

/** One feature's drift verdict, as the drift gauges publish it. */
export interface DriftFigure {
  readonly name: string;
  readonly method: string;
  readonly statistic: number;
}

/** The Prometheus text of a server's metrics: one process's, or the sum over a cluster's processes. */
export interface MetricsExposition {
  readonly contentType: string;
  text(): Promise<string>;
}

/** Latency buckets in seconds: from half a millisecond (a loopback prediction) to ten seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536];
const LOAD_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const RUN_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200];

/**
 * Slipway's Prometheus metrics: one registry per process, the one owner of every metric's name,
 * help text and labels. Modules report what happened through the methods below (never through
 * prom-client directly), so a name cannot drift between the code that counts and the
 * dashboards and alert rules in `deploy/` that read it. Labels come only from names Slipway has
 * checked (a deployed model, a declared job): a request for a model that does not exist counts with
 * empty labels, so no caller can grow the series without bound.
 */
export class Metrics implements MetricsExposition {
  readonly registry = new Registry();
  private readonly requests: Counter<'model' | 'version' | 'environment' | 'revision' | 'protocol' | 'code'>;
  private readonly requestSeconds: Histogram<'model' | 'version' | 'environment' | 'protocol'>;
  private readonly batchSize: Histogram<'model' | 'version'>;
  private readonly queueWait: Histogram<'model' | 'version'>;
  private readonly workerRestarts: Counter<'reason'>;
  private readonly modelLoad: Histogram<'model' | 'version'>;
  private readonly promotions: Counter<'environment' | 'result'>;
  private readonly rollbacks: Counter<'environment' | 'kind'>;
  private readonly jobRuns: Counter<'job_name' | 'status'>;
  private readonly jobRowsScored: Counter<'job_name'>;
  private readonly jobRowsRejected: Counter<'job_name'>;
  private readonly jobRunSeconds: Histogram<'job_name'>;
  private readonly mlflowWrites: Counter<'operation'>;
  private readonly predictionLog: Counter<'environment' | 'model' | 'result'>;
  private readonly driftDetected: Gauge<'model' | 'environment'>;
  private readonly driftShare: Gauge<'model' | 'environment'>;
  private readonly featureDrift: Gauge<'model' | 'environment' | 'feature' | 'method'>;

  /** False when SLIPWAY_METRICS=off: nothing is counted, and `/metrics` answers 404. */
  readonly enabled: boolean;

  constructor(options: {
    readonly version: string;
    readonly enabled?: boolean;
    readonly processMetrics?: boolean;
  }) {
    this.enabled = options.enabled ?? true;
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'slipway_requests_total',
      help: 'Prediction requests answered, by deployment version, protocol and HTTP status.',
      labelNames: ['model', 'version', 'environment', 'revision', 'protocol', 'code'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'slipway_request_duration_seconds',
      help: 'Time from a prediction request received to its answer sent, in seconds.',
      labelNames: ['model', 'version', 'environment', 'protocol'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batchSize = new Histogram({
      name: 'slipway_batch_size',
      help: 'Rows in one inference call (requests merged by dynamic batching count together).',
      labelNames: ['model', 'version'],
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.queueWait = new Histogram({
      name: 'slipway_queue_wait_seconds',
      help: 'Time a request waited in its model queue before its call left for an inference worker.',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.workerRestarts = new Counter({
      name: 'slipway_inference_worker_restarts_total',
      help: 'Inference worker processes replaced: crashed, killed at a deadline, or failed to start.',
      labelNames: ['reason'],
      registers,
    });
    this.modelLoad = new Histogram({
      name: 'slipway_model_load_seconds',
      help: 'Time to load a model version into every inference worker and warm it, in seconds.',
      labelNames: ['model', 'version'],
      buckets: LOAD_BUCKETS,
      registers,
    });
    this.promotions = new Counter({
      name: 'slipway_promotions_total',
      help: 'Promotions ended, by environment and result.',
      labelNames: ['environment', 'result'],
      registers,
    });
    this.rollbacks = new Counter({
      name: 'slipway_rollbacks_total',
      help: 'Rollbacks written, by environment: manual (a person) or automatic (a canary breach).',
      labelNames: ['environment', 'kind'],
      registers,
    });
    this.jobRuns = new Counter({
      name: 'slipway_job_runs_total',
      help: 'Batch scoring runs ended, by job and final status.',
      labelNames: ['job_name', 'status'],
      registers,
    });
    this.jobRowsScored = new Counter({
      name: 'slipway_job_rows_scored_total',
      help: 'Rows batch scoring runs scored and wrote.',
      labelNames: ['job_name'],
      registers,
    });
    this.jobRowsRejected = new Counter({
      name: 'slipway_job_rows_rejected_total',
      help: 'Rows batch scoring runs rejected (inputs the model’s signature refused).',
      labelNames: ['job_name'],
      registers,
    });
    this.jobRunSeconds = new Histogram({
      name: 'slipway_job_run_duration_seconds',
      help: 'Duration of batch scoring runs, in seconds.',
      labelNames: ['job_name'],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.mlflowWrites = new Counter({
      name: 'slipway_mlflow_writes_total',
      help: 'Writes through the MLflow REST API, by operation.',
      labelNames: ['operation'],
      registers,
    });
    this.predictionLog = new Counter({
      name: 'slipway_prediction_log_records_total',
      help: 'Prediction log rows written, or dropped when the log could not keep up or write.',
      labelNames: ['environment', 'model', 'result'],
      registers,
    });
    this.driftDetected = new Gauge({
      name: 'slipway_drift_detected',
      help: '1 when the last drift check of a deployment found dataset drift, else 0.',
      labelNames: ['model', 'environment'],
      registers,
    });
    this.driftShare = new Gauge({
      name: 'slipway_drift_share',
      help: 'Share of features (and the prediction) that drifted at the last drift check, from 0 to 1.',
      labelNames: ['model', 'environment'],
      registers,
    });
    this.featureDrift = new Gauge({
      name: 'slipway_feature_drift_statistic',
      help: 'The drift statistic of one feature at the last check (a p-value or a distance, per method).',
      labelNames: ['model', 'environment', 'feature', 'method'],
      registers,
    });
    new Gauge({
      name: 'slipway_build_info',
      help: 'Always 1; the version label says which Slipway is running.',
      labelNames: ['version'],
      registers,
    }).set({ version: options.version }, 1);
    if (this.enabled && (options.processMetrics ?? true)) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Starts the counters of known label sets at 0, so the first promotion, rollback or worker restart
   * after a server starts is an increase Prometheus can see (`increase()` misses a series' first value).
   */
  declare(environments: readonly string[]): void {
    if (!this.enabled) return;
    for (const reason of ['crashed', 'deadline', 'start_failed'] as const)
      this.workerRestarts.inc({ reason }, 0);
    for (const environment of environments) {
      for (const result of ['promoted', 'rejected', 'failed', 'aborted', 'rolled_back'] as const) {
        this.promotions.inc({ environment, result }, 0);
      }
      for (const kind of ['manual', 'automatic'] as const) this.rollbacks.inc({ environment, kind }, 0);
    }
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  request(outcome: RequestOutcome): void {
    if (!this.enabled) return;
    const { model, version, environment, revision, protocol } = outcome;
    this.requests.inc({ model, version, environment, revision, protocol, code: String(outcome.status) });
    this.requestSeconds.observe({ model, version, environment, protocol }, outcome.seconds);
  }

  /** One inference call: its rows, and how long each request in it waited for a worker. */
  batch(model: string, version: string, rows: number, queueWaitsMs: readonly number[]): void {
    if (!this.enabled) return;
    this.batchSize.observe({ model, version }, rows);
    for (const waited of queueWaitsMs) this.queueWait.observe({ model, version }, waited / 1000);
  }

  workerRestart(reason: WorkerRestartReason): void {
    if (!this.enabled) return;
    this.workerRestarts.inc({ reason });
  }

  modelLoaded(model: string, version: string, seconds: number): void {
    if (!this.enabled) return;
    this.modelLoad.observe({ model, version }, seconds);
  }

  promotionEnded(environment: string, result: PromotionResult): void {
    if (!this.enabled) return;
    this.promotions.inc({ environment, result });
  }

  rollback(environment: string, kind: 'manual' | 'automatic'): void {
    if (!this.enabled) return;
    this.rollbacks.inc({ environment, kind });
  }

  jobRunEnded(
    job: string,
    status: 'succeeded' | 'failed' | 'cancelled',
    seconds: number,
    rows: { readonly scored: number; readonly rejected: number },
  ): void {
    if (!this.enabled) return;
    const job_name = job;
    this.jobRuns.inc({ job_name, status });
    this.jobRunSeconds.observe({ job_name }, seconds);
    if (rows.scored > 0) this.jobRowsScored.inc({ job_name }, rows.scored);
    if (rows.rejected > 0) this.jobRowsRejected.inc({ job_name }, rows.rejected);
  }

  mlflowWrite(operation: string): void {
    if (!this.enabled) return;
    this.mlflowWrites.inc({ operation });
  }

  predictionLogRows(environment: string, model: string, result: 'written' | 'dropped', rows: number): void {
    if (!this.enabled) return;
    this.predictionLog.inc({ environment, model, result }, rows);
  }

  /** The latest drift check of a deployment replaces the previous one's figures. */
  drift(
    model: string,
    environment: string,
    report: { readonly drifted: boolean; readonly share: number; readonly features: readonly DriftFigure[] },
  ): void {
    if (!this.enabled) return;
    this.driftDetected.set({ model, environment }, report.drifted ? 1 : 0);
    this.driftShare.set({ model, environment }, report.share);
    for (const feature of report.features) {
      this.featureDrift.set(
        { model, environment, feature: feature.name, method: feature.method },
        feature.statistic,
      );
    }
  }
}
