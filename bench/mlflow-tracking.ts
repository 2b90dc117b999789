/**
 * `make bench`, second part: Slipway's MLflow tracking API against MLflow's own tracking server
 * (`mlflow server`, SQLite backend, proxied artifacts, from .venv-bench), side by side in one run
 * on the same machine, with the same workload: many concurrent runs logging metrics over the MLflow
 * REST API, as training loops with `mlflow.log_metric` (one point per request) and `log_metrics`
 * (`runs/log-batch`) do. Prints a table of points per second and request latencies, and the
 * Slipway ÷ MLflow ratio. See bench/README.md.
 *
 *   npx tsx bench/mlflow-tracking.ts [--runs 32] [--points 200] [--batches 20] [--batch-size 100]
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startSlipway } from './peers.js';
import { freePort, Processes, waitUntilReady } from './processes.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '32' },
    points: { type: 'string', default: '200' },
    batches: { type: 'string', default: '20' },
    'batch-size': { type: 'string', default: '100' },
    peers: { type: 'string', default: 'slipway,mlflow' },
  },
});
const RUNS = Number(args.runs);
const POINTS = Number(args.points);
const BATCHES = Number(args.batches);
const BATCH_SIZE = Number(args['batch-size']);
const ROOT = resolve(import.meta.dirname, '..');
const PYTHON = resolve(process.env.BENCH_PYTHON ?? join(ROOT, '.venv-bench/bin/python'));

// Keep-alive connections, one per concurrent run at most, for both servers alike.
const agent = new Agent({ keepAlive: true, maxSockets: RUNS });

/** One HTTP request on the shared keep-alive agent; resolves with the status and the body text. */
function send(url: string, method: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolvePromise, reject) => {
    const request = httpRequest(
      url,
      {
        method,
        agent,
        headers:
          body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolvePromise({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

const started = Date.now();
function progress(text: string): void {
  const seconds = Math.round((Date.now() - started) / 1000);
  process.stderr.write(`[${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}] ${text}\n`);
}

interface Server {
  readonly id: string;
  readonly setup: string;
  readonly base: string;
}

interface Result {
  readonly workload: string;
  readonly points: number;
  readonly seconds: number;
  readonly requests: number;
  readonly latencies: number[];
  readonly failures: number;
}

async function call(base: string, path: string, body: unknown): Promise<unknown> {
  const { status, text } = await send(`${base}/api/2.0/mlflow/${path}`, 'POST', JSON.stringify(body));
  if (status !== 200) throw new Error(`${path} answered ${status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Creates one run per concurrent trainer in a fresh experiment. */
async function createRuns(base: string, experiment: string): Promise<string[]> {
  const { experiment_id } = (await call(base, 'experiments/create', { name: experiment })) as {
    experiment_id: string;
  };
  return Promise.all(
    Array.from({ length: RUNS }, async (_, i) => {
      const created = (await call(base, 'runs/create', {
        experiment_id,
        run_name: `trainer-${i}`,
        start_time: Date.now(),
        tags: [{ key: 'mlflow.user', value: 'bench' }],
      })) as { run: { info: { run_id: string } } };
      return created.run.info.run_id;
    }),
  );
}

/** Every run logs its requests one after another; all runs at once (closed loop, RUNS in flight). */
async function drive(
  base: string,
  runIds: string[],
  requestsPerRun: number,
  body: (runId: string, step: number) => { path: string; body: unknown; points: number },
): Promise<Omit<Result, 'workload'>> {
  const latencies: number[] = [];
  let failures = 0;
  let points = 0;
  const t0 = performance.now();
  await Promise.all(
    runIds.map(async (runId) => {
      for (let step = 0; step < requestsPerRun; step += 1) {
        const request = body(runId, step);
        const t = performance.now();
        try {
          await call(base, request.path, request.body);
          points += request.points;
        } catch (error) {
          failures += 1;
          if (failures === 1) progress(`  first failure: ${(error as Error).message}`);
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  return {
    points,
    seconds: (performance.now() - t0) / 1000,
    requests: latencies.length,
    latencies,
    failures,
  };
}

async function measure(server: Server): Promise<Result[]> {
  const results: Result[] = [];
  const now = Date.now();
  progress(`${server.id}: ${RUNS} runs x ${POINTS} log-metric requests`);
  const single = await drive(
    server.base,
    await createRuns(server.base, 'log-metric'),
    POINTS,
    (runId, step) => ({
      path: 'runs/log-metric',
      body: {
        run_id: runId,
        run_uuid: runId,
        key: 'loss',
        value: 1 / (step + 1),
        timestamp: now + step,
        step,
      },
      points: 1,
    }),
  );
  results.push({ workload: `log-metric (${RUNS} runs × ${POINTS} points)`, ...single });
  progress(`${server.id}: ${RUNS} runs x ${BATCHES} log-batch requests of ${BATCH_SIZE} metrics`);
  const batchRuns = await createRuns(server.base, 'log-batch');
  const batch = await drive(server.base, batchRuns, BATCHES, (runId, step) => ({
    path: 'runs/log-batch',
    body: {
      run_id: runId,
      metrics: Array.from({ length: BATCH_SIZE }, (_, k) => ({
        key: `m${k % 10}`,
        value: Math.random(),
        timestamp: now + step,
        step: step * BATCH_SIZE + k,
      })),
    },
    points: BATCH_SIZE,
  }));
  results.push({ workload: `log-batch (${RUNS} runs × ${BATCHES} × ${BATCH_SIZE} points)`, ...batch });
  // The points must all be there: read one run's history back.
  const history = JSON.parse(
    (
      await send(
        `${server.base}/api/2.0/mlflow/metrics/get-history?run_id=${batchRuns[0]}&metric_key=m0&max_results=25000`,
        'GET',
      )
    ).text,
  ) as { metrics?: unknown[] };
  const expected = (BATCHES * BATCH_SIZE) / 10;
  if ((history.metrics?.length ?? 0) !== expected) {
    throw new Error(`${server.id} kept ${history.metrics?.length ?? 0} points of m0, expected ${expected}`);
  }
  return results;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'slipway-bench-mlflow-'));
  const processes = new Processes(join(work, 'logs'));
  const cleanup = async () => {
    await processes.stopAll();
    rmSync(work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    processes.killAllNow();
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
  const wanted = args.peers.split(',');
  const measured = new Map<string, { server: Server; results: Result[] }>();
  try {
    if (wanted.includes('slipway')) {
      const env = { SLIPWAY_AUTH: 'off', SLIPWAY_ENV: 'dev' };
      const { base, server: child } = await startSlipway(processes, work, 'slipway', env);
      const server = {
        id: 'Slipway',
        setup: `node bin/slipway.js serve, ${Object.entries(env)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}, SQLite registry, local artifacts, other settings at their defaults`,
        base,
      };
      measured.set('slipway', { server, results: await measure(server) });
      await processes.stop(child);
    }
    if (wanted.includes('mlflow')) {
      const port = await freePort();
      const dir = join(work, 'mlflow');
      mkdirSync(dir);
      const argv = [
        '-m',
        'mlflow',
        'server',
        '--backend-store-uri',
        `sqlite:///${join(dir, 'mlflow.db')}`,
        '--serve-artifacts',
        '--artifacts-destination',
        join(dir, 'artifacts'),
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
      ];
      const child = processes.start('mlflow', PYTHON, argv, { cwd: dir });
      const server = {
        id: 'mlflow server',
        setup: `mlflow ${argv.slice(2).join(' ').replace(dir, '<tmp>').replace(dir, '<tmp>')} (its default workers)`,
        base: `http://127.0.0.1:${port}`,
      };
      await waitUntilReady(child, `${server.base}/health`, 180_000);
      measured.set('mlflow', { server, results: await measure(server) });
      await processes.stop(child);
    }
  } finally {
    await cleanup();
  }
  report(measured);
}

function report(measured: Map<string, { server: Server; results: Result[] }>): void {
  const out: string[] = [];
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  out.push(
    `MLflow tracking: ${RUNS} concurrent runs over the MLflow REST API; ${availableParallelism()} cores (${cpu})`,
  );
  for (const { server } of measured.values()) out.push(`  ${server.id}: ${server.setup}`);
  out.push('');
  const header = ['workload', 'server', 'points/s', 'requests/s', 'p50 ms', 'p99 ms', 'failed'];
  const rows: string[][] = [];
  const slipway = measured.get('slipway');
  const mlflow = measured.get('mlflow');
  const workloads = (slipway ?? mlflow)?.results.map((r) => r.workload) ?? [];
  const ratios: string[] = [];
  for (const workload of workloads) {
    for (const entry of [slipway, mlflow]) {
      const result = entry?.results.find((r) => r.workload === workload);
      if (!entry || !result) continue;
      rows.push([
        workload,
        entry.server.id,
        (result.points / result.seconds).toFixed(0),
        (result.requests / result.seconds).toFixed(0),
        percentile(result.latencies, 50).toFixed(1),
        percentile(result.latencies, 99).toFixed(1),
        String(result.failures),
      ]);
    }
    const a = slipway?.results.find((r) => r.workload === workload);
    const b = mlflow?.results.find((r) => r.workload === workload);
    if (a && b) {
      ratios.push(
        `  ${workload}: Slipway ÷ mlflow server = ${(a.points / a.seconds / (b.points / b.seconds)).toFixed(1)}× points/s, p99 ${percentile(a.latencies, 99).toFixed(1)} ms vs ${percentile(b.latencies, 99).toFixed(1)} ms`,
      );
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  out.push(line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line), '');
  if (ratios.length > 0) out.push('Ratio (same run, same machine):', ...ratios);
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
