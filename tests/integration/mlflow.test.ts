import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE, FIXTURES, penguinManifest, startServer, type TestServer } from '../helpers/server.js';

/**
 * The MLflow REST surface driven over HTTP as the MLflow client drives it: wire shapes (ids as
 * strings, enums by name, NaN as a string), MLflow error bodies with 4xx statuses, one registry
 * shared with Slipway's own API, and the refusals of security.md §1 (artifact paths, version
 * sources, names), each with nothing written.
 */
describe('MLflow REST API', () => {
  let server: TestServer;
  const API = '/api/2.0/mlflow';
  const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';
  const post = (path: string, body: unknown) => server.request('POST', `${API}/${path}`, body);
  const get = (path: string, query: Record<string, string> = {}) =>
    server.request('GET', `${API}/${path}?${new URLSearchParams(query)}`);
  const put = async (path: string, bytes: Uint8Array | string) => {
    const response = await fetch(`${server.url}${ARTIFACTS}/${path}`, {
      method: 'PUT',
      body: typeof bytes === 'string' ? bytes : new Uint8Array(bytes),
      headers: { 'content-type': 'application/octet-stream' },
    });
    return { status: response.status, body: (await response.json()) as { error_code?: string } };
  };

  /** Sends a request with the path exactly as written (fetch would normalise `..`). */
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the server answered.
  const raw = (method: string, path: string, body = ''): Promise<{ status: number; body: any }> =>
    new Promise((resolve, reject) => {
      const url = new URL(server.url);
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          method,
          path,
          headers: { 'content-type': 'application/octet-stream' },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => {
            text += chunk;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  /** Every file under the data folder, to check that a refused request wrote nothing. */
  const files = (dir = server.dataDir): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
    );
  const artifactFiles = () => files().filter((f) => !/registry\.db/.test(f));

  /** Uploads an MLflow model directory (MLmodel + files) for a run, returns its artifact URI. */
  async function modelDirectory(runUri: string, name: string, flavor: 'onnx' | 'sklearn') {
    const base = `${runUri.replace('mlflow-artifacts:/', '')}/${name}`;
    if (flavor === 'onnx') {
      await put(
        `${base}/MLmodel`,
        'flavors:\n  onnx:\n    data: model.onnx\n  python_function:\n    loader_module: mlflow.onnx\n',
      );
      expect((await put(`${base}/model.onnx`, readFileSync(join(EXAMPLE, 'model.onnx')))).status).toBe(200);
    } else {
      await put(
        `${base}/MLmodel`,
        'flavors:\n  sklearn:\n    pickled_model: model.pkl\n  python_function:\n    loader_module: mlflow.sklearn\n',
      );
      await put(`${base}/model.pkl`, 'cos\nsystem\n(S"echo pwned"\ntR.');
    }
    return `mlflow-artifacts:/${base}`;
  }

  let runId = '';
  let runUri = '';

  beforeAll(async () => {
    server = await startServer();
    const experiment = await post('experiments/create', { name: 'wire' });
    const run = await post('runs/create', {
      experiment_id: experiment.body.experiment_id,
      start_time: 1_731_000_000_000,
      tags: [{ key: 'mlflow.user', value: 'alice' }],
    });
    runId = run.body.run.info.run_id;
    runUri = run.body.run.info.artifact_uri;
  });
  afterAll(() => server.stop());

  it('has the Default experiment "0" and answers ids as strings', async () => {
    const zero = await get('experiments/get', { experiment_id: '0' });
    expect(zero.status).toBe(200);
    expect(zero.body.experiment).toMatchObject({
      experiment_id: '0',
      name: 'Default',
      lifecycle_stage: 'active',
    });
    const created = await post('experiments/create', { name: 'strings' });
    expect(created.body.experiment_id).toMatch(/^[1-9][0-9]*$/);
    const run = await get('runs/get', { run_id: runId, run_uuid: runId });
    expect(run.body.run.info).toMatchObject({
      run_id: runId,
      run_uuid: runId,
      status: 'RUNNING',
      user_id: 'alice',
      lifecycle_stage: 'active',
      artifact_uri: `mlflow-artifacts:/${run.body.run.info.experiment_id}/${runId}/artifacts`,
    });
    expect(runId).toMatch(/^[0-9a-f]{32}$/);
    expect(run.body.run.data.tags).toContainEqual({
      key: 'mlflow.runName',
      value: run.body.run.info.run_name,
    });
  });

  it('answers missing things with 404 RESOURCE_DOES_NOT_EXIST and duplicates with 400', async () => {
    const missing = await get('experiments/get-by-name', { experiment_name: 'nope' });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error_code: 'RESOURCE_DOES_NOT_EXIST' });
    expect(typeof missing.body.message).toBe('string');
    const duplicate = await post('experiments/create', { name: 'wire' });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.error_code).toBe('RESOURCE_ALREADY_EXISTS');
    const route = await get('no/such/endpoint');
    expect(route.status).toBe(404);
    expect(route.body.error_code).toBe('ENDPOINT_NOT_FOUND');
    expect((await get('runs/get', { run_id: 'f'.repeat(32) })).body.error_code).toBe(
      'RESOURCE_DOES_NOT_EXIST',
    );
  });

  it('takes POST bodies only as JSON, and never answers a client mistake with 5xx', async () => {
    const plain = await server.request('POST', `${API}/experiments/create`, '{"name":"csrf"}', {
      'content-type': 'text/plain',
    });
    // A text/plain POST is what any web page can send: refused before MLflow's routes read it.
    expect([plain.status, plain.body.error_code, plain.body.code]).toEqual([
      403,
      'PERMISSION_DENIED',
      'CROSS_SITE_REQUEST',
    ]);
    expect((await get('experiments/get-by-name', { experiment_name: 'csrf' })).status).toBe(404);
    const bodies: unknown[] = ['[1,2]', '"text"', '{"run_id": 5}', '{"run_id": {"a": 1}}', '{', 'null'];
    for (const path of ['runs/log-batch', 'runs/log-metric', 'experiments/create', 'model-versions/create']) {
      for (const body of bodies) {
        const response = await server.request('POST', `${API}/${path}`, body as string);
        expect(response.status, `${path} ${body}`).toBeGreaterThanOrEqual(400);
        expect(response.status, `${path} ${body}`).toBeLessThan(500);
        expect(response.body.error_code, `${path} ${body}`).toBeTypeOf('string');
      }
    }
    const huge = await post('experiments/create', { name: 'x'.repeat(100_000) });
    expect(huge.status).toBe(400);
  });

  it('answers malformed fields on every MLflow route with a 4xx, never a 5xx', async () => {
    const routes = server.app.http.accessRules.filter(
      (rule) =>
        rule.url.includes('/mlflow') &&
        rule.method !== 'HEAD' &&
        !rule.url.includes('/artifacts/') &&
        !rule.url.includes('/mpu/'),
    );
    expect(routes.length).toBeGreaterThan(50);
    const garbage: Record<string, unknown>[] = [
      {},
      { name: 5, experiment_id: { a: 1 }, run_id: [1, 2], key: null, value: 7 },
      { name: 'fuzzed', version: 'one', alias: 3, source: ['x'], stage: 'Gold' },
      { experiment_id: '1', metrics: 'x', params: [1], tags: [{ key: 1 }], max_results: 'many' },
      {
        run_id: 'a'.repeat(32),
        experiment_ids: 'x',
        filter: "tags.x = 'y' AND",
        order_by: [{}],
        page_token: '%%%',
      },
      { model_id: 'm-x', status: 'DONE', models: [{ model_id: 1 }], datasets: 'x', model_json: '{' },
    ];
    for (const rule of routes) {
      const path = rule.url.replace(':modelId', 'm-x').replace(':key', 'k');
      for (const body of garbage) {
        const response =
          rule.method === 'GET'
            ? await server.request('GET', `${path}?${new URLSearchParams(body as Record<string, string>)}`)
            : await server.request(rule.method, path, body);
        const label = `${rule.method} ${path} ${JSON.stringify(body)}`;
        expect(response.status, `${label}: ${response.text}`).toBeLessThan(500);
        if (response.status >= 400) expect(response.body.error_code, label).toBeTypeOf('string');
      }
    }
  });

  it('logs metrics with steps, keeps their history, dedupes replays and carries NaN', async () => {
    const metrics = [
      { key: 'loss', value: 0.5, timestamp: 1, step: 0 },
      { key: 'loss', value: 0.25, timestamp: 2, step: 1 },
      { key: 'odd', value: 'NaN', timestamp: 3, step: 0 },
    ];
    expect((await post('runs/log-batch', { run_id: runId, metrics })).body).toEqual({});
    expect((await post('runs/log-batch', { run_id: runId, metrics })).status).toBe(200);
    expect(
      (
        await post('runs/log-metric', {
          run_id: runId,
          run_uuid: runId,
          key: 'loss',
          value: 0.1,
          timestamp: '4',
          step: '2',
        })
      ).status,
    ).toBe(200);
    const history = await get('metrics/get-history', { run_id: runId, metric_key: 'loss' });
    expect(history.body.metrics.map((m: { step: number; value: number }) => [m.step, m.value])).toEqual([
      [0, 0.5],
      [1, 0.25],
      [2, 0.1],
    ]);
    const run = await get('runs/get', { run_id: runId });
    expect(run.body.run.data.metrics).toContainEqual({ key: 'loss', value: 0.1, timestamp: 4, step: 2 });
    expect(run.body.run.data.metrics).toContainEqual({ key: 'odd', value: 'NaN', timestamp: 3, step: 0 });
    const bad = await post('runs/log-metric', { run_id: runId, key: 'loss', value: 'high', timestamp: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error_code).toBe('INVALID_PARAMETER_VALUE');
  });

  it('keeps params immutable and a batch all-or-nothing', async () => {
    expect((await post('runs/log-parameter', { run_id: runId, key: 'lr', value: '0.1' })).status).toBe(200);
    expect((await post('runs/log-parameter', { run_id: runId, key: 'lr', value: '0.1' })).status).toBe(200);
    const changed = await post('runs/log-batch', {
      run_id: runId,
      params: [{ key: 'lr', value: '0.2' }],
      tags: [{ key: 'half', value: 'written' }],
      metrics: [{ key: 'half', value: 1, timestamp: 1, step: 0 }],
    });
    expect(changed.status).toBe(400);
    expect(changed.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    const run = await get('runs/get', { run_id: runId });
    expect(run.body.run.data.tags.map((t: { key: string }) => t.key)).not.toContain('half');
    expect(run.body.run.data.metrics.map((m: { key: string }) => m.key)).not.toContain('half');
  });

  it('searches runs with the filter grammar and pages with tokens', async () => {
    const experiment = (await post('experiments/create', { name: 'search' })).body.experiment_id;
    for (let i = 0; i < 5; i += 1) {
      const run = (await post('runs/create', { experiment_id: experiment, start_time: 1000 + i })).body.run
        .info.run_id;
      await post('runs/log-batch', {
        run_id: run,
        metrics: [{ key: 'acc', value: i / 10, timestamp: 1, step: 0 }],
        params: [{ key: 'i', value: String(i) }],
      });
    }
    const found = await post('runs/search', {
      experiment_ids: [experiment],
      filter: "metrics.acc >= 0.2 AND params.i != '3'",
      order_by: ['metrics.acc DESC'],
      run_view_type: 'ACTIVE_ONLY',
      max_results: 1,
    });
    expect(found.status).toBe(200);
    const accs = (r: { data: { metrics: { value: number }[] } }) => r.data.metrics[0]!.value;
    expect(found.body.runs.map(accs)).toEqual([0.4]);
    expect(found.body.next_page_token).toBeTypeOf('string');
    const next = await post('runs/search', {
      experiment_ids: [experiment],
      filter: "metrics.acc >= 0.2 AND params.i != '3'",
      order_by: ['metrics.acc DESC'],
      max_results: 1,
      page_token: found.body.next_page_token,
    });
    expect(next.body.runs.map(accs)).toEqual([0.2]);
    expect(next.body.next_page_token).toBeUndefined();
    const all = await post('runs/search', { experiment_ids: [experiment], max_results: 10 });
    expect(all.body.runs.map((r: { info: { start_time: number } }) => r.info.start_time)).toEqual([
      1004, 1003, 1002, 1001, 1000,
    ]);
    const withData = all.body.runs[0].info.run_id;
    await post('runs/log-inputs', {
      run_id: withData,
      datasets: [
        {
          tags: [{ key: 'mlflow.data.context', value: 'training' }],
          dataset: { name: 'train', digest: 'abc', source_type: 'code', source: '{}' },
        },
      ],
    });
    const byDataset = await post('runs/search', {
      experiment_ids: [experiment],
      filter: "datasets.name = 'train' AND datasets.context = 'training'",
    });
    expect(byDataset.body.runs.map((r: { info: { run_id: string } }) => r.info.run_id)).toEqual([withData]);
    expect(byDataset.body.runs[0].inputs.dataset_inputs[0].dataset.digest).toBe('abc');
    for (const filter of ["metrics.acc > 'x'", 'metrics.acc > 1 OR metrics.acc < 0', 'params.i']) {
      const refused = await post('runs/search', { experiment_ids: [experiment], filter });
      expect(refused.status, filter).toBe(400);
      expect(refused.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    }
    expect((await post('runs/search', { experiment_ids: [experiment], max_results: 50_001 })).status).toBe(
      400,
    );
    expect((await post('runs/search', { experiment_ids: [experiment], page_token: 'forged' })).status).toBe(
      400,
    );
  });

  it('stores, lists, downloads and deletes proxied artifacts', async () => {
    const base = runUri.replace('mlflow-artifacts:/', '');
    expect((await put(`${base}/dir/hello%20world.txt`, 'hi')).body).toEqual({});
    expect((await put(`${base}/dir/hello%20world.txt`, 'hi again')).status).toBe(200);
    const list = await server.request('GET', `${ARTIFACTS}?path=${encodeURIComponent(`${base}/dir`)}`);
    expect(list.body).toEqual({ files: [{ path: 'hello world.txt', is_dir: false, file_size: 8 }] });
    expect(
      (await server.request('GET', `${ARTIFACTS}?path=${encodeURIComponent(`${base}/none`)}`)).body,
    ).toEqual({});
    const download = await server.request('GET', `${ARTIFACTS}/${base}/dir/hello%20world.txt`);
    expect(download.text).toBe('hi again');
    expect(download.headers.get('x-content-type-options')).toBe('nosniff');
    const runList = await get('artifacts/list', { run_id: runId, path: 'dir' });
    expect(runList.body.files).toEqual([{ path: 'dir/hello world.txt', is_dir: false, file_size: 8 }]);
    expect((await server.request('DELETE', `${ARTIFACTS}/${base}/dir/hello%20world.txt`)).status).toBe(200);
    const gone = await server.request('GET', `${ARTIFACTS}/${base}/dir/hello%20world.txt`);
    expect(gone.status).toBe(404);
    expect(gone.body.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    // A path below a file is a client mistake, not a server fault.
    expect((await put(`${base}/file`, 'f')).status).toBe(200);
    const below = await put(`${base}/file/below`, 'x');
    expect(below.status).toBe(400);
    expect(below.body.error_code).toBe('RESOURCE_ALREADY_EXISTS');
    expect((await server.request('DELETE', `${ARTIFACTS}/${base}/file/below`)).status).toBe(200);
    const mpu = await server.request('POST', '/api/2.0/mlflow-artifacts/mpu/create/x', {
      path: 'f',
      num_parts: 2,
    });
    expect(mpu.status).toBe(501);
    expect(mpu.body.message).toMatch(
      /^Multipart upload is not supported for the current artifact repository/,
    );
  });

  it.each([
    '../../../../etc/passwd',
    '1/../../x',
    '%2e%2e/%2e%2e/etc/passwd',
    '%2E%2E%2F%2E%2E%2Fetc',
    '%252E%252E%252F%252E%252E%252Fetc%252fpasswd',
    '%2Fetc%2Fpasswd',
    '/etc/passwd',
    '..%5C..%5Cwindows',
    'a\\..\\b',
    'x/%00.jpg',
    '1//x',
    'C:%5Cwindows',
    'registry/penguin-species/1/model.onnx',
  ])('refuses the artifact path %s with 400 on PUT, GET and DELETE and writes nothing', async (path) => {
    const before = artifactFiles();
    for (const method of ['PUT', 'GET', 'DELETE']) {
      const response = await raw(method, `${ARTIFACTS}/${path}`, method === 'PUT' ? 'payload' : '');
      if (method === 'GET' && path.startsWith('registry/')) {
        expect(response.status).toBe(404);
        continue;
      }
      expect(response.status, `${method} ${path}`).toBe(400);
      expect(response.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    }
    const listed = await raw(
      'GET',
      `${ARTIFACTS}?path=${encodeURIComponent(decodeURIComponent(path.replaceAll('%25', '%')))}`,
    );
    expect([200, 400]).toContain(listed.status);
    if (listed.status === 200) expect(listed.body).toEqual({});
    expect(artifactFiles()).toEqual(before);
  });

  it.each([
    ['a 256-byte file name', (base: string) => `${base}/${'f'.repeat(256)}`],
    ['a 256-byte folder name', (base: string) => `${base}/${'d'.repeat(256)}/file.txt`],
    ['a file name of 86 three-byte characters', (base: string) => `${base}/${'€'.repeat(86)}`],
  ])('refuses %s with 400 on PUT, GET, DELETE and list, and writes nothing', async (_name, pathOf) => {
    const path = pathOf(runUri.replace('mlflow-artifacts:/', ''));
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    const before = artifactFiles();
    for (const method of ['PUT', 'GET', 'DELETE']) {
      const response = await raw(method, `${ARTIFACTS}/${encoded}`, method === 'PUT' ? 'payload' : '');
      expect([response.status, response.body.error_code], `${method} ${path}`).toEqual([
        400,
        'INVALID_PARAMETER_VALUE',
      ]);
    }
    const listed = await raw('GET', `${ARTIFACTS}?path=${encodeURIComponent(path)}`);
    expect([listed.status, listed.body.error_code]).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    const relative = path.split('/').slice(3).join('/');
    const runList = await get('artifacts/list', { run_id: runId, path: relative });
    expect([runList.status, runList.body.error_code]).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    expect(artifactFiles()).toEqual(before);
  });

  it.each([
    '/etc',
    '/etc/passwd',
    '//etc',
    '..',
    '../..',
    '../../../../etc',
    'dir/../..',
    '%2e%2e/%2e%2e',
    'C:/Windows',
    'a\\..\\..',
    './dir',
  ])('answers artifacts/list with path %j by 400 INVALID_PARAMETER_VALUE, as MLflow does', async (path) => {
    await put(`${runUri.replace('mlflow-artifacts:/', '')}/dir/kept.txt`, 'kept');
    const response = await get('artifacts/list', { run_id: runId, path });
    expect([response.status, response.body.error_code], response.text).toEqual([
      400,
      'INVALID_PARAMETER_VALUE',
    ]);
  });

  it('lists a run artifact folder given relative to the run root, with or without a trailing slash', async () => {
    await put(`${runUri.replace('mlflow-artifacts:/', '')}/listed/a.txt`, 'a');
    for (const path of ['listed', 'listed/']) {
      const response = await get('artifacts/list', { run_id: runId, path });
      expect(response.body.files, path).toEqual([{ path: 'listed/a.txt', is_dir: false, file_size: 1 }]);
    }
    expect((await get('artifacts/list', { run_id: runId })).body.files).toContainEqual({
      path: 'listed',
      is_dir: true,
    });
  });

  it('registers an ONNX model directory as a servable Slipway version, and a pickle as stored only', async () => {
    expect((await post('registered-models/create', { name: 'penguins' })).status).toBe(200);
    const again = await post('registered-models/create', { name: 'penguins' });
    expect(again.body.error_code).toBe('RESOURCE_ALREADY_EXISTS');
    const source = await modelDirectory(runUri, 'model', 'onnx');
    const created = await post('model-versions/create', { name: 'penguins', source, run_id: runId });
    expect(created.status, created.text).toBe(200);
    expect(created.body.model_version).toMatchObject({
      name: 'penguins',
      version: '1',
      status: 'READY',
      current_stage: 'None',
      source,
      run_id: runId,
    });
    const slipway = await server.request('GET', '/api/v1/models/penguins/versions/1');
    expect(slipway.body).toMatchObject({ status: 'READY', servable: true, lineage: { run_id: runId } });
    // Registered through MLflow, the version has no manifest: no input is declared nullable.
    const complete = penguinManifest().sample.filter((row) => !Object.values(row).includes(null));
    const predict = await server.request('POST', '/v1/models/penguins:predict', { instances: complete });
    expect(predict.status, predict.text).toBe(200);
    expect(predict.headers.get('x-slipway-model-version')).toBe('1');
    // The version's files are its own copy, not the run's (which stay writable).
    expect((await get('model-versions/get-download-uri', { name: 'penguins', version: '1' })).body).toEqual({
      artifact_uri: 'mlflow-artifacts:/registry/penguins/1',
    });

    const pickled = await modelDirectory(runUri, 'pickled', 'sklearn');
    const stored = await post('model-versions/create', { name: 'penguins', source: pickled });
    expect(stored.status, stored.text).toBe(200);
    expect(stored.body.model_version.status).toBe('READY');
    expect(stored.body.model_version.status_message).toMatch(/not servable/);
    const record = await server.request('GET', '/api/v1/models/penguins/versions/2');
    expect(record.body).toMatchObject({ servable: false, signature: { inputs: [], outputs: [] } });
    // The pickle's bytes are kept as they came, never read as a model.
    const pickle = Buffer.from('cos\nsystem\n(S"echo pwned"\ntR.');
    expect(record.body.sha256).toBe(createHash('sha256').update(pickle).digest('hex'));
    expect(record.body.unservable_reason).toMatch(/sklearn/);
    const deploy = await server.request('POST', '/api/v1/environments/dev/promotions', {
      model: 'penguins',
      version: 2,
    });
    expect([deploy.status, deploy.body.code]).toEqual([409, 'VERSION_NOT_SERVABLE']);
    expect(deploy.body.details.reason).toBe('NOT_SERVABLE');
    // Version 1 still serves.
    const still = await server.request('POST', '/v1/models/penguins:predict', {
      instances: penguinManifest().sample,
    });
    expect(still.headers.get('x-slipway-model-version')).toBe('1');
  });

  it('refuses an MLmodel file too large to be a manifest', async () => {
    await post('registered-models/create', { name: 'huge' });
    const base = `${runUri.replace('mlflow-artifacts:/', '')}/huge`;
    await put(`${base}/MLmodel`, `flavors:\n  onnx:\n    data: model.onnx\n# ${'x'.repeat(1024 * 1024)}\n`);
    const refused = await post('model-versions/create', {
      name: 'huge',
      source: `mlflow-artifacts:/${base}`,
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error_code).toBe('INVALID_PARAMETER_VALUE');
  });

  it('refuses an invalid ONNX file with 400 and registers nothing', async () => {
    await post('registered-models/create', { name: 'broken' });
    const base = `${runUri.replace('mlflow-artifacts:/', '')}/broken`;
    await put(`${base}/MLmodel`, 'flavors:\n  onnx:\n    data: model.onnx\n');
    await put(`${base}/model.onnx`, readFileSync(join(FIXTURES, 'zipmap-classifier.onnx')));
    const refused = await post('model-versions/create', {
      name: 'broken',
      source: `mlflow-artifacts:/${base}`,
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect((await server.request('GET', '/api/v1/models/broken')).body.latest_version).toBe(0);
  });

  it.each([
    'http://127.0.0.1:1/api/2.0/mlflow-artifacts/artifacts/',
    'https://example.com/model',
    'file:///etc/',
    'file://./etc',
    '//proc/self/root',
    '/tmp',
    's3://bucket/model',
    'ftp://host/a',
    'dbfs:/x/../../etc',
    'mlflow-artifacts://host:9000/models/../../../',
    'mlflow-artifacts:/1/../../../etc',
    'mlflow-artifacts:/1/x%2f..%2f..%2fetc',
    'mlflow-artifacts:/1/x?/../../etc',
    'mlflow-artifacts:/1/x#/../../etc',
    'mlflow-artifacts:/1/x;/../etc',
    'mlflow-artifacts:/registry/penguins/1',
    'models:/../x',
    'models:/penguins/1/../../etc',
    'runs:/../../etc/passwd',
    'runs:/0123/model\u0000',
  ])('refuses the version source %s with 400 and creates no version', async (source) => {
    await post('registered-models/create', { name: 'target' });
    const response = await post('model-versions/create', { name: 'target', source });
    expect(response.status, response.text).toBeGreaterThanOrEqual(400);
    expect(response.status, response.text).toBeLessThan(500);
    expect(['INVALID_PARAMETER_VALUE', 'RESOURCE_DOES_NOT_EXIST']).toContain(response.body.error_code);
    expect((await server.request('GET', '/api/v1/models/target')).body.latest_version).toBe(0);
  });

  it.each(['a/b', 'a%2Fb', 'A', 'Penguins', 'm x', 'm%20x', '../x', '', 'x'.repeat(200)])(
    'refuses the registered model name %j and creates nothing',
    async (name) => {
      const before = (await server.request('GET', '/api/v1/models?limit=1000')).body.models.length;
      const response = await post('registered-models/create', { name });
      expect(response.status).toBe(400);
      expect(response.body.error_code).toBe('INVALID_PARAMETER_VALUE');
      expect((await server.request('GET', '/api/v1/models?limit=1000')).body.models.length).toBe(before);
    },
  );

  it('never connects to a URL a client gives it', async () => {
    let connections = 0;
    const listener = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as AddressInfo;
    try {
      await post('registered-models/create', { name: 'ssrf' });
      for (const source of [
        `http://127.0.0.1:${port}/api/2.0/mlflow-artifacts/artifacts/`,
        `mlflow-artifacts://127.0.0.1:${port}/1/x`,
        `ftp://127.0.0.1:${port}/a`,
      ]) {
        expect((await post('model-versions/create', { name: 'ssrf', source })).status).toBe(400);
      }
      const experiment = await post('experiments/create', {
        name: 'ssrf',
        artifact_location: `http://127.0.0.1:${port}/latest/meta-data/`,
      });
      expect(experiment.status).toBe(400);
      expect(connections).toBe(0);
    } finally {
      listener.close();
    }
  });

  it('refuses experiment artifact locations outside its root', async () => {
    for (const location of [
      'http:///?/../../../../etc/',
      'http://host#/../../etc/',
      'file:///etc',
      's3://bucket',
      'mlflow-artifacts:/x/../../etc',
      'mlflow-artifacts://host/x',
      'mlflow-artifacts:/registry',
    ]) {
      const response = await post('experiments/create', {
        name: `loc-${location}`,
        artifact_location: location,
      });
      expect(response.status, location).toBe(400);
      expect(response.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    }
  });

  it('shares one registry: pushed versions and aliases are visible through MLflow, and back', async () => {
    const pushed = await server.push('shared', join(EXAMPLE, 'model.onnx'), penguinManifest());
    expect(pushed.status).toBe(201);
    const versions = await get('model-versions/search', { filter: "name='shared'", max_results: '10' });
    expect(versions.body.model_versions).toEqual([
      expect.objectContaining({ name: 'shared', version: '1', source: 'models:/shared/1', status: 'READY' }),
    ]);
    expect(
      (await post('registered-models/alias', { name: 'shared', alias: 'champion', version: '1' })).body,
    ).toEqual({});
    expect((await server.request('GET', '/api/v1/models/shared')).body.aliases).toEqual({ champion: 1 });
    const byAlias = await get('registered-models/alias', { name: 'shared', alias: 'champion' });
    expect(byAlias.body.model_version).toMatchObject({ version: '1', aliases: ['champion'] });
    const model = await get('registered-models/get', { name: 'shared' });
    expect(model.body.registered_model).toMatchObject({
      name: 'shared',
      aliases: [{ alias: 'champion', version: '1' }],
      latest_versions: [expect.objectContaining({ version: '1', current_stage: 'None' })],
    });
    const search = await get('registered-models/search', {
      filter: "name LIKE 'sha%' AND tag.`mlflow.prompt.is_prompt` != 'true'",
    });
    expect(search.body.registered_models.map((m: { name: string }) => m.name)).toEqual(['shared']);
    const uri = await get('model-versions/get-download-uri', { name: 'shared', version: '1' });
    expect(uri.body.artifact_uri).toBe('mlflow-artifacts:/registry/shared/1');
    const listed = await server.request('GET', `${ARTIFACTS}?path=registry%2Fshared%2F1`);
    expect(listed.body.files.map((f: { path: string }) => f.path)).toEqual(['MLmodel', 'model.onnx']);
    const bytes = await fetch(`${server.url}${ARTIFACTS}/registry/shared/1/model.onnx`);
    expect(Buffer.from(await bytes.arrayBuffer()).equals(readFileSync(join(EXAMPLE, 'model.onnx')))).toBe(
      true,
    );
    const missingAlias = await get('registered-models/alias', { name: 'shared', alias: 'nobody' });
    expect(missingAlias.status).toBe(404);
    expect(missingAlias.body.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(
      (
        await server.request('DELETE', `${API}/registered-models/alias`, {
          name: 'shared',
          alias: 'champion',
        })
      ).status,
    ).toBe(200);
    expect((await server.request('GET', '/api/v1/models/shared')).body.aliases).toEqual({});
  });

  it('keeps tags, stages and descriptions of registered models and versions', async () => {
    await server.push('tagged', join(EXAMPLE, 'model.onnx'), penguinManifest());
    expect(
      (await post('registered-models/set-tag', { name: 'tagged', key: 'team', value: 'ml' })).status,
    ).toBe(200);
    expect(
      (await post('model-versions/set-tag', { name: 'tagged', version: '1', key: 'ok', value: 'yes' }))
        .status,
    ).toBe(200);
    const stage = await post('model-versions/transition-stage', {
      name: 'tagged',
      version: '1',
      stage: 'production',
      archive_existing_versions: true,
    });
    expect(stage.body.model_version.current_stage).toBe('Production');
    expect(stage.body.model_version.tags).toContainEqual({ key: 'ok', value: 'yes' });
    const latest = await post('registered-models/get-latest-versions', {
      name: 'tagged',
      stages: ['Production'],
    });
    expect(latest.body.model_versions.map((v: { version: string }) => v.version)).toEqual(['1']);
    const updated = await server.request('PATCH', `${API}/model-versions/update`, {
      name: 'tagged',
      version: '1',
      description: 'first',
    });
    expect(updated.body.model_version.description).toBe('first');
    const removed = await server.request('DELETE', `${API}/registered-models/delete-tag`, {
      name: 'tagged',
      key: 'team',
    });
    expect(removed.status).toBe(200);
    const again = await server.request('DELETE', `${API}/registered-models/delete-tag`, {
      name: 'tagged',
      key: 'team',
    });
    expect(again.status).toBe(404);
    expect((await get('registered-models/get', { name: 'tagged' })).body.registered_model.tags).toEqual([]);
    const deletion = await server.request('DELETE', `${API}/model-versions/delete`, {
      name: 'tagged',
      version: '1',
    });
    expect(deletion.status).toBe(400);
  });

  it('creates, finalizes and searches logged models, and links step-0 metrics to them', async () => {
    const experiment = (await get('runs/get', { run_id: runId })).body.run.info.experiment_id;
    const created = await post('logged-models', {
      experiment_id: experiment,
      name: 'model',
      source_run_id: runId,
      params: [{ key: 'lr', value: '0.1' }],
    });
    const model = created.body.model.info;
    expect(model).toMatchObject({ name: 'model', status: 'LOGGED_MODEL_PENDING', source_run_id: runId });
    expect(model.model_id).toMatch(/^m-[0-9a-f]{32}$/);
    expect(model.artifact_uri).toBe(`mlflow-artifacts:/${experiment}/models/${model.model_id}/artifacts`);
    await post('runs/log-batch', {
      run_id: runId,
      metrics: [{ key: 'loss', value: 0.5, timestamp: 1, step: 0, model_id: model.model_id }],
    });
    const finalized = await server.request('PATCH', `${API}/logged-models/${model.model_id}`, {
      model_id: model.model_id,
      status: 2,
    });
    expect(finalized.body.model.info.status).toBe('LOGGED_MODEL_READY');
    expect(finalized.body.model.data.metrics).toEqual([
      expect.objectContaining({ key: 'loss', value: 0.5, step: 0, model_id: model.model_id }),
    ]);
    // The replayed point was linked, not duplicated.
    const history = await get('metrics/get-history', { run_id: runId, metric_key: 'loss' });
    expect(history.body.metrics.filter((m: { step: number }) => m.step === 0)).toHaveLength(1);
    const found = await post('logged-models/search', {
      experiment_ids: [experiment],
      filter: "name = 'model'",
    });
    expect(found.body.models.map((m: { info: { model_id: string } }) => m.info.model_id)).toEqual([
      model.model_id,
    ]);
    const missing = await get(`logged-models/m-${'0'.repeat(32)}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('answers the server-info probe', async () => {
    const info = await server.request('GET', '/api/3.0/mlflow/server-info');
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({ multipart_uploads_enabled: false, multipart_downloads_enabled: false });
  });
});

describe('MLflow REST API with authentication on', () => {
  let server: TestServer;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    server = await startServer({ SLIPWAY_AUTH: 'on' });
    for (const role of ['viewer', 'developer'] as const) {
      tokens[role] = (
        await server.app.tokens.create(`t-${role}`, role, {
          actor: { name: 'local', role: 'admin' },
          requestId: null,
        })
      ).secret;
    }
  });
  afterAll(() => server?.stop());

  it('takes Slipway tokens as MLFLOW_TRACKING_TOKEN and answers refusals as MLflow errors', async () => {
    const anonymous = await server.request('GET', '/api/2.0/mlflow/experiments/get?experiment_id=0');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error_code).toBe('UNAUTHENTICATED');
    const as = (role: string) => ({ authorization: `Bearer ${tokens[role]}` });
    const read = await server.request(
      'GET',
      '/api/2.0/mlflow/experiments/get?experiment_id=0',
      undefined,
      as('viewer'),
    );
    expect(read.status).toBe(200);
    const write = await server.request(
      'POST',
      '/api/2.0/mlflow/experiments/create',
      { name: 'x' },
      as('viewer'),
    );
    expect(write.status).toBe(403);
    expect(write.body.error_code).toBe('PERMISSION_DENIED');
    const upload = await server.request('PUT', '/api/2.0/mlflow-artifacts/artifacts/0/x.txt', 'x', {
      ...as('viewer'),
      'content-type': 'text/plain',
    });
    expect(upload.status).toBe(403);
    const allowed = await server.request(
      'POST',
      '/api/2.0/mlflow/experiments/create',
      { name: 'x' },
      as('developer'),
    );
    expect(allowed.status).toBe(200);
  });
});
