import { mkdtempSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  type ExampleModel,
  MANIFEST_PATH,
  MODEL_PATH,
  mlserverBody,
  type Prediction,
  readProbabilities,
  readV1,
  readV2,
  v1Body,
  v2Body,
} from './example-model.js';
import { type GrpcTarget, grpcInferRequest } from './grpc-load.js';
import type { Target } from './load.js';
import { freePort, type Processes, type Started, waitUntilReady } from './processes.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SLIPWAY_BIN = join(REPO, 'bin', 'slipway.js');
const BENCH_PYTHON_DIR = fileURLToPath(new URL('./python/', import.meta.url));

/** Inference processes every peer gets: one per core of the 2-core machine the figures are for. */
export const WORKERS = 2;

/**
 * Slipway's settings for every variant. Auth off and the dev environment are for the bench alone
 * (a push to dev deploys at once); everything else, logging included, is at its default, so the figures
 * are what users get.
 */
export const SLIPWAY_BASE_ENV: Readonly<Record<string, string>> = {
  SLIPWAY_AUTH: 'off',
  SLIPWAY_ENV: 'dev',
  SLIPWAY_INFERENCE_WORKERS: String(WORKERS),
};

/** One way of running the Slipway server; each is measured as a peer of its own. */
export interface SlipwayVariant {
  /** Selects it with `--peers`, and prefixes its endpoints' ids (`slipway-v1`). */
  readonly id: string;
  readonly label: string;
  /** Server environment on top of SLIPWAY_BASE_ENV (the port and data folder are the bench's). */
  readonly env: Readonly<Record<string, string>>;
  /** Batches concurrent requests: the "batched vs unbatched" target compares it with an unbatched variant. */
  readonly batched?: boolean;
  /** Also measured over gRPC (the Open Inference Protocol's ModelInfer, beside V1 and V2 over HTTP). */
  readonly grpc?: boolean;
  /** A slipway.yaml for its working folder (per-environment settings such as the prediction log). */
  readonly yaml?: string;
  /**
   * Marks the pair the "observability cost" target compares: `on` (metrics, sampled logs and the
   * prediction log) against `off` (none of them).
   */
  readonly observability?: 'on' | 'off';
  /** Node.js flags for the server (bench/profile.ts profileArgs). */
  readonly nodeArgs?: readonly string[];
}

/**
 * The Slipway servers to measure. The first is the baseline every ratio refers to ("Slipway V1"):
 * the server as it ships, every setting but SLIPWAY_BASE_ENV at its default (dynamic batching on,
 * one HTTP process per core). To compare other options add a variant here, or give the whole list as JSON in
 * BENCH_SLIPWAY_VARIANTS (bench/README.md).
 */
export const SLIPWAY_VARIANTS: readonly SlipwayVariant[] = [
  { id: 'slipway', label: 'Slipway', env: {}, batched: true, grpc: true },
  { id: 'slipway-unbatched', label: 'Slipway unbatched', env: { SLIPWAY_MAX_BATCH_SIZE: '1' } },
  { id: 'slipway-1http', label: 'Slipway 1 HTTP', env: { SLIPWAY_HTTP_PROCESSES: '1' }, batched: true },
  {
    id: 'slipway-observed',
    label: 'Slipway observed',
    env: { SLIPWAY_LOG_SAMPLE_RATE: '0.01' },
    yaml: 'environments:\n  - { name: dev, auto_deploy: true, prediction_log: { sample_rate: 0.05 } }\n',
    observability: 'on',
    batched: true,
  },
  {
    id: 'slipway-dark',
    label: 'Slipway dark',
    env: { SLIPWAY_METRICS: 'off', SLIPWAY_LOG_LEVEL: 'warn' },
    yaml: 'environments:\n  - { name: dev, auto_deploy: true, prediction_log: { sample_rate: 0 } }\n',
    observability: 'off',
    batched: true,
  },
];

/** What a peer can use while it starts. */
export interface BenchContext {
  readonly model: ExampleModel;
  /** onnxruntime-node's answer for the row, in this process. */
  readonly reference: Prediction;
  readonly processes: Processes;
  readonly workDir: string;
  /** The bench venv's Python. */
  readonly python: string;
  /** Prepares the Python peers' files once; resolves to MLServer's model repository. */
  readonly pythonModels: () => Promise<string>;
}

/** One route of a running peer, loaded with the same single-row request again and again. */
export interface Endpoint extends Target {
  readonly id: string;
  readonly label: string;
  /** Reads the prediction out of a response body (to check the peer before it is measured). */
  readonly read: (body: unknown) => Prediction;
  /** Set for a gRPC endpoint: loaded with ModelInfer calls instead of HTTP requests (`url` and `body` unused). */
  readonly grpc?: GrpcTarget;
}

export interface RunningPeer {
  readonly base: string;
  readonly endpoints: readonly Endpoint[];
  readonly server: Started;
  /** What the running server reported about itself, for the report. */
  readonly notes?: string;
}

export interface Peer {
  readonly id: string;
  /** How it runs, for the report. */
  readonly setup: string;
  start(context: BenchContext): Promise<RunningPeer>;
}

/** Python peers run one BLAS/OpenMP thread per worker process, like the one intra-op thread of the others. */
const ONE_THREAD_ENV = { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };

function v1Endpoint(id: string, label: string, base: string, model: ExampleModel): Endpoint {
  return { id, label, url: `${base}/v1/models/${model.name}:predict`, body: v1Body(model), read: readV1 };
}

export function slipwayPeer(variant: SlipwayVariant): Peer {
  const env = { ...SLIPWAY_BASE_ENV, ...variant.env };
  const settings = Object.entries(env).map(([key, value]) => `${key}=${value}`);
  return {
    id: variant.id,
    setup: `node bin/slipway.js serve, ${settings.join(' ')}${variant.yaml ? `, slipway.yaml ${JSON.stringify(variant.yaml.trim())}` : ''}, other settings at their defaults`,
    async start({ model, processes, workDir }) {
      const grpcPort = variant.grpc ? await freePort() : undefined;
      const { base, server, cwd } = await startSlipway(
        processes,
        workDir,
        variant.id,
        { ...env, ...(grpcPort === undefined ? {} : { SLIPWAY_GRPC_PORT: String(grpcPort) }) },
        variant.yaml,
        variant.nodeArgs,
      );
      const push = ['models', 'push', MODEL_PATH, '--manifest', MANIFEST_PATH, '--server', base];
      await processes.run(`${variant.id}-push`, process.execPath, [SLIPWAY_BIN, ...push], { cwd });
      const endpoints: Endpoint[] = [
        v1Endpoint(`${variant.id}-v1`, `${variant.label} V1`, base, model),
        {
          id: `${variant.id}-v2`,
          label: `${variant.label} V2`,
          url: `${base}/v2/models/${model.name}/infer`,
          body: v2Body(model),
          read: readV2,
        },
      ];
      if (grpcPort !== undefined) {
        const address = `127.0.0.1:${grpcPort}`;
        endpoints.push({
          id: `${variant.id}-grpc`,
          label: `${variant.label} gRPC`,
          url: `grpc://${address}`,
          body: '',
          read: readV2,
          grpc: { address, request: grpcInferRequest(model) },
        });
      }
      const notes = await describeModelConfig(`${base}/v2/models/${model.name}/config`);
      return { base, endpoints, server, notes };
    },
  };
}

/**
 * Starts `node bin/slipway.js serve` on a free loopback port with `env`, in a folder of its own under
 * `workDir`, and waits for /health.
 */
export async function startSlipway(
  processes: Processes,
  workDir: string,
  id: string,
  env: Readonly<Record<string, string>>,
  yaml?: string,
  /** Node.js flags before the script (bench/profile.ts profileArgs). */
  nodeArgs: readonly string[] = [],
): Promise<{ base: string; server: Started; cwd: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // A folder of its own as the working directory: a .env or slipway.yaml in the repository would
  // otherwise change the server being measured.
  // A folder of its own each time: the same variant may run twice in one bench (the observability pair).
  const cwd = mkdtempSync(join(workDir, `${id}-`));
  if (yaml !== undefined) writeFileSync(join(cwd, 'slipway.yaml'), yaml);
  // Nor do SLIPWAY_* variables of the shell that runs the bench reach it.
  const inherited = Object.keys(process.env).filter((key) => key.startsWith('SLIPWAY_'));
  const server = processes.start(id, process.execPath, [...nodeArgs, SLIPWAY_BIN, 'serve'], {
    cwd,
    env: {
      ...Object.fromEntries(inherited.map((key) => [key, undefined])),
      ...env,
      SLIPWAY_PORT: String(port),
      SLIPWAY_DATA_DIR: join(cwd, 'data'),
    },
  });
  await waitUntilReady(server, `${base}/health`);
  return { base, server, cwd };
}

/** The batching limits Slipway reports in its Triton-style model configuration. */
async function describeModelConfig(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (response.status !== 200) return `GET ${new URL(url).pathname} answers ${response.status}`;
  const config = (await response.json()) as { max_batch_size?: number; dynamic_batching?: unknown };
  const batching = config.dynamic_batching
    ? `dynamic_batching ${JSON.stringify(config.dynamic_batching)}`
    : 'no dynamic_batching';
  return `model config: max_batch_size ${config.max_batch_size ?? 0}, ${batching}`;
}

function fastApiPeer(backend: 'sklearn' | 'onnx', label: string): Peer {
  return {
    id: `fastapi-${backend}`,
    setup: `uvicorn fastapi_peer:app --workers ${WORKERS} (uvloop, httptools, no access log), BENCH_BACKEND=${backend}`,
    async start({ model, processes, python, pythonModels }) {
      const modelFile =
        backend === 'onnx' ? MODEL_PATH : join(await pythonModels(), model.name, 'model.joblib');
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const args = [
        ...['-m', 'uvicorn', 'fastapi_peer:app', '--app-dir', BENCH_PYTHON_DIR],
        ...['--host', '127.0.0.1', '--port', String(port), '--workers', String(WORKERS)],
        ...['--no-access-log', '--log-level', 'warning'],
      ];
      const server = processes.start(`fastapi-${backend}`, python, args, {
        env: { ...ONE_THREAD_ENV, BENCH_BACKEND: backend, BENCH_MODEL: modelFile },
      });
      await waitUntilReady(server, `${base}/health`);
      return { base, endpoints: [v1Endpoint(`fastapi-${backend}`, label, base, model)], server };
    },
  };
}

const mlserverPeer: Peer = {
  id: 'mlserver',
  setup: `mlserver start with the scikit-learn runtime, parallel_workers ${WORKERS}, debug off (no access log)`,
  async start({ model, processes, python, pythonModels, workDir }) {
    const repository = await pythonModels();
    const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
    const base = `http://127.0.0.1:${http}`;
    const server = processes.start('mlserver', join(dirname(python), 'mlserver'), ['start', repository], {
      cwd: workDir,
      env: {
        ...ONE_THREAD_ENV,
        MLSERVER_HTTP_PORT: String(http),
        MLSERVER_GRPC_PORT: String(grpc),
        MLSERVER_METRICS_PORT: String(metrics),
      },
    });
    await waitUntilReady(server, `${base}/v2/models/${model.name}/ready`);
    const endpoint: Endpoint = {
      id: 'mlserver',
      label: 'MLServer (scikit-learn)',
      url: `${base}/v2/models/${model.name}/infer`,
      body: mlserverBody(model),
      read: (body) => readProbabilities(model, body),
    };
    return { base, endpoints: [endpoint], server };
  },
};

const fastifyPeer: Peer = {
  id: 'fastify',
  setup: `bench/fastify-constant.ts, node:cluster with ${WORKERS} processes, answers a constant`,
  async start({ model, processes, reference }) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server = processes.start(
      'fastify',
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./fastify-constant.ts', import.meta.url))],
      {
        cwd: REPO,
        env: {
          BENCH_PORT: String(port),
          BENCH_WORKERS: String(WORKERS),
          BENCH_RESPONSE: JSON.stringify({ predictions: [reference] }),
        },
      },
    );
    await waitUntilReady(server, `${base}/health`);
    return { base, endpoints: [v1Endpoint('fastify', 'bare Fastify (constant)', base, model)], server };
  },
};

/** Every peer, in the order they run (Slipway's variants first). */
export function allPeers(variants: readonly SlipwayVariant[]): Peer[] {
  return [
    ...variants.map(slipwayPeer),
    fastApiPeer('sklearn', 'FastAPI + scikit-learn'),
    fastApiPeer('onnx', 'FastAPI + onnxruntime'),
    mlserverPeer,
    fastifyPeer,
  ];
}
