/**
 * `make bench`, last part: Slipway scaled out, side by side in one run (bench/README.md, "Scaled out").
 *
 * 1. Serving: the example model's single-row V1 prediction on a bare replica (no load balancer, the
 *    reference), through HAProxy in front of that one replica, and through HAProxy in front of three
 *    replicas: the cluster of `make demo-cluster` (src/cli/local-cluster.ts), on PostgreSQL and MinIO.
 * 2. Control plane: pushes, promotions and MLflow log-batch requests per second on a server whose
 *    registry is SQLite (the reference), on PostgreSQL, and on PostgreSQL with the artifacts in S3.
 *
 * A part that cannot run (HAProxy, PostgreSQL or MinIO does not install or start) is reported as
 * SKIPPED with the reason and the rest goes on; a wrong answer or failed requests exit non-zero.
 *
 *   npx tsx bench/cluster.ts [--duration 8] [--connections 1,32,256] [--ops-seconds 8] [--concurrency 4]
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import pg from 'pg';
import { s3ClientFor } from '../src/artifacts/s3/s3-artifact-store.js';
import {
  type LoadBalancer,
  type LocalCluster,
  startLoadBalancer,
  startLocalCluster,
} from '../src/cli/local-cluster.js';
import {
  disagreement,
  loadExampleModel,
  MANIFEST_PATH,
  MODEL_PATH,
  type Prediction,
  readV1,
  v1Body,
} from './example-model.js';
import { type Measurement, measure, percentile } from './load.js';
import { SLIPWAY_BASE_ENV, startSlipway } from './peers.js';
import { benchSession } from './processes.js';
import { formatTable, ms, rate, times } from './report.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '1,32,256' },
    warmup: { type: 'string', default: '2' },
    replicas: { type: 'string', default: '3' },
    'ops-seconds': { type: 'string' },
    concurrency: { type: 'string', default: '4' },
  },
});
const duration = Number(args.duration);
const connections = args.connections.split(',').map(Number);
const warmup = Number(args.warmup);
const replicaCount = Number(args.replicas);
const opsSeconds = Number(args['ops-seconds'] ?? args.duration);
const concurrency = Number(args.concurrency);
const REPO = join(import.meta.dirname, '..');
const SLIPWAY_BIN = join(REPO, 'bin', 'slipway.js');

const { progress, workDir, processes } = benchSession('slipway-bench-cluster-');
const model = loadExampleModel();
let failed = false;
const lines: string[] = [];
const report = (text: string) => lines.push(text);

progress(
  `Machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, ` +
    `load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
);

// ---------------------------------------------------------------------------------------------------
// The cluster: PostgreSQL, MinIO, the replicas (serving dev, as the serving bench's Slipway does) and
// HAProxy in front of them all, plus a second HAProxy in front of replica-1 alone.
let cluster: LocalCluster | undefined;
let single: LoadBalancer | undefined;
process.on('exit', () => {
  single?.stopNow();
  cluster?.stopNow();
});
let clusterFailure: string | undefined;
try {
  progress(`Starting PostgreSQL, MinIO, ${replicaCount} replicas and HAProxy`);
  cluster = await startLocalCluster({
    replicas: replicaCount,
    command: [SLIPWAY_BIN],
    cwd: workDir,
    env: SLIPWAY_BASE_ENV,
    progress: (line) => progress(`  ${line}`),
  });
} catch (error) {
  clusterFailure = (error as Error).message.split('\n')[0];
  progress(`SKIPPED the cluster: ${clusterFailure}`);
}

// ---------------------------------------------------------------------------------------------------
// 1. Serving through the load balancer.
interface ServingRow {
  readonly label: string;
  readonly measurements: readonly Measurement[];
  readonly failure?: string;
}

async function predictOnce(url: string): Promise<{ status: number; body: string; replica: string | null }> {
  const response = await fetch(`${url}/v1/models/${model.name}:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: v1Body(model),
    signal: AbortSignal.timeout(10_000),
  });
  return {
    status: response.status,
    body: await response.text(),
    replica: response.headers.get('x-slipway-replica'),
  };
}

/** Waits until every replica serves the model: the others learn of the push within the follow interval. */
async function servedEverywhere(urls: readonly string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (const url of urls) {
    while ((await predictOnce(url).catch(() => ({ status: 0 }))).status !== 200) {
      if (Date.now() > deadline) throw new Error(`${url} does not serve ${model.name} after 60 s`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function measureServing(label: string, base: string, reference: Prediction): Promise<ServingRow> {
  try {
    const check = await predictOnce(base);
    if (check.status !== 200) throw new Error(`status ${check.status}: ${check.body.slice(0, 200)}`);
    const wrong = disagreement(readV1(JSON.parse(check.body)), reference);
    if (wrong) throw new Error(`wrong answer: ${wrong}`);
    const target = { url: `${base}/v1/models/${model.name}:predict`, body: v1Body(model) };
    await measure(target, 32, warmup);
    const measurements: Measurement[] = [];
    for (const count of connections) {
      const m = await measure(target, count, duration);
      progress(
        `  ${label.padEnd(26)} ${String(count).padStart(4)} conns  ${rate(m.requestsPerSecond).padStart(6)} req/s  ` +
          `p50 ${ms(m.p50)} ms  p99 ${ms(m.p99)} ms  errors ${m.errors}`,
      );
      if (m.errors > 0) failed = true;
      measurements.push(m);
    }
    return { label, measurements };
  } catch (error) {
    failed = true;
    return { label, measurements: [], failure: (error as Error).message };
  }
}

report('## Serving through HAProxy (V1, one row, penguin-species)\n');
if (cluster) {
  const servingRows: ServingRow[] = [];
  const bare = cluster.replicas[0]!;
  try {
    const push = ['models', 'push', MODEL_PATH, '--manifest', MANIFEST_PATH, '--server', bare.url];
    await processes.run('push', process.execPath, [SLIPWAY_BIN, ...push], { cwd: workDir });
    await servedEverywhere(cluster.replicas.map((r) => r.url));
    const reference = readV1(JSON.parse((await predictOnce(bare.url)).body));
    single = await startLoadBalancer({ backends: [bare] });
    progress(
      `Serving: ${connections.join(', ')} connections, ${duration} s each after a ${warmup} s warm-up`,
    );
    servingRows.push(await measureServing(`bare ${bare.name} (no LB)`, bare.url, reference));
    servingRows.push(await measureServing('HAProxy → 1 replica', single.url, reference));
    servingRows.push(
      await measureServing(`HAProxy → ${cluster.replicas.length} replicas`, cluster.url, reference),
    );
    // Which replicas answered through the 3-replica balancer: all of them, or the figures mean little.
    const seen = new Set<string | null>();
    for (let i = 0; i < 3 * cluster.replicas.length; i += 1)
      seen.add((await predictOnce(cluster.url)).replica);
    report(`Replicas that answered through HAProxy: ${[...seen].sort().join(', ')}\n`);
  } catch (error) {
    failed = true;
    servingRows.push({ label: 'serving', measurements: [], failure: (error as Error).message });
  } finally {
    await single?.stop();
    single = undefined;
  }
  const reference = servingRows[0];
  const rows: string[][] = [];
  for (const row of servingRows) {
    if (row.failure !== undefined) rows.push([row.label, '-', 'FAILED', '-', '-', '-', '-']);
    for (const m of row.measurements) {
      const base = reference?.measurements.find((r) => r.connections === m.connections)?.requestsPerSecond;
      rows.push([
        row.label,
        String(m.connections),
        rate(m.requestsPerSecond),
        ms(m.p50),
        ms(m.p99),
        String(m.errors),
        times(m.requestsPerSecond / (base ?? Number.NaN)),
      ]);
    }
  }
  report(formatTable(['setup', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'vs bare'], rows));
  for (const row of servingRows) if (row.failure) report(`FAILED ${row.label}: ${row.failure}`);
  report(
    `\nEach replica: node bin/slipway.js serve, ${Object.entries(SLIPWAY_BASE_ENV)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}, registry ${cluster.registryUri}, artifacts ${cluster.artifactUri}. ` +
      `All replicas, HAProxy and the load generator share this machine's ${availableParallelism()} cores.`,
  );
} else {
  report(`SKIPPED: the cluster did not start: ${clusterFailure}`);
}

// ---------------------------------------------------------------------------------------------------
// 2. Control plane: the same operations on a SQLite registry and on PostgreSQL.
/**
 * Environments for the control-plane servers: nothing deploys on push, and staging takes any READY
 * version without gates or approval, so a push and a promotion measure the registry's work (and the
 * model's validation and warm-up on upload), not the gates' predictions.
 */
const CONTROL_YAML = [
  'environments:',
  '  - { name: dev, auto_deploy: false }',
  '  - name: staging',
  '    promotes_from: null',
  '    gates: { smoke: false, schema: false, validation: null, latency: null }',
  '    approval: null',
  '    confirm: false',
  '    rollout: null',
  '',
].join('\n');

interface Backend {
  readonly id: string;
  readonly label: string;
  readonly env?: Record<string, string>;
  readonly skipped?: string;
}

interface OpResult {
  readonly ops: number;
  readonly seconds: number;
  readonly latencies: number[];
  readonly failures: number;
  readonly firstFailure?: string;
}

/** `concurrency` callers run `op` one after another for `seconds`; counts what succeeded. */
async function closedLoop(
  seconds: number,
  op: (caller: number, i: number) => Promise<void>,
): Promise<OpResult> {
  const latencies: number[] = [];
  let failures = 0;
  let firstFailure: string | undefined;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, caller) => {
      for (let i = 0; performance.now() < end; i += 1) {
        const t = performance.now();
        try {
          await op(caller, i);
          latencies.push(performance.now() - t);
        } catch (error) {
          failures += 1;
          firstFailure ??= (error as Error).message;
        }
      }
    }),
  );
  return {
    ops: latencies.length,
    seconds: (performance.now() - t0) / 1000,
    latencies,
    failures,
    ...(firstFailure ? { firstFailure } : {}),
  };
}

async function call(base: string, path: string, init: RequestInit = {}): Promise<unknown> {
  const response = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  if (!response.ok)
    throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : undefined;
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const modelBytes = readFileSync(MODEL_PATH);
const manifestText = readFileSync(MANIFEST_PATH, 'utf8');
function uploadVersion(base: string, name: string): Promise<unknown> {
  const form = new FormData();
  form.set('manifest', manifestText);
  form.set('model', new Blob([modelBytes]), 'model.onnx');
  return call(base, `/api/v1/models/${name}/versions`, {
    method: 'POST',
    headers: { 'x-slipway-client': 'bench' },
    body: form,
  });
}

/** push, promote and log-batch on one server, one after the other. */
async function measureControl(base: string): Promise<Record<string, OpResult>> {
  // One model per caller: concurrent pushes contend on version numbers within none, promotions on none.
  const names = Array.from({ length: concurrency }, (_, i) => `bench-${i}`);
  for (const name of names) {
    await call(base, '/api/v1/models', json({ name }));
    await uploadVersion(base, name);
    await uploadVersion(base, name);
  }
  progress(`  push: ${concurrency} callers upload versions of ${model.name} (${modelBytes.length} bytes)`);
  const push = await closedLoop(opsSeconds, async (caller) => {
    await uploadVersion(base, names[caller]!);
  });
  progress(`  promote: ${concurrency} callers promote versions 1 and 2 to staging in turn`);
  const promote = await closedLoop(opsSeconds, async (caller, i) => {
    const promotion = (await call(
      base,
      '/api/v1/environments/staging/promotions',
      json({ model: names[caller], version: 1 + (i % 2), reason: 'bench' }),
    )) as { status: string };
    if (promotion.status !== 'SUCCEEDED') throw new Error(`promotion ended ${promotion.status}`);
  });
  progress(`  log-batch: ${concurrency} runs log 100 metrics per request`);
  const experiment = (await call(base, '/api/2.0/mlflow/experiments/create', json({ name: 'bench' }))) as {
    experiment_id: string;
  };
  const runs = await Promise.all(
    names.map(async (name) => {
      const created = (await call(
        base,
        '/api/2.0/mlflow/runs/create',
        json({ experiment_id: experiment.experiment_id, run_name: name, start_time: Date.now() }),
      )) as { run: { info: { run_id: string } } };
      return created.run.info.run_id;
    }),
  );
  const now = Date.now();
  const logBatch = await closedLoop(opsSeconds, async (caller, i) => {
    await call(
      base,
      '/api/2.0/mlflow/runs/log-batch',
      json({
        run_id: runs[caller],
        metrics: Array.from({ length: 100 }, (_, k) => ({
          key: `m${k % 10}`,
          value: k / 100,
          timestamp: now + i,
          step: i * 100 + k,
        })),
      }),
    );
  });
  return { push, promote, 'log-batch': logBatch };
}

/** A database of its own on the cluster's PostgreSQL server, and a bucket of its own on its MinIO. */
async function controlBackends(): Promise<Backend[]> {
  const sqlite: Backend = { id: 'sqlite', label: 'SQLite' };
  if (!cluster) {
    const skipped = `the cluster's PostgreSQL and MinIO did not start: ${clusterFailure}`;
    return [
      sqlite,
      { id: 'postgres', label: 'PostgreSQL', skipped },
      { id: 'postgres-s3', label: 'PostgreSQL + S3', skipped },
    ];
  }
  const admin = new pg.Client({ connectionString: cluster.registryUri });
  await admin.connect();
  const urls: string[] = [];
  try {
    for (const name of ['control_bench', 'control_bench_s3']) {
      await admin.query(`CREATE DATABASE ${name}`);
      const url = new URL(cluster.registryUri);
      url.pathname = `/${name}`;
      urls.push(url.toString());
    }
  } finally {
    await admin.end();
  }
  const { bucket } = cluster;
  const client = s3ClientFor(bucket);
  try {
    await client.send(new CreateBucketCommand({ Bucket: 'control-bench' }));
  } finally {
    client.destroy();
  }
  return [
    sqlite,
    { id: 'postgres', label: 'PostgreSQL', env: { SLIPWAY_REGISTRY_URI: urls[0]! } },
    {
      id: 'postgres-s3',
      label: 'PostgreSQL + S3',
      env: {
        SLIPWAY_REGISTRY_URI: urls[1]!,
        SLIPWAY_ARTIFACT_URI: 's3://control-bench/artifacts',
        AWS_ENDPOINT_URL: bucket.endpoint,
        AWS_REGION: bucket.region,
        AWS_ACCESS_KEY_ID: bucket.accessKeyId,
        AWS_SECRET_ACCESS_KEY: bucket.secretAccessKey,
      },
    },
  ];
}

report('\n## Control plane: SQLite against PostgreSQL\n');
const control: { backend: Backend; results?: Record<string, OpResult>; failure?: string }[] = [];
let backends: Backend[];
try {
  backends = await controlBackends();
} catch (error) {
  const skipped = `could not prepare PostgreSQL or S3: ${(error as Error).message}`;
  backends = [
    { id: 'sqlite', label: 'SQLite' },
    { id: 'postgres', label: 'PostgreSQL', skipped },
  ];
}
for (const backend of backends) {
  if (backend.skipped) {
    control.push({ backend });
    continue;
  }
  progress(`Control plane on ${backend.label}: ${concurrency} callers, ${opsSeconds} s per operation`);
  const env = { SLIPWAY_AUTH: 'off', ...backend.env };
  let server: Awaited<ReturnType<typeof startSlipway>>['server'] | undefined;
  try {
    const started = await startSlipway(processes, workDir, `control-${backend.id}`, env, CONTROL_YAML);
    server = started.server;
    control.push({ backend, results: await measureControl(started.base) });
  } catch (error) {
    failed = true;
    control.push({ backend, failure: (error as Error).message.split('\n')[0] });
  } finally {
    if (server) await processes.stop(server);
  }
}
const operations = ['push', 'promote', 'log-batch'];
const controlRows: string[][] = [];
const notes: string[] = [];
for (const op of operations) {
  const reference = control.find((c) => c.backend.id === 'sqlite')?.results?.[op];
  const referenceRate = reference ? reference.ops / reference.seconds : Number.NaN;
  for (const { backend, results } of control) {
    const r = results?.[op];
    if (!r) {
      controlRows.push([op, backend.label, backend.skipped ? 'SKIPPED' : 'FAILED', '-', '-', '-', '-']);
      continue;
    }
    if (r.failures > 0) {
      failed = true;
      notes.push(`${op} on ${backend.label}: ${r.failures} failed, the first: ${r.firstFailure}`);
    }
    const sorted = [...r.latencies].sort((a, b) => a - b);
    const perSecond = r.ops / r.seconds;
    controlRows.push([
      op,
      backend.label,
      perSecond.toFixed(perSecond < 100 ? 1 : 0),
      ms(percentile(sorted, 0.5)),
      ms(percentile(sorted, 0.99)),
      String(r.failures),
      times(perSecond / referenceRate),
    ]);
  }
}
report(
  formatTable(
    ['operation', 'registry', 'ops/s', 'p50 ms', 'p99 ms', 'failed', 'vs SQLite'],
    controlRows,
    [0, 1],
  ),
);
for (const { backend, failure } of control) {
  if (backend.skipped) report(`SKIPPED ${backend.label}: ${backend.skipped}`);
  if (failure) report(`FAILED ${backend.label}: ${failure}`);
}
for (const note of notes) report(`NOTE ${note}`);
report(
  `\npush: a ${modelBytes.length}-byte model version with its manifest (validated, loaded and warmed before it is READY); ` +
    'promote: to staging with no gates, no approval (slipway.yaml below), alternating versions 1 and 2; ' +
    `log-batch: runs/log-batch of 100 metrics. ${concurrency} callers per operation, one model or run each, ` +
    `${opsSeconds} s each. Servers: node bin/slipway.js serve, SLIPWAY_AUTH=off, SQLite and file artifacts ` +
    'by default, PostgreSQL on the same machine (fsync off, as the test server runs).\n' +
    CONTROL_YAML.trimEnd()
      .split('\n')
      .map((line) => `    ${line}`)
      .join('\n'),
);

// ---------------------------------------------------------------------------------------------------
await single?.stop();
await cluster?.stop();
cluster = undefined;
process.stdout.write(`\n${lines.join('\n')}\n`);
process.exit(failed ? 1 : 0);
