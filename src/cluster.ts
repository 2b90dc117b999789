import cluster from 'node:cluster';
import type { App } from './app.js';
import { type ConfigOverrides, compileConfig } from './config/index.js';
import { type ErrorCode, isSlipwayError, SlipwayError } from './errors/index.js';
import { clusterExposition, gatherClusterMetrics } from './observability/cluster-metrics.js';
import { storesForUri } from './stores-for-uri.js';

/** What `serve` gets back: the address, and (in the process that took the port) the app itself. */
export interface Serving {
  readonly url: string;
  /** `host:port` of the gRPC listener, or null when SLIPWAY_GRPC_PORT is unset. */
  readonly grpc: string | null;
  readonly app: App | null;
}

/**
 * Starts `slipway serve`: one process, or with `SLIPWAY_HTTP_PROCESSES=N` a node:cluster of N HTTP
 * processes sharing the port (the primary hands connections out round-robin). Each process runs a
 * whole Slipway with its share of the inference workers; the first is the leader, the only one that
 * recovers interrupted uploads and resumes rollouts after a restart. A process that dies is started
 * again. `/metrics` in any process answers for all of them (the primary sums their metrics). The primary itself serves nothing; it returns once every process listens.
 */
export async function serve(overrides: ConfigOverrides): Promise<Serving> {
  const config = compileConfig(overrides);
  const processes = config.httpProcesses;
  // The app is imported only where it runs: the primary of a cluster stays small.
  if (processes <= 1) {
    const { createApp } = await import('./app.js');
    const app = await createApp({ overrides });
    const url = await app.listen();
    return { url, grpc: app.grpcAddress(), app };
  }
  const workersEach = Math.max(1, Math.floor(config.inferenceWorkers / processes));
  if (cluster.isWorker) return startWorker(overrides, workersEach, config.jobWorkers);
  // The primary migrates the registry once before the HTTP processes start: otherwise they would all
  // migrate a fresh database at the same moment, and all but one would find it locked.
  const { database } = storesForUri(config.registryUri);
  try {
    await database.migrate();
  } finally {
    await database.close();
  }
  gatherClusterMetrics();
  return startPrimary(processes);
}

/** One HTTP process of a cluster: a whole Slipway, told of its peers' revisions through the primary. */
async function startWorker(
  overrides: ConfigOverrides,
  workersEach: number,
  jobWorkers: number,
): Promise<Serving> {
  try {
    const { createApp } = await import('./app.js');
    const app = await createApp({
      // A batch run still scores with as many workers as the whole server has (see JobRunner).
      overrides: { ...overrides, SLIPWAY_INFERENCE_WORKERS: workersEach, SLIPWAY_JOB_WORKERS: jobWorkers },
      leader: process.env.SLIPWAY_CLUSTER_LEADER === '1',
      // /metrics answers for the whole server: the primary sums every process's metrics.
      exposition: (metrics) => clusterExposition(metrics.registry),
      // A revision written through one process reaches the others at once, through the primary.
      peers: {
        announce: () => process.send?.(REVISION_NEWS),
        news: (onChange) =>
          process.on('message', (message) => {
            if (isRevisionNews(message)) onChange();
          }),
      },
    });
    // Without the primary no connection comes any more: a process whose primary died (even by
    // SIGKILL) stops too, instead of lingering with its workers.
    process.once('disconnect', () => {
      setTimeout(() => process.exit(1), 10_000).unref();
      void app.close().finally(() => process.exit(0));
    });
    const url = await app.listen();
    // Every port of this process is open (gRPC and metrics too): the primary counts it as started.
    const started: Started = { slipway: 'listening', url, grpc: app.grpcAddress() };
    process.send?.(started);
    return { url, grpc: started.grpc, app };
  } catch (error) {
    // The primary stops every process and fails with this error (a busy port, a bad database URI).
    const failure: StartFailure = {
      slipway: 'failed',
      code: isSlipwayError(error) ? error.code : 'INTERNAL',
      message: (error as Error).message,
    };
    // Not thrown: the primary reports it once, then stops this process.
    process.send?.(failure);
    process.once('disconnect', () => process.exit(1));
    return new Promise<never>(() => {});
  }
}

/** What an HTTP process that could not start tells the primary. */
interface StartFailure {
  readonly slipway: 'failed';
  readonly code: ErrorCode;
  readonly message: string;
}
const isStartFailure = (message: unknown): message is StartFailure =>
  typeof message === 'object' && message !== null && (message as { slipway?: unknown }).slipway === 'failed';

/** What an HTTP process tells the primary once all its ports are open, with its HTTP address. */
interface Started {
  readonly slipway: 'listening';
  readonly url: string;
  readonly grpc: string | null;
}
const isStarted = (message: unknown): message is Started =>
  typeof message === 'object' &&
  message !== null &&
  (message as { slipway?: unknown }).slipway === 'listening';

/** The message an HTTP process sends when it wrote a revision, and the primary passes on. */
const REVISION_NEWS = { slipway: 'revision' } as const;
const isRevisionNews = (message: unknown) =>
  typeof message === 'object' &&
  message !== null &&
  (message as { slipway?: unknown }).slipway === 'revision';

function startPrimary(processes: number): Promise<Serving> {
  let stopping = false;
  let listening = 0;
  let failed: (failure: StartFailure) => void = () => {};
  let started: (message: Started) => void = () => {};
  cluster.on('message', (from, message) => {
    if (isStartFailure(message)) failed(message);
    if (isStarted(message)) started(message);
    if (!isRevisionNews(message)) return;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker && worker !== from && worker.isConnected()) worker.send(REVISION_NEWS);
    }
  });
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise((resolve, reject) => {
    // One that cannot start (a busy port, an unreachable database) will not start again: stop them
    // all, and fail with its error.
    failed = (failure) => {
      if (stopping || listening === processes) return;
      stop();
      reject(new SlipwayError(failure.code, failure.message));
    };
    const fork = (leader: boolean) => {
      const worker = cluster.fork({ SLIPWAY_CLUSTER_LEADER: leader ? '1' : '0' });
      worker.once('exit', (code, signal) => {
        if (stopping) return;
        if (listening < processes) {
          failed({
            slipway: 'failed',
            code: 'INTERNAL',
            message: `HTTP process ${worker.process.pid} exited (${signal ?? code}) while starting.`,
          });
          return;
        }
        process.stderr.write(
          `slipway: HTTP process ${worker.process.pid} exited (${signal ?? code}); starting another\n`,
        );
        fork(leader);
      });
    };
    // Counted by the processes' own word, not node:cluster's `listening` events: those come for
    // every port a process opens (gRPC, metrics), not only the HTTP one.
    started = ({ url, grpc }) => {
      listening += 1;
      if (listening === processes) resolve({ url, grpc, app: null });
    };
    for (let i = 0; i < processes; i++) fork(i === 0);
  });
}
