import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { WebhookNotifier } from './alerts/webhook-notifier.js';
import type { ArtifactStore } from './artifacts/artifact-store.js';
import { artifactStoreForUri } from './artifacts/artifact-store-for-uri.js';
import { TokenService } from './auth/token-service.js';
import { type Config, type ConfigOverrides, compileConfig } from './config/index.js';
import { DeploymentService } from './deployments/deployment-service.js';
import { TrafficFigures } from './deployments/traffic-figures.js';
import type { Clock } from './domain/clock.js';
import { versionInService } from './domain/revision.js';
import { SYSTEM_CONTEXT } from './domain/roles.js';
import { DriftService } from './drift/drift-service.js';
import { SlipwayError } from './errors/index.js';
import type { GrpcListener } from './grpc/grpc-server.js';
import { type MetricsListener, startMetricsListener } from './http/metrics-listener.js';
import { buildHttpServer, closeHttpServer } from './http/server.js';
import { JobRunner } from './jobs/job-runner.js';
import { JobService } from './jobs/job-service.js';
import { warehouseFor } from './jobs/warehouse/warehouse-for-uri.js';
import { Leadership } from './leadership/leadership.js';
import { mlflowRoutes } from './mlflow/http/mlflow-routes.js';
import { MlflowArtifacts } from './mlflow/mlflow-artifacts.js';
import { MlflowService } from './mlflow/mlflow-service.js';
import { Metrics, type MetricsExposition } from './observability/metrics.js';
import { PredictionLog, type PredictionLogOptions } from './observability/prediction-log.js';
import { startTracing } from './observability/tracing.js';
import { RegistryService } from './registry/registry-service.js';
import { OnnxInferenceRuntime } from './runtime/onnx/onnx-inference-runtime.js';
import { DataPlane } from './serving/data-plane.js';
import { ModelHost } from './serving/model-host.js';
import { toRowOutputs } from './serving/output-encoder.js';
import { TrafficStats } from './serving/traffic-stats.js';
import { storesForUri } from './stores-for-uri.js';
import { SLIPWAY_VERSION } from './version.js';

/** A running Slipway: its parts, and how to stop it. */
export interface App {
  readonly config: Config;
  readonly http: FastifyInstance;
  readonly registry: RegistryService;
  readonly dataPlane: DataPlane;
  readonly deployments: DeploymentService;
  readonly tokens: TokenService;
  readonly jobs: JobService;
  /** The sample of served predictions kept in the artifact store (drift analysis reads it). */
  readonly predictionLog: PredictionLog;
  readonly logger: Logger;
  /** This process's Prometheus metrics. */
  readonly metrics: Metrics;
  /** The URL the server listens on, once `listen` has resolved. */
  url(): string;
  /** `host:port` of the gRPC listener once `listen` has resolved, or null when SLIPWAY_GRPC_PORT is unset. */
  grpcAddress(): string | null;
  /** `host:port` of the metrics listener once `listen` has resolved, or null when SLIPWAY_METRICS_PORT is unset. */
  metricsAddress(): string | null;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface CreateAppOptions {
  readonly overrides?: ConfigOverrides;
  readonly logger?: Logger;
  /**
   * False for the second and later HTTP processes of one server (`SLIPWAY_HTTP_PROCESSES`): the
   * first one alone recovers interrupted uploads and resumes rollouts after a restart.
   */
  readonly leader?: boolean;
  /** Time and timers for deployments (rollout analysis, promotion leases); tests move it by hand. */
  readonly clock?: Clock;
  /**
   * What `/metrics` answers, given this process's metrics; the default is those metrics alone. An
   * HTTP process of a cluster answers with every process's sum instead.
   */
  readonly exposition?: (metrics: Metrics) => MetricsExposition;
  /**
   * The other HTTP processes of this server (node:cluster): `announce` tells them this one wrote a
   * revision, `news` hears that one of them did, so they switch at once even on SQLite.
   */
  readonly peers?: { readonly announce: () => void; readonly news: (onChange: () => void) => void };
  /** The prediction log's buffer and write interval, and the store it writes to (tests change them). */
  readonly predictionLog?: Pick<PredictionLogOptions, 'maxBufferRows' | 'flushIntervalMs'> & {
    readonly artifacts?: ArtifactStore;
  };
}

/**
 * The composition root: the only place that knows concrete classes. Start-up order is config ->
 * stores (migrated, crash leftovers cleaned) -> inference workers -> services -> HTTP; shutdown is the
 * reverse, so no request meets a closed store.
 */
export async function createApp(options: CreateAppOptions = {}): Promise<App> {
  const config = compileConfig(options.overrides);
  // Logs go to stderr as JSON lines, so stdout stays free for command output (`slipway serve --json`).
  const logger =
    options.logger ?? pino({ level: config.logLevel, base: { service: 'slipway' } }, pino.destination(2));

  const metrics = new Metrics({ version: SLIPWAY_VERSION, enabled: config.metrics });
  // Without an OTLP endpoint the OpenTelemetry SDK is never loaded and requests carry no trace.
  const tracing = config.traces ? await startTracing(config.traces, SLIPWAY_VERSION) : null;
  const exposition = options.exposition?.(metrics) ?? metrics;
  metrics.declare(config.environments.map((e) => e.name));
  const {
    database,
    registry: store,
    deployments: deploymentStore,
    audit,
    tokens: tokenStore,
    jobs: jobStore,
    tracking,
    traffic,
    leases,
  } = storesForUri(config.registryUri);
  await database.migrate();
  const artifacts = artifactStoreForUri(config.artifactUri, { s3: config.s3 });
  const cleanUpUploads = async (cutoff?: { pendingMs: number; stagedMs: number }) => {
    const now = Date.now();
    const leftovers = await artifacts.cleanupStaging(cutoff ? now - cutoff.stagedMs : undefined);
    const abandoned = await store.failPendingVersions(
      'the server stopped before the upload completed',
      cutoff ? new Date(now - cutoff.pendingMs).toISOString() : undefined,
    );
    if (leftovers + abandoned > 0) logger.warn({ leftovers, abandoned }, 'cleaned up interrupted uploads');
  };
  // A control server (all-in-one, no --env) alone on its registry knows, as it starts, that no upload
  // is in progress: it recovers every interrupted one at once. (A server for one environment sharing
  // the registry, or a later HTTP process, must not fail an upload another process is receiving.)
  // On a shared database, the lead recovers only what is too old to be in progress (see onLead).
  const leader = options.leader ?? true;
  if (config.environment === null && leader && !database.shared) await cleanUpUploads();

  const runtime = new OnnxInferenceRuntime({
    workers: config.inferenceWorkers,
    inferenceTimeoutMs: config.inferenceTimeoutMs,
    onRestart: (reason) => metrics.workerRestart(reason),
    logger,
  });
  await runtime.started();
  const host = new ModelHost({
    runtime,
    artifacts,
    maxLoaded: config.maxLoadedVersions,
    warmupTimeoutMs: Math.max(config.inferenceTimeoutMs, 60_000),
    batchPolicy: config.batching,
    workers: config.inferenceWorkers,
    metrics,
    logger,
  });
  // The registry's hooks reach deployments only when a version becomes READY, after start-up.
  const registry: RegistryService = new RegistryService({
    store,
    artifacts,
    gate: {
      validate: (bytes) => host.validate(bytes),
      prepare: (upload, warmup) => host.prepare(upload, warmup),
    },
    maxUploadBytes: config.maxUploadBytes,
    hooks: {
      versionReady: async (version, context) => {
        drift.versionReady(version);
        await deployments.autoDeploy(version, context);
      },
      audit: async (event) => {
        await audit.record(event);
      },
    },
    logger,
  });
  const served = config.environments.filter(
    (e) => config.environment === null || e.name === config.environment,
  );
  // Alerts go out from the process whose action raised them; none is built without webhooks.
  const alerts =
    config.alerts.webhooks.length > 0
      ? new WebhookNotifier({ webhooks: config.alerts.webhooks, logger })
      : null;
  const stats = new TrafficStats(options.clock);
  // Every replica writes its traffic windows to the registry; canary analysis sums them all.
  const figures = new TrafficFigures({
    stats,
    store: traffic,
    replica: config.replicaName,
    ...(options.clock ? { clock: options.clock } : {}),
    logger,
  });
  const predictionLog = new PredictionLog({
    ...options.predictionLog,
    artifacts: options.predictionLog?.artifacts ?? artifacts,
    environments: config.environments,
    onCount: (environment, model, result, rows) =>
      metrics.predictionLogRows(environment, model, result, rows),
    logger,
  });
  const dataPlane = new DataPlane({
    registry,
    revisions: deploymentStore,
    host,
    stats,
    environments: served,
    followIntervalMs: config.followIntervalMs,
    logger,
    predictionLog,
    ...(options.peers ? { news: options.peers.news } : {}),
  });
  const deployments: DeploymentService = new DeploymentService({
    registry,
    store: deploymentStore,
    audit,
    dataPlane,
    figures,
    environments: config.environments,
    served: served.map((e) => e.name),
    analysisIntervalMs: config.analysisIntervalMs,
    promotionLeaseMs: config.promotionLeaseMs,
    metrics,
    ...(alerts ? { alerts } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    datasetChanged: (model, name) => drift.datasetChanged(model, name),
    ...(options.peers ? { announceRevision: options.peers.announce } : {}),
    logger,
  });
  const drift: DriftService = new DriftService({
    registry,
    datasets: deployments,
    predict: async (model, version, rows) =>
      toRowOutputs(
        (await dataPlane.inferVersion(model, version, { kind: 'rows', rows: [...rows] })).outputs,
        rows.length,
      ),
    versionInService: async (model, environment) => {
      const revision = await deploymentStore.currentRevision(model, environment);
      return revision ? versionInService(revision) : null;
    },
    predictionLog,
    artifacts,
    checks: config.driftChecks,
    metrics,
    ...(alerts ? { alerts } : {}),
    logger,
  });
  const tokens = new TokenService(tokenStore, audit);
  const jobs = new JobService({
    store: jobStore,
    audit,
    runner: new JobRunner({
      registry,
      revisions: deploymentStore,
      host,
      warehouse: (reference) => warehouseFor(reference, config.warehouses, config.dataDir),
      workers: config.jobWorkers,
      logger,
    }),
    warehouses: config.warehouses,
    leaseMs: config.jobLeaseMs,
    metrics,
    ...(alerts ? { alerts } : {}),
    logger,
  });
  // Exactly one process among all the servers sharing the registry leads: it runs batch jobs, rollout
  // analysis, promotion recovery and drift checks. Any server can lead: every replica's traffic
  // figures and the prediction log are shared, so the lead sees what all of them served.
  let uploadCleanup: NodeJS.Timeout | undefined;
  const leadership = new Leadership({
    store: leases,
    replica: config.replicaName,
    leaseMs: config.leaderLeaseMs,
    logger,
    onLead: async () => {
      // A PENDING version older than an hour is not being committed (a commit takes seconds), and a
      // staged upload untouched for a day is not being received: cleaned up now and every hour.
      const cleanUp = () =>
        cleanUpUploads({ pendingMs: 60 * 60 * 1000, stagedMs: 24 * 60 * 60 * 1000 }).catch((error: unknown) =>
          logger.warn({ err: error }, 'could not clean up interrupted uploads; trying again in an hour'),
        );
      await cleanUp();
      uploadCleanup = setInterval(() => void cleanUp(), 60 * 60 * 1000);
      uploadCleanup.unref();
      drift.start();
      await deployments.lead();
      await jobs.declare(config.jobs, SYSTEM_CONTEXT);
      jobs.start();
    },
    onLose: async () => {
      clearInterval(uploadCleanup);
      drift.stop();
      deployments.unlead();
      await jobs.stop();
    },
  });

  const mlflow = new MlflowService({
    tracking,
    registry,
    artifacts: new MlflowArtifacts(artifacts, config.maxUploadBytes),
    logger,
  });

  let ready = false;
  const http = await buildHttpServer(
    {
      config,
      registry,
      dataPlane,
      deployments,
      tokens,
      audit,
      jobs,
      drift,
      metrics,
      tracing,
      exposition,
      version: SLIPWAY_VERSION,
      replicas: { leading: () => leadership.isLeading, view: () => leadership.view() },
      isReady: () => ready,
    },
    logger,
    [(scope) => mlflowRoutes(scope, { mlflow, registry, metrics })],
  );
  let address = '';
  let grpc: GrpcListener | null = null;
  let metricsListener: MetricsListener | null = null;
  const close = async () => {
    // First: another server takes the lead at once instead of after a lease.
    await leadership.stop();
    drift.stop();
    await jobs.stop();
    deployments.stop();
    dataPlane.stop();
    // After jobs and deployments stopped (their last alerts are queued); waits briefly for deliveries.
    await alerts?.close();
    await grpc?.close();
    await metricsListener?.close();
    await closeHttpServer(http, logger);
    // After the last request: its figures are written too.
    await figures.stop();
    await predictionLog.close();
    await runtime.close();
    await database.close();
    // Last: the spans of every request answered above are exported before the process goes.
    await tracing?.close();
  };

  return {
    config,
    http,
    registry,
    dataPlane,
    deployments,
    tokens,
    jobs,
    predictionLog,
    logger,
    metrics,
    url: () => address,
    grpcAddress: () => (grpc === null ? null : `${config.host}:${grpc.port}`),
    metricsAddress: () => (metricsListener === null ? null : `${config.host}:${metricsListener.port}`),
    async listen() {
      try {
        // The side ports open first: once the HTTP port answers /health, gRPC and metrics answer too.
        if (config.grpcPort !== null) {
          const grpcPort = config.grpcPort;
          // Loaded only when turned on: gRPC's libraries cost every process about 15 MB.
          const { startGrpcServer } = await import('./grpc/grpc-server.js');
          grpc = await onPort(config.host, grpcPort, 'SLIPWAY_GRPC_PORT', () =>
            startGrpcServer(
              {
                dataPlane,
                tokens,
                auth: config.auth,
                defaultEnvironment: config.defaultEnvironment,
                version: SLIPWAY_VERSION,
                replica: config.replicaName,
                isReady: () => ready,
                batching: config.batching,
                maxMessageBytes: config.maxBodyBytes,
                metrics,
                tracing,
                logger,
              },
              config.host,
              grpcPort,
            ),
          );
        }
        if (config.metricsPort !== null && config.metrics) {
          const metricsPort = config.metricsPort;
          metricsListener = await onPort(config.host, metricsPort, 'SLIPWAY_METRICS_PORT', () =>
            startMetricsListener(exposition, config.host, metricsPort, config.allowedHosts),
          );
        }
        address = await onPort(config.host, config.port, '--port or SLIPWAY_PORT', () =>
          http.listen({ host: config.host, port: config.port }),
        );
      } catch (error) {
        await close();
        throw error;
      }
      if (config.auth && (await tokens.count()) === 0) {
        logger.warn(
          'authentication is on and no API token exists yet: create the first with `slipway tokens create admin --role admin --local`',
        );
      }
      predictionLog.start();
      figures.start();
      // Models load after the port opens, so liveness answers at once; readiness waits for them.
      void dataPlane
        .start()
        .then(() => leadership.start())
        .catch((error: unknown) => logger.error({ err: error }, 'could not start serving deployments'))
        .finally(() => {
          ready = true;
        });
      return address;
    },
    close,
  };
}

/**
 * Opens one of the server's ports; a port another program holds becomes an error that names it and
 * the setting that chooses it. gRPC's bind reports the busy port only in its message.
 */
async function onPort<T>(host: string, port: number, setting: string, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    const busy =
      (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ||
      (error instanceof Error && error.message.includes('EADDRINUSE'));
    if (!busy) throw error;
    throw new SlipwayError(
      'UNAVAILABLE',
      `Port ${port} on ${host} is already in use; choose another with ${setting}.`,
    );
  }
}
