import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { s3Sdk } from '../artifacts/s3/aws-sdk.js';
import { s3ClientFor } from '../artifacts/s3/s3-artifact-store.js';
import { SlipwayError } from '../errors/index.js';
import type { DemoSummary } from './demo.js';
import { UsageError } from './exit-codes.js';

/**
 * Several `slipway serve` replicas on this machine behind a real load balancer, as they would run on
 * several machines: the registry in PostgreSQL, the artifacts in S3, and each replica with a data
 * folder, a port and a name of its own. `slipway demo --cluster` (`make demo-cluster`), the
 * load-balancer tests and `bench/cluster.ts` all start it here. The PostgreSQL server, the S3 server
 * (MinIO) and HAProxy come from the project's scripts (scripts/postgres.sh, s3.sh, haproxy.sh), so this
 * runs from a checkout of Slipway, not from an installed package.
 */

const SCRIPTS = fileURLToPath(new URL('../../scripts/', import.meta.url));
/** The bucket and prefix of the throw-away S3 server's artifacts. */
const BUCKET = 'slipway';
const ARTIFACT_PREFIX = 'artifacts';

/** An S3 bucket that exists, and how to reach it (the `AWS_*` variables of every replica). */
export interface ClusterBucket {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly bucket: string;
}

export interface LocalClusterOptions {
  /** Replicas behind the load balancer, 1 to 16. Default 3. */
  readonly replicas?: number;
  /** Port of the load balancer on 127.0.0.1; 0 or absent picks a free one. */
  readonly port?: number;
  /**
   * The first replica runs `slipway demo` (registers and promotes the example models, exactly as
   * `make demo` does) instead of `slipway serve`; the others start once it is done. Default false.
   */
  readonly demo?: boolean;
  /** A PostgreSQL database for the registry. Absent: a throw-away server from scripts/postgres.sh. */
  readonly registryUri?: string;
  /** A bucket for the artifacts. Absent: a throw-away MinIO from scripts/s3.sh, with a bucket in it. */
  readonly bucket?: ClusterBucket;
  /**
   * Settings of every replica, on top of the cluster's own (`SLIPWAY_AUTH=off`, backends, port, data
   * folder, name). The launcher's own `SLIPWAY_*` variables reach the replicas too, but for those.
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * How to run the `slipway` command: the arguments given to this Node.js before the command's own.
   * Default: the CLI next to this file (bin/slipway.js once built, or src/cli/bin.ts through tsx).
   */
  readonly command?: readonly string[];
  /** The replicas' working folder, where each reads `slipway.yaml` and `.env`. Default: this process's. */
  readonly cwd?: string;
  /** Seconds a replica may take to become ready. Default 120. */
  readonly readySeconds?: number;
  /** Receives a line at each step (default: nothing). */
  readonly progress?: (line: string) => void;
  /** Aborting it while the cluster starts stops what has started, and the start rejects. */
  readonly signal?: AbortSignal;
}

/** One replica: a `slipway serve` (or `slipway demo`) process with its own port, folder and name. */
export interface Replica {
  /** `replica-1`, `replica-2`…: its `SLIPWAY_REPLICA_NAME`, and what `x-slipway-replica` says. */
  readonly name: string;
  /** Its own address, without the load balancer. */
  readonly url: string;
  readonly pid: number;
  readonly dataDir: string;
  /** Its output (stdout and stderr). */
  readonly log: string;
  /** Sends `signal` to the replica and its inference workers; resolves once the replica has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface LocalCluster {
  /** The load balancer: where clients call. */
  readonly url: string;
  readonly replicas: readonly Replica[];
  readonly registryUri: string;
  readonly artifactUri: string;
  readonly bucket: ClusterBucket;
  /** What `slipway demo` printed on the first replica (its addresses are that replica's), with `demo`. */
  readonly demo: DemoSummary | undefined;
  /** The folder holding the replicas' data folders and logs; removed by `stop`. */
  readonly dir: string;
  /** Stops the load balancer, the replicas, then what the launcher started; removes every folder. */
  stop(): Promise<void>;
  /** The same at once, synchronously, with SIGKILL: for `process.on('exit')`. */
  stopNow(): void;
}

/** A load balancer the launcher started: its URL, and how to stop it. */
export interface LoadBalancer {
  readonly url: string;
  stop(): Promise<void>;
  stopNow(): void;
}

/**
 * Starts PostgreSQL and MinIO (unless given), the first replica (waits until it is ready, and with
 * `demo` until the demo is prepared), the other replicas, then HAProxy in front of them all. On any
 * failure, whatever started is stopped before the error is thrown.
 */
export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const count = options.replicas ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 16) {
    throw new UsageError(`A cluster has 1 to 16 replicas; got ${count}.`);
  }
  requireScripts();
  const progress = options.progress ?? (() => {});
  const port = options.port || (await freePort());
  await requireFreePort(port);
  const dir = mkdtempSync(join(tmpdir(), 'slipway-cluster-'));
  const stops: (() => Promise<void>)[] = [];
  const stopsNow: (() => void)[] = [];
  const replicas: ReplicaProcess[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      // The load balancer first, so no request reaches a replica that is stopping; then the
      // replicas, then the stores they write to.
      for (const step of stops.reverse()) await step().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  const stopNow = () => {
    if (stopped) return;
    for (const step of stopsNow.reverse()) {
      try {
        step();
      } catch {
        // Already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const { signal } = options;
  const script = (name: string, args: readonly string[], env?: Record<string, string>) =>
    runScript(name, args, { progress, env, signal });
  try {
    // One at a time: two apt-get installs would fight over the package lock.
    if (options.registryUri === undefined) await script('postgres.sh', ['install']);
    await script('haproxy.sh', ['install']);
    if (options.bucket === undefined) await script('s3.sh', ['install']);

    // Both at once, and both settled before going on: stopping one that is still starting could leave it running.
    const [registry, storage] = await Promise.allSettled([
      options.registryUri ?? startPostgres(script, progress, stops, stopsNow),
      options.bucket ?? startS3(script, progress, stops, stopsNow),
    ]);
    if (registry.status === 'rejected') throw registry.reason;
    if (storage.status === 'rejected') throw storage.reason;
    const registryUri = registry.value;
    const bucket = storage.value;
    const artifactUri = `s3://${bucket.bucket}/${ARTIFACT_PREFIX}`;
    const env: Record<string, string> = {
      SLIPWAY_AUTH: 'off',
      ...options.env,
      SLIPWAY_HOST: '127.0.0.1',
      SLIPWAY_REGISTRY_URI: registryUri,
      SLIPWAY_ARTIFACT_URI: artifactUri,
      AWS_ENDPOINT_URL: bucket.endpoint,
      AWS_REGION: bucket.region,
      AWS_ACCESS_KEY_ID: bucket.accessKeyId,
      AWS_SECRET_ACCESS_KEY: bucket.secretAccessKey,
    };
    const command = options.command ?? defaultCommand();
    const readyMs = (options.readySeconds ?? 120) * 1000;
    stops.push(() => Promise.all(replicas.map((r) => r.stop())).then(() => {}));
    stopsNow.push(() => {
      for (const replica of replicas) replica.stopNow();
    });
    const launch = async (index: number, demo: boolean) => {
      signal?.throwIfAborted();
      const replica = await ReplicaProcess.start({ dir, index, demo, env, command, cwd: options.cwd });
      replicas.push(replica);
      progress(`${replica.name}: ${demo ? 'slipway demo' : 'slipway serve'} on ${replica.url}`);
      await replica.ready(readyMs, signal);
      return replica;
    };
    const first = await launch(1, options.demo === true);
    const others = await Promise.all(Array.from({ length: count - 1 }, (_, i) => launch(i + 2, false)));
    const all = [first, ...others];
    signal?.throwIfAborted();
    const balancer = await startLoadBalancer({ port, backends: all, dir: join(dir, 'haproxy') });
    stops.push(balancer.stop);
    stopsNow.push(balancer.stopNow);
    progress(`HAProxy on ${balancer.url}, round-robin over ${all.map((r) => r.name).join(', ')}`);
    return {
      url: balancer.url,
      replicas: all,
      registryUri,
      artifactUri,
      bucket,
      demo: first.demo,
      dir,
      stop,
      stopNow,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Starts HAProxy (scripts/haproxy.sh) on 127.0.0.1:`port` (a free port when absent), round-robin over
 * `backends`, with health checks on /v2/health/ready. Its configuration and log live in `dir`, which
 * stopping removes.
 */
export async function startLoadBalancer(options: {
  readonly backends: readonly Pick<Replica, 'name' | 'url'>[];
  readonly port?: number;
  readonly dir?: string;
}): Promise<LoadBalancer> {
  requireScripts();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'slipway-haproxy-'));
  const port = options.port || (await freePort());
  const backends = options.backends.map((b) => `${b.name}=${new URL(b.url).host}`);
  const url = await runScript('haproxy.sh', ['start', dir, String(port), ...backends]);
  return {
    url,
    stop: async () => {
      await runScript('haproxy.sh', ['stop', dir]);
    },
    stopNow: () => {
      execFileSync('bash', [join(SCRIPTS, 'haproxy.sh'), 'stop', dir], { stdio: 'ignore' });
    },
  };
}

type Script = (name: string, args: readonly string[], env?: Record<string, string>) => Promise<string>;

async function startPostgres(
  script: Script,
  progress: (line: string) => void,
  stops: (() => Promise<void>)[],
  stopsNow: (() => void)[],
): Promise<string> {
  // A folder of its own in the temporary folder: the postgres user must be able to reach it.
  const dir = mkdtempSync(join(tmpdir(), 'slipway-cluster-postgres-'));
  stops.push(() => runScript('postgres.sh', ['stop', dir]).then(() => {}));
  stopsNow.push(() => execFileSync('bash', [join(SCRIPTS, 'postgres.sh'), 'stop', dir], { stdio: 'ignore' }));
  const url = await script('postgres.sh', ['start', dir, String(await freePort())]);
  progress(`PostgreSQL on ${url}`);
  return url;
}

async function startS3(
  script: Script,
  progress: (line: string) => void,
  stops: (() => Promise<void>)[],
  stopsNow: (() => void)[],
): Promise<ClusterBucket> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-cluster-s3-'));
  stops.push(() => runScript('s3.sh', ['stop', dir]).then(() => {}));
  stopsNow.push(() => execFileSync('bash', [join(SCRIPTS, 's3.sh'), 'stop', dir], { stdio: 'ignore' }));
  const credentials = { accessKeyId: 'slipway', secretAccessKey: 'slipway-secret' };
  const endpoint = await script('s3.sh', ['start', dir, String(await freePort())], {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  });
  const bucket: ClusterBucket = { endpoint, region: 'us-east-1', ...credentials, bucket: BUCKET };
  // Slipway never creates its bucket (RUNBOOK.md): whoever runs the S3 server does.
  const client = s3ClientFor(bucket);
  try {
    await client.send(new (s3Sdk().CreateBucketCommand)({ Bucket: BUCKET }));
  } finally {
    client.destroy();
  }
  progress(`MinIO on ${endpoint}, bucket ${BUCKET}`);
  return bucket;
}

class ReplicaProcess implements Replica {
  demo: DemoSummary | undefined;
  private readonly exited: Promise<void>;
  private exitCode: number | string | undefined;

  private constructor(
    readonly name: string,
    readonly url: string,
    readonly dataDir: string,
    readonly log: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? signal ?? 'unknown';
        resolve();
      });
    });
  }

  static async start(options: {
    dir: string;
    index: number;
    demo: boolean;
    env: Readonly<Record<string, string>>;
    command: readonly string[];
    cwd: string | undefined;
  }): Promise<ReplicaProcess> {
    const name = `replica-${options.index}`;
    const port = await freePort();
    const dataDir = join(options.dir, name);
    mkdirSync(dataDir, { recursive: true });
    const log = join(options.dir, `${name}.log`);
    const fd = openSync(log, 'a');
    // The launcher's SLIPWAY_* settings reach every replica, but for the client's and these.
    const { SLIPWAY_SERVER: _server, SLIPWAY_TOKEN: _token, ...inherited } = process.env;
    const child = spawn(process.execPath, [...options.command, '--json', options.demo ? 'demo' : 'serve'], {
      env: {
        ...inherited,
        ...options.env,
        SLIPWAY_PORT: String(port),
        SLIPWAY_DATA_DIR: dataDir,
        SLIPWAY_REPLICA_NAME: name,
      },
      // The demo's summary is read from stdout; everything else goes to the log.
      stdio: ['ignore', options.demo ? 'pipe' : fd, fd],
      // A process group of its own: stopping it stops its inference workers too, and Ctrl-C in the
      // launcher's terminal reaches the launcher only, which stops everything in order.
      detached: true,
    });
    closeSync(fd);
    const replica = new ReplicaProcess(name, `http://127.0.0.1:${port}`, dataDir, log, child);
    if (options.demo) replica.readDemoSummary();
    return replica;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Collects the one JSON document `slipway --json demo` prints once the demo is prepared. */
  private readDemoSummary(): void {
    let stdout = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (this.demo) return;
      try {
        this.demo = JSON.parse(stdout) as DemoSummary;
      } catch {
        // Not the whole document yet.
      }
    });
  }

  /** Waits until /v2/health/ready answers 200 (and, for the demo, its summary is printed). */
  async ready(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const demo = this.child.stdout !== null;
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      if (this.exitCode !== undefined) {
        throw new Error(`${this.name} exited (${this.exitCode}):\n${tail(this.log)}`);
      }
      if (!demo || this.demo) {
        const ready = await fetch(`${this.url}/v2/health/ready`, { signal: AbortSignal.timeout(2000) })
          .then(async (response) => {
            await response.body?.cancel();
            return response.status === 200;
          })
          .catch(() => false);
        if (ready) return;
      }
      await sleep(200);
    }
    throw new Error(`${this.name} was not ready after ${timeoutMs / 1000} s:\n${tail(this.log)}`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.signal(signal);
    await this.exited;
  }

  /** SIGTERM (the server drains and closes), then SIGKILL to whatever is left after 10 s. */
  async stop(): Promise<void> {
    if (this.exitCode === undefined) {
      this.signal('SIGTERM');
      await Promise.race([this.exited, sleep(10_000)]);
    }
    // The server may be gone while a worker of its group lingers.
    this.signal('SIGKILL');
  }

  stopNow(): void {
    this.signal('SIGKILL');
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // The group is gone.
    }
  }
}

/**
 * Runs one of the project's scripts; resolves with what it printed on stdout, trimmed. Its stderr lines
 * go to `progress`; aborting `signal` ends it.
 */
function runScript(
  name: string,
  args: readonly string[],
  options: {
    progress?: (line: string) => void;
    env?: Readonly<Record<string, string>> | undefined;
    signal?: AbortSignal | undefined;
  } = {},
): Promise<string> {
  const progress = options.progress ?? (() => {});
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(SCRIPTS, name), ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    // Installs say what they do ("installing HAProxy…", "building MinIO…"): pass their lines on.
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      for (const line of chunk.split('\n')) if (line.trim()) progress(line.trimEnd());
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(stdout.trim());
      else reject(new Error(`scripts/${name} ${args[0] ?? ''} failed (exit ${code}): ${stderr.trim()}`));
    });
  });
}

function requireScripts(): void {
  if (!existsSync(join(SCRIPTS, 'haproxy.sh'))) {
    throw new UsageError(
      `A local cluster runs from a checkout of Slipway (it uses scripts/postgres.sh, s3.sh and haproxy.sh); ${SCRIPTS} has none.`,
    );
  }
}

/** The CLI beside this file: compiled (dist/cli/bin.js) or, run through tsx, its TypeScript source. */
function defaultCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts')
    ? ['--import', 'tsx', join(here, '..', 'bin.ts')]
    : [join(here, '..', 'bin.js')];
}

/** A TCP port on loopback that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Fails with a clear message, before anything starts, when the load balancer's port is taken. */
function requireFreePort(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', () =>
      reject(
        new SlipwayError(
          'UNAVAILABLE',
          `Port ${port} on 127.0.0.1 is already in use; choose another with --port or SLIPWAY_PORT.`,
        ),
      ),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

/** The last lines of a log, to say why a replica failed. */
function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}
