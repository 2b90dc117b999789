import { availableParallelism } from 'node:os';

/**
 * Every setting Slipway reads from the environment. docs/config.md and .env.example list each one
 * (a test checks both), so adding a variable here without documenting it fails the build.
 */
export interface VariableSpec {
  /** Default when the variable is unset; `undefined` means "derived at boot", see `describe`. */
  readonly default: string | undefined;
  readonly describe: string;
}

export const VARIABLES = {
  SLIPWAY_HOST: {
    default: '127.0.0.1',
    describe: 'Interface the server listens on. Nothing listens beyond loopback unless this says so.',
  },
  SLIPWAY_ALLOWED_HOSTS: {
    default: undefined,
    describe:
      'Host names (optional :port) that requests may address, comma-separated; `*` allows any. Default: the loopback names on loopback; otherwise also the listen address, the host name and the interface addresses.',
  },
  SLIPWAY_ALLOWED_ORIGINS: {
    default: '',
    describe:
      "Web origins besides Slipway's own (e.g. https://ui.example.com) that browsers may call it from, with CORS; comma-separated. Default: none.",
  },
  SLIPWAY_PORT: { default: '8080', describe: 'TCP port of the HTTP server (0 picks a free port).' },
  SLIPWAY_GRPC_PORT: {
    default: undefined,
    describe:
      'TCP port of the Open Inference Protocol over gRPC, on SLIPWAY_HOST (0 picks a free port). Unset: no gRPC listener.',
  },
  SLIPWAY_METRICS: {
    default: 'on',
    describe:
      '`on` counts Prometheus metrics and serves them at /metrics; `off` counts nothing (for measuring what metrics cost).',
  },
  SLIPWAY_METRICS_PORT: {
    default: undefined,
    describe:
      'TCP port of a listener that answers GET /metrics (Prometheus text) without a token, on SLIPWAY_HOST (0 picks a free port). Unset: metrics only at /metrics on the main port, for a viewer token.',
  },
  SLIPWAY_DATA_DIR: {
    default: './.slipway',
    describe: 'Folder for the embedded defaults: the SQLite registry and the local artifact store.',
  },
  SLIPWAY_REGISTRY_URI: {
    default: undefined,
    describe:
      'Registry database, chosen by scheme: `sqlite:<file>` or `postgres://user:password@host:5432/database`. Default `sqlite:<data dir>/registry.db`.',
  },
  SLIPWAY_ARTIFACT_URI: {
    default: undefined,
    describe: 'Artifact store, chosen by scheme. Default `file:<data dir>/artifacts`.',
  },
  AWS_ENDPOINT_URL: {
    default: undefined,
    describe:
      'S3 endpoint of an `s3://` artifact store, for S3-compatible servers (e.g. `http://127.0.0.1:9000` for MinIO; path-style addressing). Unset: AWS S3 itself.',
  },
  AWS_REGION: {
    default: undefined,
    describe:
      "Region of the `s3://` artifact store's bucket. Unset: the AWS SDK's default chain (e.g. ~/.aws/config); S3-compatible servers usually take `us-east-1`.",
  },
  AWS_ACCESS_KEY_ID: {
    default: undefined,
    describe:
      "Access key of the `s3://` artifact store (with AWS_SECRET_ACCESS_KEY). Unset: the AWS SDK's default credential chain (profiles, web identity, instance or container roles).",
  },
  AWS_SECRET_ACCESS_KEY: {
    default: undefined,
    describe: 'Secret key of the `s3://` artifact store, with AWS_ACCESS_KEY_ID.',
  },
  AWS_SESSION_TOKEN: {
    default: undefined,
    describe: 'Session token of temporary credentials, with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.',
  },
  SLIPWAY_MAX_UPLOAD_BYTES: {
    default: String(512 * 1024 * 1024),
    describe: 'Largest model file accepted by an upload; larger uploads get 413 PAYLOAD_TOO_LARGE.',
  },
  SLIPWAY_MAX_BODY_BYTES: {
    default: String(8 * 1024 * 1024),
    describe: 'Largest JSON request body (predictions, control API); larger bodies get 413.',
  },
  SLIPWAY_INFERENCE_WORKERS: {
    default: undefined,
    describe: 'Worker processes that load models and run inference. Default: the number of CPU cores.',
  },
  SLIPWAY_JOB_WORKERS: {
    default: undefined,
    describe:
      'Inference workers a batch run scores with. With several HTTP processes, the one running the job starts the workers it lacks for the run and stops them after. Default: SLIPWAY_INFERENCE_WORKERS.',
  },
  SLIPWAY_HTTP_PROCESSES: {
    default: undefined,
    describe:
      'HTTP processes sharing the port (node:cluster); the inference workers are divided among them. Default: one per CPU core, at most one per inference worker. See docs/architecture.md.',
  },
  SLIPWAY_INFERENCE_TIMEOUT_MS: {
    default: '30000',
    describe: 'Longest a single inference may run; past it the request gets 504 and the worker restarts.',
  },
  SLIPWAY_MAX_LOADED_VERSIONS: {
    default: '16',
    describe: 'Most model versions kept loaded at once; the least recently used unserved one is unloaded.',
  },
  SLIPWAY_MAX_BATCH_SIZE: {
    default: '256',
    describe:
      'Most rows one merged inference call may carry (dynamic batching); 1 turns batching off. slipway.yaml `models:` can set it per model.',
  },
  SLIPWAY_BATCH_DELAY_MS: {
    default: '0',
    describe:
      'How long a request may wait for others to merge with while workers are busy. 0: merge only what queued behind busy workers.',
  },
  SLIPWAY_LOG_LEVEL: {
    default: 'info',
    describe: 'Log level: fatal, error, warn, info, debug, trace or silent.',
  },
  SLIPWAY_SLOW_REQUEST_MS: {
    default: '1000',
    describe:
      'A request that takes longer than this is logged (warn, "slow request") even when it succeeded.',
  },
  SLIPWAY_LOG_SAMPLE_RATE: {
    default: '0',
    describe:
      'Share of successful requests logged at info ("request completed"), from 0 to 1. Refusals, failures and slow requests are always logged.',
  },
  SLIPWAY_AUTH: {
    default: 'on',
    describe:
      'API tokens required (`on`), or not (`off`: local mode, every caller acts as admin). `off` is refused unless SLIPWAY_HOST is a loopback address.',
  },
  SLIPWAY_ENV: {
    default: undefined,
    describe:
      'The environment this server serves (`slipway serve --env prod`). Unset: all-in-one, every environment under `/envs/{env}/…`, and the last environment (prod) at the plain routes.',
  },
  SLIPWAY_CONFIG_FILE: {
    default: './slipway.yaml',
    describe: 'Optional YAML file declaring environments and their policies; absent means the defaults.',
  },
  SLIPWAY_FOLLOW_INTERVAL_MS: {
    default: '1000',
    describe: 'How often a server checks the registry for revisions written by other processes (0: never).',
  },
  SLIPWAY_REPLICA_NAME: {
    default: undefined,
    describe:
      "This server's name among replicas: sent in the `x-slipway-replica` header of every response and kept with the traffic figures it writes. Unset: the host name (a pod's name on Kubernetes).",
  },
  SLIPWAY_LEADER_LEASE_MS: {
    default: '10000',
    describe:
      'How long the replica that runs batch jobs, rollout analysis and drift checks holds that lead without renewing it; when it dies, another replica takes over within this time.',
  },
  SLIPWAY_ANALYSIS_INTERVAL_MS: {
    default: '1000',
    describe: 'How often a canary rollout checks its error rate and p99 latency against the limits.',
  },
  SLIPWAY_PROMOTION_LEASE_MS: {
    default: '30000',
    describe:
      "How long a promotion's gates hold it without renewing; a promotion whose server died is failed after this.",
  },
  SLIPWAY_JOB_LEASE_MS: {
    default: '30000',
    describe:
      'How long a batch run holds its job without renewing; a run whose server died is failed (and retried) after this.',
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    default: undefined,
    describe:
      'OpenTelemetry collector (OTLP/HTTP) base URL; spans of predictions are sent to `<url>/v1/traces`. Unset (and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT unset): no tracing at all.',
  },
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: {
    default: undefined,
    describe:
      'Full OTLP/HTTP URL spans are sent to, as is (e.g. `http://collector:4318/v1/traces`); wins over OTEL_EXPORTER_OTLP_ENDPOINT.',
  },
  OTEL_SERVICE_NAME: {
    default: 'slipway',
    describe: 'The `service.name` of exported spans.',
  },
  SLIPWAY_TOKEN: {
    default: undefined,
    describe: 'API token the CLI sends (`--token` overrides it).',
  },
  SLIPWAY_SERVER: {
    default: 'http://127.0.0.1:8080',
    describe: 'Server the CLI talks to (the `--server` option overrides it).',
  },
} as const satisfies Record<string, VariableSpec>;

export type VariableName = keyof typeof VARIABLES;

export const defaultWorkerCount = (): number => Math.max(1, availableParallelism());
