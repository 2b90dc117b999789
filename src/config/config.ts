import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { SlipwayError } from '../errors/index.js';
import { defaultWorkerCount, VARIABLES, type VariableName } from './variables.js';

/** Levels pino understands. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The complete, validated configuration, compiled once at boot. Nothing else reads `process.env`. */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly registryUri: string;
  readonly artifactUri: string;
  readonly maxUploadBytes: number;
  readonly maxBodyBytes: number;
  readonly inferenceWorkers: number;
  readonly inferenceTimeoutMs: number;
  readonly maxLoadedVersions: number;
  readonly logLevel: LogLevel;
  /** Where the CLI sends requests. */
  readonly server: string;
}

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
  return {
    host: raw('SLIPWAY_HOST') ?? '127.0.0.1',
    port: integer('SLIPWAY_PORT', raw('SLIPWAY_PORT'), 0, 65535),
    dataDir,
    registryUri: raw('SLIPWAY_REGISTRY_URI') ?? `sqlite:${resolve(dataDir, 'registry.db')}`,
    artifactUri: raw('SLIPWAY_ARTIFACT_URI') ?? `file:${resolve(dataDir, 'artifacts')}`,
    maxUploadBytes: integer('SLIPWAY_MAX_UPLOAD_BYTES', raw('SLIPWAY_MAX_UPLOAD_BYTES'), 1, 2 ** 42),
    maxBodyBytes: integer('SLIPWAY_MAX_BODY_BYTES', raw('SLIPWAY_MAX_BODY_BYTES'), 1024, 2 ** 31),
    inferenceWorkers:
      workers === undefined ? defaultWorkerCount() : integer('SLIPWAY_INFERENCE_WORKERS', workers, 1, 256),
    inferenceTimeoutMs: integer(
      'SLIPWAY_INFERENCE_TIMEOUT_MS',
      raw('SLIPWAY_INFERENCE_TIMEOUT_MS'),
      10,
      3_600_000,
    ),
    maxLoadedVersions: integer('SLIPWAY_MAX_LOADED_VERSIONS', raw('SLIPWAY_MAX_LOADED_VERSIONS'), 1, 10_000),
    logLevel: logLevel as LogLevel,
    server: (raw('SLIPWAY_SERVER') ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
  };
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

function invalid(name: string, value: string | undefined, expected: string): SlipwayError {
  return new SlipwayError(
    'INVALID_ARGUMENT',
    `${name}=${JSON.stringify(value)} is invalid: expected ${expected}.`,
    {
      variable: name,
    },
  );
}
