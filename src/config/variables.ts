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
  SLIPWAY_PORT: { default: '8080', describe: 'TCP port of the HTTP server (0 picks a free port).' },
  SLIPWAY_DATA_DIR: {
    default: './.slipway',
    describe: 'Folder for the embedded defaults: the SQLite registry and the local artifact store.',
  },
  SLIPWAY_REGISTRY_URI: {
    default: undefined,
    describe: 'Registry database, chosen by scheme. Default `sqlite:<data dir>/registry.db`.',
  },
  SLIPWAY_ARTIFACT_URI: {
    default: undefined,
    describe: 'Artifact store, chosen by scheme. Default `file:<data dir>/artifacts`.',
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
    describe: 'Worker threads that load models and run inference. Default: the number of CPU cores.',
  },
  SLIPWAY_INFERENCE_TIMEOUT_MS: {
    default: '30000',
    describe: 'Longest a single inference may run; past it the request gets 504 and the worker restarts.',
  },
  SLIPWAY_MAX_LOADED_VERSIONS: {
    default: '16',
    describe: 'Most model versions kept loaded at once; the least recently used unserved one is unloaded.',
  },
  SLIPWAY_LOG_LEVEL: {
    default: 'info',
    describe: 'Log level: fatal, error, warn, info, debug, trace or silent.',
  },
  SLIPWAY_SERVER: {
    default: 'http://127.0.0.1:8080',
    describe: 'Server the CLI talks to (the `--server` option overrides it).',
  },
} as const satisfies Record<string, VariableSpec>;

export type VariableName = keyof typeof VARIABLES;

export const defaultWorkerCount = (): number => Math.max(1, availableParallelism());
