import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceDefinition } from '../../src/grpc/grpc-server.js';
import { jobServer } from '../helpers/jobs.js';
import { killed, serveProcess } from '../helpers/serve-process.js';
import { FIXTURES, startServer, type TestServer, uploadForm } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** One series of a Prometheus text exposition: its name, labels and value. */
interface Series {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parse(text: string): Series[] {
  const series: Series[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] as string] = pair[2] as string;
    }
    series.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return series;
}

/** The sum of every series of `name` whose labels include `labels`. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  return parse(text)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

const identityRequest = (value: number) => ({
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [value, 1, 2, 3] }],
});

describe('/metrics', () => {
  let server: TestServer;
  let metricsUrl: string;
  beforeAll(async () => {
    server = await startServer({ SLIPWAY_METRICS_PORT: 0, SLIPWAY_GRPC_PORT: 0 });
    metricsUrl = `http://${server.app.metricsAddress()}/metrics`;
    expect((await server.push('identity', join(FIXTURES, 'identity.onnx'))).status).toBe(201);
  });
  afterAll(() => server.stop());

  const scrape = async () => {
    const response = await fetch(metricsUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    return response.text();
  };

  it('counts every prediction exactly once, by version, protocol and status, on both listeners', async () => {
    const before = await scrape();
    const labels = { model: 'identity', version: '1', environment: 'dev', revision: '1' };
    const ok = (protocol: string) => ({ ...labels, protocol, code: '200' });
    const v2Before = total(before, 'slipway_requests_total', ok('v2'));
    const v1Before = total(before, 'slipway_requests_total', ok('v1'));
    const badBefore = total(before, 'slipway_requests_total', { ...labels, protocol: 'v2', code: '400' });
    const unknownBefore = total(before, 'slipway_requests_total', { model: '', code: '404' });
    const durationBefore = total(before, 'slipway_request_duration_seconds_count', { model: 'identity' });

    await Promise.all(
      Array.from({ length: 37 }, (_, i) =>
        server.request('POST', '/v2/models/identity/infer', identityRequest(i)),
      ),
    );
    for (let i = 0; i < 5; i++) {
      const v1 = await server.request('POST', '/v1/models/identity:predict', { instances: [[i, 1, 2, 3]] });
      expect(v1.status).toBe(200);
    }
    const bad = await server.request('POST', '/v2/models/identity/infer', {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }],
    });
    expect(bad.status).toBe(400);
    // A model that does not exist counts with empty labels: names from URLs never become series.
    for (const name of ['nope-1', 'nope-2', 'nope-3']) {
      expect((await server.request('POST', `/v2/models/${name}/infer`, identityRequest(1))).status).toBe(404);
    }
    // Reads are not predictions.
    await server.request('GET', '/v2/models/identity');

    const after = await scrape();
    expect(total(after, 'slipway_requests_total', ok('v2')) - v2Before).toBe(37);
    expect(total(after, 'slipway_requests_total', ok('v1')) - v1Before).toBe(5);
    expect(
      total(after, 'slipway_requests_total', { ...labels, protocol: 'v2', code: '400' }) - badBefore,
    ).toBe(1);
    expect(total(after, 'slipway_requests_total', { model: '', code: '404' }) - unknownBefore).toBe(3);
    expect(after).not.toContain('nope-');
    expect(
      total(after, 'slipway_request_duration_seconds_count', { model: 'identity' }) - durationBefore,
    ).toBe(43);
    // The main port's /metrics answers the same text (local mode: no token needed).
    const main = await server.request('GET', '/metrics');
    expect(main.status).toBe(200);
    expect(total(main.text, 'slipway_requests_total', ok('v2')) - v2Before).toBe(37);
  });

  it('counts gRPC predictions under protocol grpc', async () => {
    const Client = grpc.makeGenericClientConstructor(serviceDefinition(), 'GRPCInferenceService');
    const client = new Client(
      server.app.grpcAddress() as string,
      grpc.credentials.createInsecure(),
    ) as grpc.Client & Record<string, (r: unknown, cb: (e: grpc.ServiceError | null) => void) => void>;
    const before = total(await scrape(), 'slipway_requests_total', { protocol: 'grpc', code: '200' });
    const infer = (request: unknown) =>
      new Promise<grpc.ServiceError | null>((resolve) =>
        (client.ModelInfer as (r: unknown, cb: (e: grpc.ServiceError | null) => void) => void)(
          request,
          resolve,
        ),
      );
    for (let i = 0; i < 4; i++) {
      const error = await infer({
        model_name: 'identity',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [i, 1, 2, 3] } }],
      });
      expect(error).toBeNull();
    }
    const refused = await infer({ model_name: 'identity', inputs: [] });
    expect(refused?.code).toBe(grpc.status.INVALID_ARGUMENT);
    client.close();
    const after = await scrape();
    expect(total(after, 'slipway_requests_total', { protocol: 'grpc', code: '200' }) - before).toBe(4);
    expect(
      total(after, 'slipway_requests_total', { model: 'identity', protocol: 'grpc', code: '400' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('reports batch sizes, queue waits, model loads, the build and the process', async () => {
    const text = await scrape();
    expect(total(text, 'slipway_batch_size_count', { model: 'identity', version: '1' })).toBeGreaterThan(0);
    expect(total(text, 'slipway_queue_wait_seconds_count', { model: 'identity' })).toBeGreaterThan(0);
    // Loaded once, when it was uploaded (before it had a number); serving it loaded nothing more.
    expect(total(text, 'slipway_model_load_seconds_count', { model: 'identity', version: '' })).toBe(1);
    expect(total(text, 'slipway_model_load_seconds_count', { model: 'identity' })).toBe(1);
    expect(total(text, 'slipway_build_info')).toBe(1);
    expect(total(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE slipway_requests_total counter');
    expect(text).toContain('# TYPE slipway_request_duration_seconds histogram');
  });

  it('the metrics listener serves /metrics only, and checks the Host header', async () => {
    const base = metricsUrl.replace(/\/metrics$/, '');
    expect((await fetch(`${base}/v2/models/identity`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${base}/metrics?x=1`)).status).toBe(200);
    const rebound = await new Promise<number>((resolve, reject) => {
      const url = new URL(metricsUrl);
      import('node:http').then(({ request }) =>
        request(
          { host: url.hostname, port: url.port, path: '/metrics', headers: { host: 'evil.example' } },
          (r) => {
            r.resume();
            resolve(r.statusCode ?? 0);
          },
        )
          .on('error', reject)
          .end(),
      );
    });
    expect(rebound).toBe(421);
  });
});

describe('/metrics with tokens', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ SLIPWAY_AUTH: 'on', SLIPWAY_METRICS_PORT: 0 });
  });
  afterAll(() => server.stop());

  it('needs a viewer token on the main port, and none on the metrics listener', async () => {
    expect((await server.request('GET', '/metrics')).status).toBe(401);
    const { secret } = await server.app.tokens.create('scraper', 'viewer', {
      actor: { name: 'local', role: 'admin' },
      requestId: null,
    });
    const withToken = await server.request('GET', '/metrics', undefined, {
      authorization: `Bearer ${secret}`,
    });
    expect(withToken.status).toBe(200);
    expect(withToken.text).toContain('slipway_build_info');
    expect((await fetch(`http://${server.app.metricsAddress()}/metrics`)).status).toBe(200);
  });
});

describe('/metrics of a server with several HTTP processes', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slipway-metrics-cluster-'));
  let child: Awaited<ReturnType<typeof serveProcess>>['child'] | undefined;
  afterAll(async () => {
    if (child) await killed(child);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers with every process’s requests summed, whichever process the scrape reaches', async () => {
    const started = await serveProcess(dataDir, {
      SLIPWAY_HTTP_PROCESSES: '2',
      SLIPWAY_INFERENCE_WORKERS: '2',
    });
    child = started.child;
    const { url } = started;
    const created = await fetch(`${url}/api/v1/models`, {
      method: 'POST',
      body: JSON.stringify({ name: 'identity' }),
      headers: { 'content-type': 'application/json', 'x-slipway-client': 'test' },
    });
    expect(created.status).toBe(201);
    const push = await fetch(`${url}/api/v1/models/identity/versions`, {
      method: 'POST',
      body: uploadForm(join(FIXTURES, 'identity.onnx')),
      headers: { 'x-slipway-client': 'test' },
    });
    expect(push.status).toBe(201);
    const dev = `${url}/envs/dev/v2/models/identity/infer`;
    const send = () =>
      fetch(dev, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(identityRequest(1)),
      }).then((r) => r.status);
    // Each HTTP process must have loaded the route before the count starts.
    for (let i = 0; i < 40 && (await send()) !== 200; i++) await new Promise((r) => setTimeout(r, 250));
    const count = async () =>
      total(await (await fetch(`${url}/metrics`)).text(), 'slipway_requests_total', {
        model: 'identity',
        environment: 'dev',
        code: '200',
      });
    const before = await count();
    // New connections each time, so node:cluster hands them to both processes.
    const statuses = await Promise.all(Array.from({ length: 60 }, send));
    expect(statuses.every((s) => s === 200)).toBe(true);
    for (let i = 0; i < 4; i++) expect((await count()) - before).toBe(60);
  }, 60_000);
});

describe('control-plane metrics', () => {
  let server: TestServer;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    ({ server, stop } = await jobServer());
  });
  afterAll(() => stop());

  const metrics = async () => (await server.request('GET', '/metrics')).text;

  it('counts promotions by result and rollbacks by kind', async () => {
    const promoted = await server.request('POST', '/api/v1/environments/staging/promotions', {
      model: 'marked',
      version: 1,
    });
    expect(promoted.status, promoted.text).toBe(201);
    expect(promoted.body.status).toBe('SUCCEEDED');
    expect((await server.push('marked', join(FIXTURES, 'fails-on-marked.onnx'))).status).toBe(201);
    const rolledBack = await server.request(
      'POST',
      '/api/v1/environments/dev/deployments/marked/rollback',
      {},
    );
    expect(rolledBack.status, rolledBack.text).toBe(200);
    const text = await metrics();
    expect(total(text, 'slipway_promotions_total', { environment: 'staging', result: 'promoted' })).toBe(1);
    expect(total(text, 'slipway_rollbacks_total', { environment: 'dev', kind: 'manual' })).toBe(1);
    expect(total(text, 'slipway_rollbacks_total', { kind: 'automatic' })).toBe(0);
  });

  it('counts job runs with their rows and duration', async () => {
    const created = await server.request('POST', '/api/v1/jobs', {
      name: 'counted',
      model: 'marked/1',
      source: { query: 'SELECT id, x FROM events WHERE day = {{ logical_date }}' },
      sink: { table: 'counted_scores' },
      retries: 0,
    });
    expect(created.status, created.text).toBe(201);
    const queued = await server.request('POST', '/api/v1/jobs/counted/runs', { logical_date: '2001-01-01' });
    expect(queued.status).toBe(202);
    const text = await waitFor('the run to be counted', async () => {
      const now = await metrics();
      return total(now, 'slipway_job_runs_total', { job_name: 'counted' }) > 0 ? now : undefined;
    });
    expect(total(text, 'slipway_job_runs_total', { job_name: 'counted', status: 'succeeded' })).toBe(1);
    expect(total(text, 'slipway_job_rows_scored_total', { job_name: 'counted' })).toBe(4);
    expect(total(text, 'slipway_job_run_duration_seconds_count', { job_name: 'counted' })).toBe(1);
  });

  it('counts MLflow writes by operation, and not its searches', async () => {
    const created = await server.request('POST', '/api/2.0/mlflow/experiments/create', { name: 'counted' });
    expect(created.status, created.text).toBe(200);
    const searched = await server.request('POST', '/api/2.0/mlflow/experiments/search', { max_results: 10 });
    expect(searched.status).toBe(200);
    const text = await metrics();
    expect(total(text, 'slipway_mlflow_writes_total', { operation: 'experiments/create' })).toBe(1);
    expect(total(text, 'slipway_mlflow_writes_total', { operation: 'experiments/search' })).toBe(0);
  });
});
