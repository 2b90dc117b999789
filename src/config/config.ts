import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import { type AlertsConfig, compileAlerts } from '../alerts/alert-config.js';
import { compileEnvironments, DEFAULT_ENVIRONMENTS, type EnvironmentPolicy } from '../domain/environment.js';
import { compileDriftChecks, type DriftCheckSpec } from '../drift/drift-checks.js';
import { SlipwayError } from '../errors/index.js';
import { compileJob, type JobSpec, JobSpecSchema } from '../jobs/job.js';
import { isWarehouseReference, maskConnectionString } from '../jobs/warehouse/references.js';
import type { TracesSettings } from '../observability/tracing.js';
import type { BatchPolicy } from '../serving/batcher.js';
import { compileAllowedOrigins, compileHostAllowlist, type HostAllowlist } from './host-allowlist.js';
import { defaultWorkerCount, VARIABLES, type VariableName } from './variables.js';

/** Levels pino understands. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The complete, validated configuration, compiled once at boot. Nothing else reads `process.env`. */
export interface Config {
  readonly host: string;
  /** The `Host` headers requests may carry (DNS rebinding defence). */
  readonly allowedHosts: HostAllowlist;
  /** Other web origins browsers may call the API from, with CORS. */
  readonly allowedOrigins: readonly string[];
  readonly port: number;
  /** Port of the gRPC listener (0: a free one), or null for none. */
  readonly grpcPort: number | null;
  /** Port of the token-free metrics listener (0: a free one), or null for none. */
  readonly metricsPort: number | null;
  /** Whether Prometheus metrics are counted and served (SLIPWAY_METRICS). */
  readonly metrics: boolean;
  readonly dataDir: string;
  readonly registryUri: string;
  readonly artifactUri: string;
  /**
   * Endpoint, region and credentials of an `s3://` artifact store, from the standard AWS_* variables.
   * What is unset here the AWS SDK's default provider chain resolves (profiles, roles, ...).
   */
  readonly s3: {
    readonly endpoint?: string;
    readonly region?: string;
    readonly accessKeyId?: string;
    readonly secretAccessKey?: string;
    readonly sessionToken?: string;
  };
  readonly maxUploadBytes: number;
  readonly maxBodyBytes: number;
  readonly inferenceWorkers: number;
  /** Inference workers a batch run scores with: the process running it starts those it lacks. */
  readonly jobWorkers: number;
  /** HTTP processes sharing the port; the inference workers are divided among them. */
  readonly httpProcesses: number;
  readonly inferenceTimeoutMs: number;
  readonly maxLoadedVersions: number;
  readonly logLevel: LogLevel;
  /** Requests slower than this are logged even when they succeed. */
  readonly slowRequestMs: number;
  /** Share of successful requests logged (0 to 1). */
  readonly logSampleRate: number;
  /** Where the CLI sends requests. */
  readonly server: string;
  /** The CLI's API token, if any. */
  readonly token: string | null;
  /** Whether requests need an API token. Off only in local mode, on loopback. */
  readonly auth: boolean;
  /** Environments in promotion order, with their policies. */
  readonly environments: readonly EnvironmentPolicy[];
  /** The environment this server serves, or null for all-in-one (every environment). */
  readonly environment: string | null;
  /** The environment the plain (unprefixed) inference routes serve. */
  readonly defaultEnvironment: string;
  readonly followIntervalMs: number;
  /** Names this server in the `x-slipway-replica` header and in the traffic figures it writes. */
  readonly replicaName: string;
  /** How long the scheduling replica holds the lead without renewing; another takes over after it. */
  readonly leaderLeaseMs: number;
  readonly analysisIntervalMs: number;
  /** Dynamic batching of a model: slipway.yaml `models.<name>.batching`, else the defaults. */
  readonly batching: (model: string) => BatchPolicy;
  /** Named warehouses from slipway.yaml `warehouses:` (name -> URI, `${VAR}` expanded). */
  readonly warehouses: Readonly<Record<string, string>>;
  /** Jobs declared in slipway.yaml `jobs:`; the control server creates or updates them at start. */
  readonly jobs: readonly JobSpec[];
  /** Where alerts go: slipway.yaml `alerts:` (webhooks, `${VAR}` expanded). */
  readonly alerts: AlertsConfig;
  /** Drift checks declared in slipway.yaml `drift_checks:`, run on their schedules by the control server. */
  readonly driftChecks: readonly DriftCheckSpec[];
  /** How long a batch run's lease lasts without renewal. */
  readonly jobLeaseMs: number;
  /** How long a promotion's gates hold it without renewing (recovery ends it after that). */
  readonly promotionLeaseMs: number;
  /** Where traces of predictions are exported (OTLP/HTTP), or null: no OTLP endpoint set, no tracing. */
  readonly traces: TracesSettings | null;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export type ConfigOverrides = Partial<Record<VariableName, string | number>>;

/**
 * Compiles `SLIPWAY_*` variables (from the process environment, then a `.env` file in the working
 * directory, then the defaults) plus explicit overrides into a `Config`. Invalid values fail here, at
 * boot, with a message naming the variable, rather than at the first request that needs them.
 */
export function compileConfig(
  overrides: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): Config {
  const dotenvPath = resolve(cwd, '.env');
  const fromFile = existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath)) : {};
  const raw = (name: VariableName): string | undefined => {
    const override = overrides[name];
    if (override !== undefined) return String(override);
    return env[name] ?? fromFile[name] ?? VARIABLES[name].default;
  };

  const dataDir = resolve(cwd, raw('SLIPWAY_DATA_DIR') ?? '.slipway');
  const logLevel = raw('SLIPWAY_LOG_LEVEL') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw invalid('SLIPWAY_LOG_LEVEL', logLevel, `one of ${LOG_LEVELS.join(', ')}`);
  }
  const workers = raw('SLIPWAY_INFERENCE_WORKERS');
  const inferenceWorkers =
    workers === undefined ? defaultWorkerCount() : integer('SLIPWAY_INFERENCE_WORKERS', workers, 1, 256);
  const host = raw('SLIPWAY_HOST') ?? '127.0.0.1';
  const authSetting = raw('SLIPWAY_AUTH') ?? 'on';
  if (authSetting !== 'on' && authSetting !== 'off')
    throw invalid('SLIPWAY_AUTH', authSetting, '`on` or `off`');
  if (authSetting === 'off' && !LOOPBACK.has(host)) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `SLIPWAY_AUTH=off is only allowed on loopback, but SLIPWAY_HOST is ${host}; create API tokens and keep authentication on.`,
      { variable: 'SLIPWAY_AUTH' },
    );
  }
  const configFile = resolve(cwd, raw('SLIPWAY_CONFIG_FILE') ?? 'slipway.yaml');
  const document = loadYaml(configFile);
  const environments =
    document.environments === undefined
      ? DEFAULT_ENVIRONMENTS
      : compileEnvironments(document.environments, configFile);
  const defaultBatching: BatchPolicy = {
    maxBatchSize: integer('SLIPWAY_MAX_BATCH_SIZE', raw('SLIPWAY_MAX_BATCH_SIZE'), 1, 65_536),
    maxQueueDelayMs: number('SLIPWAY_BATCH_DELAY_MS', raw('SLIPWAY_BATCH_DELAY_MS'), 0, 1000),
  };
  const perModel = compileModels(document.models, configFile, defaultBatching);
  const warehouses = compileWarehouses(document.warehouses, configFile, env);
  const jobs = compileJobs(document.jobs, configFile, warehouses);
  const alerts = compileAlerts(document.alerts, configFile, env);
  const driftChecks = compileDriftChecks(
    document.drift_checks,
    configFile,
    environments.map((e) => e.name),
  );
  const environment = raw('SLIPWAY_ENV') ?? null;
  if (environment !== null && !environments.some((e) => e.name === environment)) {
    throw invalid(
      'SLIPWAY_ENV',
      environment,
      `one of the environments ${environments.map((e) => e.name).join(', ')}`,
    );
  }
  return {
    host,
    allowedHosts: compileHostAllowlist(raw('SLIPWAY_ALLOWED_HOSTS'), host),
    allowedOrigins: compileAllowedOrigins(raw('SLIPWAY_ALLOWED_ORIGINS')),
    port: integer('SLIPWAY_PORT', raw('SLIPWAY_PORT'), 0, 65535),
    grpcPort:
      raw('SLIPWAY_GRPC_PORT') === undefined
        ? null
        : integer('SLIPWAY_GRPC_PORT', raw('SLIPWAY_GRPC_PORT'), 0, 65535),
    metrics: onOff('SLIPWAY_METRICS', raw('SLIPWAY_METRICS') ?? 'on'),
    metricsPort:
      raw('SLIPWAY_METRICS_PORT') === undefined
        ? null
        : integer('SLIPWAY_METRICS_PORT', raw('SLIPWAY_METRICS_PORT'), 0, 65535),
    dataDir,
    registryUri: raw('SLIPWAY_REGISTRY_URI') ?? `sqlite:${resolve(dataDir, 'registry.db')}`,
    artifactUri: raw('SLIPWAY_ARTIFACT_URI') ?? `file:${resolve(dataDir, 'artifacts')}`,
    s3: compileS3(raw),
    maxUploadBytes: integer('SLIPWAY_MAX_UPLOAD_BYTES', raw('SLIPWAY_MAX_UPLOAD_BYTES'), 1, 2 ** 42),
    maxBodyBytes: integer('SLIPWAY_MAX_BODY_BYTES', raw('SLIPWAY_MAX_BODY_BYTES'), 1024, 2 ** 31),
    inferenceWorkers,
    jobWorkers:
      raw('SLIPWAY_JOB_WORKERS') === undefined
        ? inferenceWorkers
        : integer('SLIPWAY_JOB_WORKERS', raw('SLIPWAY_JOB_WORKERS'), 1, 256),
    // One HTTP process per core by default, each with at least one inference worker of its own.
    httpProcesses:
      raw('SLIPWAY_HTTP_PROCESSES') === undefined
        ? Math.min(defaultWorkerCount(), inferenceWorkers, 64)
        : integer('SLIPWAY_HTTP_PROCESSES', raw('SLIPWAY_HTTP_PROCESSES'), 1, 64),
    inferenceTimeoutMs: integer(
      'SLIPWAY_INFERENCE_TIMEOUT_MS',
      raw('SLIPWAY_INFERENCE_TIMEOUT_MS'),
      10,
      3_600_000,
    ),
    maxLoadedVersions: integer('SLIPWAY_MAX_LOADED_VERSIONS', raw('SLIPWAY_MAX_LOADED_VERSIONS'), 1, 10_000),
    logLevel: logLevel as LogLevel,
    slowRequestMs: integer('SLIPWAY_SLOW_REQUEST_MS', raw('SLIPWAY_SLOW_REQUEST_MS'), 1, 3_600_000),
    logSampleRate: number('SLIPWAY_LOG_SAMPLE_RATE', raw('SLIPWAY_LOG_SAMPLE_RATE'), 0, 1),
    server: (raw('SLIPWAY_SERVER') ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    token: raw('SLIPWAY_TOKEN') ?? null,
    auth: authSetting === 'on',
    environments,
    environment,
    defaultEnvironment: environment ?? (environments.at(-1) as EnvironmentPolicy).name,
    followIntervalMs: integer('SLIPWAY_FOLLOW_INTERVAL_MS', raw('SLIPWAY_FOLLOW_INTERVAL_MS'), 0, 3_600_000),
    replicaName: replicaName(raw('SLIPWAY_REPLICA_NAME')),
    leaderLeaseMs: integer('SLIPWAY_LEADER_LEASE_MS', raw('SLIPWAY_LEADER_LEASE_MS'), 300, 3_600_000),
    analysisIntervalMs: integer(
      'SLIPWAY_ANALYSIS_INTERVAL_MS',
      raw('SLIPWAY_ANALYSIS_INTERVAL_MS'),
      10,
      3_600_000,
    ),
    batching: (model) => perModel.get(model) ?? defaultBatching,
    warehouses,
    jobs,
    alerts,
    driftChecks,
    jobLeaseMs: integer('SLIPWAY_JOB_LEASE_MS', raw('SLIPWAY_JOB_LEASE_MS'), 100, 3_600_000),
    promotionLeaseMs: integer(
      'SLIPWAY_PROMOTION_LEASE_MS',
      raw('SLIPWAY_PROMOTION_LEASE_MS'),
      100,
      3_600_000,
    ),
    traces: compileTraces(raw),
  };
}

/**
 * OpenTelemetry's exporter variables, as its SDKs read them: the traces endpoint is used as is, the
 * generic one gets the signal's path appended; empty values count as unset.
 */
function compileTraces(raw: (name: VariableName) => string | undefined): TracesSettings | null {
  const nonEmpty = (name: VariableName) => raw(name)?.trim() || undefined;
  const traces = nonEmpty('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = nonEmpty('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (traces === undefined && base === undefined) return null;
  const name = traces !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const url = traces ?? `${(base as string).replace(/\/+$/, '')}/v1/traces`;
  if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
    throw invalid(name, raw(name), 'an http:// or https:// URL of an OTLP/HTTP collector');
  }
  return { url, serviceName: nonEmpty('OTEL_SERVICE_NAME') ?? 'slipway' };
}

const WarehousesSchema = Type.Record(
  Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$' }),
  Type.String({ pattern: '^(duckdb:|files:|postgres://|postgresql://)', maxLength: 2000 }),
);
const checkWarehouses = TypeCompiler.Compile(WarehousesSchema);

/**
 * The `warehouses:` section: names for warehouse URIs, so jobs never carry credentials. `${VAR}` in a
 * URI is replaced by that environment variable (e.g. `postgres://scorer:${PGPASSWORD}@db/warehouse`).
 */
function compileWarehouses(value: unknown, source: string, env: NodeJS.ProcessEnv): Record<string, string> {
  if (value === undefined || value === null) return {};
  const first = checkWarehouses.Errors(value).First();
  if (first) {
    const field = `warehouses${first.path.replaceAll('/', '.')}`;
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${source}: ${field}: ${first.message}; expected a name (lowercase letters, digits, - and _) mapped to a duckdb:, files: or postgres:// URI.`,
      { field },
    );
  }
  const named: Record<string, string> = {};
  for (const [name, uri] of Object.entries(value as Static<typeof WarehousesSchema>)) {
    if (name === 'default') {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `${source}: warehouses.default is the built-in DuckDB warehouse; choose another name.`,
        {
          field: 'warehouses.default',
        },
      );
    }
    named[name] = uri.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, variable: string) => {
      const found = env[variable];
      if (found === undefined) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          `${source}: warehouses.${name} uses \${${variable}}, which is not set.`,
          {
            field: `warehouses.${name}`,
          },
        );
      }
      // Inside a postgres:// URL a value is encoded (a password may hold `@` or `/`); a DuckDB path is not.
      return uri.startsWith('duckdb:') || uri.startsWith('files:') ? found : encodeURIComponent(found);
    });
  }
  return named;
}

const checkJobs = TypeCompiler.Compile(Type.Array(JobSpecSchema));

/** The `jobs:` section: a list of job specs, each checked as the API checks it. */
function compileJobs(value: unknown, source: string, warehouses: Record<string, string>): JobSpec[] {
  if (value === undefined || value === null) return [];
  const first = checkJobs.Errors(value).First();
  if (first) {
    const field = `jobs${first.path.replaceAll('/', '.')}`;
    throw new SlipwayError('INVALID_ARGUMENT', `${source}: ${field}: ${first.message}.`, { field });
  }
  const specs = value as JobSpec[];
  specs.forEach((spec, i) => {
    try {
      compileJob(spec, 'slipway', 'config');
      for (const reference of [spec.source.warehouse, spec.sink.warehouse]) {
        if (reference !== undefined && !isWarehouseReference(reference, warehouses)) {
          throw new Error(
            `warehouse "${maskConnectionString(reference)}" is neither "default", a name under warehouses: (${Object.keys(warehouses).join(', ') || 'none'}), nor a duckdb:, files: or postgres:// URI`,
          );
        }
      }
    } catch (error) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `${source}: jobs.${i} (${spec.name}): ${(error as Error).message}`,
        {
          field: `jobs.${i}`,
        },
      );
    }
  });
  return specs;
}

const ModelsSchema = Type.Record(
  Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,127}$' }),
  Type.Object(
    {
      batching: Type.Optional(
        Type.Object(
          {
            max_batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_536 })),
            max_queue_delay_ms: Type.Optional(Type.Number({ minimum: 0, maximum: 1000 })),
          },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false },
  ),
);
const checkModels = TypeCompiler.Compile(ModelsSchema);

/** The `models:` section of slipway.yaml: per-model settings (dynamic batching). */
function compileModels(value: unknown, source: string, defaults: BatchPolicy): Map<string, BatchPolicy> {
  const policies = new Map<string, BatchPolicy>();
  if (value === undefined || value === null) return policies;
  const first = checkModels.Errors(value).First();
  if (first) {
    const field = `models${first.path.replaceAll('/', '.')}`;
    throw new SlipwayError('INVALID_ARGUMENT', `${source}: ${field}: ${first.message}.`, { field });
  }
  for (const [model, settings] of Object.entries(value as Static<typeof ModelsSchema>)) {
    policies.set(model, {
      maxBatchSize: settings.batching?.max_batch_size ?? defaults.maxBatchSize,
      maxQueueDelayMs: settings.batching?.max_queue_delay_ms ?? defaults.maxQueueDelayMs,
    });
  }
  return policies;
}

/** slipway.yaml's sections, or none when the file is absent. */
type YamlSections = {
  environments?: unknown;
  models?: unknown;
  warehouses?: unknown;
  jobs?: unknown;
  alerts?: unknown;
  drift_checks?: unknown;
};

function loadYaml(path: string): YamlSections {
  if (!existsSync(path)) return {};
  let document: unknown;
  try {
    document = parseYaml(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new SlipwayError('INVALID_ARGUMENT', `${path} is not valid YAML: ${(error as Error).message}`, {
      variable: 'SLIPWAY_CONFIG_FILE',
    });
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${path} must be a mapping with some of \`environments:\`, \`models:\`, \`warehouses:\`, \`jobs:\`, \`drift_checks:\` and \`alerts:\`.`,
      {
        variable: 'SLIPWAY_CONFIG_FILE',
      },
    );
  }
  return document as YamlSections;
}

function onOff(name: VariableName, value: string): boolean {
  if (value !== 'on' && value !== 'off') throw invalid(name, value, '`on` or `off`');
  return value === 'on';
}

function integer(name: VariableName, value: string | undefined, min: number, max: number): number {
  const parsed = Number(value);
  if (
    value === undefined ||
    value.trim() === '' ||
    !Number.isInteger(parsed) ||
    parsed < min ||
    parsed > max
  ) {
    throw invalid(name, value, `an integer from ${min} to ${max}`);
  }
  return parsed;
}

function number(name: VariableName, value: string | undefined, min: number, max: number): number {
  const parsed = Number(value);
  if (
    value === undefined ||
    value.trim() === '' ||
    !Number.isFinite(parsed) ||
    parsed < min ||
    parsed > max
  ) {
    throw invalid(name, value, `a number from ${min} to ${max}`);
  }
  return parsed;
}

/** A replica's name goes into a response header and the registry: a host-name-like token. */
const REPLICA_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$/;

function replicaName(given: string | undefined): string {
  if (given !== undefined) {
    if (!REPLICA_NAME.test(given)) {
      throw invalid(
        'SLIPWAY_REPLICA_NAME',
        given,
        'a name of 1 to 63 letters, digits, dots, colons, underscores and hyphens, starting with a letter or digit',
      );
    }
    return given;
  }
  // The host name is the pod's name on Kubernetes; an odd one is cut down to the allowed characters.
  const host = hostname()
    .replace(/[^A-Za-z0-9._:-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63);
  return host === '' ? 'slipway' : host;
}

function invalid(name: string, value: string | undefined, expected: string): SlipwayError {
  return new SlipwayError(
    'INVALID_ARGUMENT',
    `${name}=${JSON.stringify(value)} is invalid: expected ${expected}.`,
    {
      variable: name,
    },
  );
}

/** The AWS_* settings of an `s3://` artifact store; empty values count as unset. */
function compileS3(raw: (name: VariableName) => string | undefined): Config['s3'] {
  const set = (name: VariableName) => {
    const value = raw(name)?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const endpoint = set('AWS_ENDPOINT_URL');
  if (endpoint !== undefined && !/^https?:\/\/[^/?#\s]+\/?$/.test(endpoint)) {
    throw invalid('AWS_ENDPOINT_URL', endpoint, 'an http:// or https:// URL such as http://127.0.0.1:9000');
  }
  const accessKeyId = set('AWS_ACCESS_KEY_ID');
  const secretAccessKey = set('AWS_SECRET_ACCESS_KEY');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both, or neither (the AWS SDK then finds credentials itself).',
      { variable: accessKeyId === undefined ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY' },
    );
  }
  const entries = {
    endpoint,
    region: set('AWS_REGION'),
    accessKeyId,
    secretAccessKey,
    sessionToken: set('AWS_SESSION_TOKEN'),
  };
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined));
}
