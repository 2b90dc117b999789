import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.js';
import {
  EXAMPLE,
  FIXTURES,
  localServer,
  penguinManifest,
  startServer,
  type TestServer,
} from '../helpers/server.js';

const tensor = (name: string, datatype: string, shape: number[], data: unknown[]) => ({
  name,
  datatype,
  shape,
  data,
});

describe('serving', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
    for (const [name, file] of [
      ['identity', 'identity.onnx'],
      ['strings', 'strings.onnx'],
      ['argmax', 'int64-argmax.onnx'],
      ['typed', 'typed-inputs.onnx'],
      ['marked', 'fails-on-marked.onnx'],
    ] as const) {
      const response = await server.push(name, join(FIXTURES, file));
      expect(response.status, response.text).toBe(201);
    }
    expect(
      (await server.push('penguin-species', join(EXAMPLE, 'model.onnx'), penguinManifest())).status,
    ).toBe(201);
  });
  afterAll(() => server.stop());

  it('answers V1 rows given as objects and as arrays in input order, naming the version and request', async () => {
    const sample = penguinManifest().sample;
    const asObjects = await server.request(
      'POST',
      '/v1/models/penguin-species:predict',
      { instances: sample },
      { 'x-request-id': 'abc-1' },
    );
    expect(asObjects.status).toBe(200);
    expect(asObjects.headers.get('x-slipway-model-version')).toBe('1');
    expect(asObjects.headers.get('x-request-id')).toBe('abc-1');
    const names = ['island', 'sex', 'bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g'];
    const asArrays = await server.request('POST', '/v1/models/penguin-species:predict', {
      instances: sample.map((row) => names.map((name) => row[name])),
    });
    expect(asArrays.body).toEqual(asObjects.body);
    for (const prediction of asObjects.body.predictions) {
      expect(['Adelie', 'Chinstrap', 'Gentoo']).toContain(prediction.label);
      expect(prediction.probabilities).toHaveLength(3);
      expect(prediction.probabilities.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 5);
    }
  });

  it('treats null as missing only where the manifest allows it', async () => {
    const row = { ...penguinManifest().sample[0]!, sex: null, body_mass_g: null };
    const response = await server.request('POST', '/v1/models/penguin-species:predict', { instances: [row] });
    expect(response.status, response.text).toBe(200);
    expect(response.body.predictions[0].probabilities.every((p: number) => Number.isFinite(p))).toBe(true);
  });

  it('gives V1 and V2 the same numbers, with nested or flat V2 data', async () => {
    const row = penguinManifest().sample[1]!;
    const v1 = await server.request('POST', '/v1/models/penguin-species:predict', { instances: [row] });
    const v2 = await server.request('POST', '/v2/models/penguin-species/infer', {
      id: 'my-id',
      inputs: [
        tensor('island', 'BYTES', [1, 1], [[row.island]]),
        tensor('sex', 'BYTES', [1, 1], [row.sex]),
        ...['bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g'].map((n) =>
          tensor(n, 'FP32', [1, 1], [row[n]]),
        ),
      ],
    });
    expect(v2.status, v2.text).toBe(200);
    expect(v2.body).toMatchObject({ model_name: 'penguin-species', model_version: '1', id: 'my-id' });
    const probabilities = v2.body.outputs.find((o: { name: string }) => o.name === 'probabilities');
    expect(probabilities).toMatchObject({ datatype: 'FP32', shape: [1, 3] });
    expect(probabilities.parameters).toBeUndefined();
    expect(probabilities.data).toEqual(v1.body.predictions[0].probabilities);
  });

  it('returns only the requested V2 outputs', async () => {
    const response = await server.request('POST', '/v2/models/argmax/infer', {
      inputs: [tensor('x', 'FP32', [2, 3], [1, 5, 2, 9, 0, 3])],
      outputs: [{ name: 'index' }],
    });
    expect(response.body.outputs).toEqual([{ name: 'index', datatype: 'INT64', shape: [2], data: [1, 0] }]);
  });

  it('turns INT64 outputs into JSON numbers, and serves strings, booleans and doubles', async () => {
    const argmax = await server.request('POST', '/v1/models/argmax:predict', {
      instances: [
        [1, 5, 2],
        [9, 0, 3],
      ],
    });
    expect(argmax.body.predictions).toEqual([
      { index: 1, max: 5 },
      { index: 0, max: 9 },
    ]);
    const strings = await server.request('POST', '/v2/models/strings/infer', {
      inputs: [tensor('text', 'BYTES', [2], ['abc', 'Zürich'])],
    });
    expect(strings.body.outputs[0]).toMatchObject({
      name: 'upper',
      datatype: 'BYTES',
      data: ['ABC', 'ZÜRICH'],
    });
    const typed = await server.request('POST', '/v1/models/typed:predict', {
      instances: [{ a: 1.5, b: 2, c: 'x', d: true, e: 0.25 }],
    });
    expect(typed.body.predictions).toEqual([{ a_plus_b: 3.5, c_out: 'x', d_out: false, e_out: 0.5 }]);
  });

  it('reports a model that fails on its input as INFERENCE_FAILED (500) and keeps serving', async () => {
    const failed = await server.request('POST', '/v1/models/marked:predict', { instances: [[99]] });
    expect(failed.status).toBe(500);
    expect(failed.body.code).toBe('INFERENCE_FAILED');
    const fine = await server.request('POST', '/v1/models/marked:predict', { instances: [[1], [0]] });
    expect(fine.body.predictions).toEqual([{ y: 1 }, { y: 0 }]);
  });

  it('serves the newest version in dev, explicit versions on request, and follows a rollback, not aliases', async () => {
    expect((await server.push('identity', join(FIXTURES, 'int64-argmax.onnx'))).status).toBe(201);
    const meta = await server.request('GET', '/v2/models/identity');
    expect(meta.body).toMatchObject({ name: 'identity', versions: ['2'], platform: 'onnxruntime_onnx' });
    expect(meta.body.inputs).toEqual([{ name: 'x', datatype: 'FP32', shape: [-1, 3] }]);

    const four = { inputs: [tensor('x', 'FP32', [1, 4], [1, 2, 3, 4])] };
    const v1 = await server.request('POST', '/v2/models/identity/versions/1/infer', four);
    expect(v1.status).toBe(200);
    expect(v1.headers.get('x-slipway-model-version')).toBe('1');

    // An alias is a registry pointer; it does not change what an environment serves.
    const alias = await server.request('PUT', '/api/v1/models/identity/aliases/champion', { version: 1 });
    expect(alias.body).toEqual({ model: 'identity', alias: 'champion', version: 1, previous_version: null });
    const newest = await server.request('POST', '/v2/models/identity/infer', four);
    expect(newest.status).toBe(400);
    expect(newest.body.code).toBe('INVALID_SHAPE');
    // The refusal names the version whose signature refused the input, and the revision in force.
    expect(newest.headers.get('x-slipway-model-version')).toBe('2');
    expect(newest.headers.get('x-slipway-revision')).toBe('2');
    expect(newest.headers.get('x-slipway-environment')).toBe('dev');

    const rollback = await server.request(
      'POST',
      '/api/v1/environments/dev/deployments/identity/rollback',
      {},
    );
    expect(rollback.status).toBe(200);
    expect(rollback.body).toMatchObject({
      number: 3,
      kind: 'rollback',
      traffic: [{ version: 1, percent: 100 }],
    });
    const served = await server.request('POST', '/v2/models/identity/infer', four);
    expect(served.headers.get('x-slipway-model-version')).toBe('1');
    expect(served.headers.get('x-slipway-revision')).toBe('3');
    expect(served.body.outputs[0].data).toEqual([1, 2, 3, 4]);
  });

  it('warms every upload with its own sample, even when identical bytes are already loaded', async () => {
    const response = await server.push('strings', join(FIXTURES, 'strings.onnx'), { sample: [{ text: 42 }] });
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({ code: 'INVALID_MODEL', details: { reason: 'WARMUP_FAILED' } });
    expect((await server.request('GET', '/api/v1/models/strings')).body.latest_version).toBe(1);
  });

  it('describes versions with lineage, metrics, signature and aliases, and filters and pages them', async () => {
    const version = await server.request('GET', '/api/v1/models/penguin-species/versions/1');
    expect(version.body).toMatchObject({
      model: 'penguin-species',
      version: 1,
      status: 'READY',
      lineage: { uploader: 'local', dataset: 'vega-datasets:data/penguins.json' },
      signature: { labels: ['Adelie', 'Chinstrap', 'Gentoo'] },
    });
    expect(version.body.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(version.body.metrics.accuracy).toBeGreaterThan(0.9);
    const first = await server.request('GET', '/api/v1/versions?limit=2');
    expect(first.body.versions).toHaveLength(2);
    const second = await server.request(
      'GET',
      `/api/v1/versions?limit=2&page_token=${first.body.next_page_token}`,
    );
    expect(second.body.versions[0]).not.toEqual(first.body.versions[0]);
    const tagged = await server.request('GET', '/api/v1/versions?tag=framework=scikit-learn');
    expect(tagged.body.versions.map((v: { model: string }) => v.model)).toEqual(['penguin-species']);
    const models = await server.request('GET', '/api/v1/models?search=peng');
    expect(models.body.models.map((m: { name: string }) => m.name)).toEqual(['penguin-species']);
  });

  it('reports health in the shape operators expect, and V2 readiness', async () => {
    const health = await server.request('GET', '/health');
    expect(health.body).toMatchObject({ status: 'healthy', model_loaded: true, ready: true });
    expect(health.body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(health.body.models).toContainEqual({
      model: 'penguin-species',
      environment: 'dev',
      revision: 1,
      versions: [{ version: 1, percent: 100, state: 'READY' }],
      state: 'READY',
    });
    expect((await server.request('GET', '/v2/health/ready')).body).toEqual({ ready: true });
    expect((await server.request('GET', '/v2/models/penguin-species/ready')).body).toMatchObject({
      ready: true,
    });
    expect((await server.request('GET', '/v2')).body).toMatchObject({
      name: 'slipway',
      extensions: ['binary_tensor_data', 'model_configuration'],
    });
  });

  it('serves an OpenAPI document generated from the route schemas, and a docs page', async () => {
    const spec = await server.request('GET', '/api/v1/openapi.json');
    expect(spec.body.openapi).toBe('3.1.0');
    for (const path of [
      '/api/v1/models',
      '/api/v1/models/{model}/versions',
      '/v2/models/{model}/infer',
      '/v1/models/{target}',
    ]) {
      expect(Object.keys(spec.body.paths)).toContain(path);
    }
    const docs = await fetch(`${server.url}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
  });
});

describe('a restarted server', () => {
  it('reports a model whose artifact was corrupted on disk as FAILED, answers 500, and refuses to deploy it', async () => {
    const first = await startServer();
    expect((await first.push('identity', join(FIXTURES, 'identity.onnx'))).status).toBe(201);
    expect((await first.push('identity', join(FIXTURES, 'int64-argmax.onnx'))).status).toBe(201);
    await first.app.close();
    writeFileSync(join(first.dataDir, 'artifacts/models/identity/2/model.onnx'), 'tampered');
    let second: App | undefined;
    try {
      second = await createApp({ overrides: localServer(first.dataDir) });
      const url = await second.listen();
      const call = async (method: string, path: string, body?: unknown) => {
        const response = await fetch(`${url}${path}`, {
          method,
          ...(body === undefined
            ? {}
            : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        });
        // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the server answered.
        return { status: response.status, body: (await response.json()) as Record<string, any> };
      };
      await new Promise((resolve) => setTimeout(resolve, 500));
      const health = await call('GET', '/health');
      expect(health.body.status).toBe('degraded');
      expect(health.body.models).toContainEqual({
        model: 'identity',
        environment: 'dev',
        revision: 2,
        versions: [],
        state: 'FAILED',
      });
      const predict = await call('POST', '/v2/models/identity/infer', {
        inputs: [tensor('x', 'FP32', [1, 3], [1, 2, 3])],
      });
      expect(predict.status).toBe(500);
      expect(predict.body).toMatchObject({ code: 'INTERNAL', details: { reason: 'ARTIFACT_CORRUPT' } });
      // Version 1 has intact bytes of its own, so rolling back to it serves again.
      expect((await call('POST', '/api/v1/environments/dev/deployments/identity/rollback', {})).status).toBe(
        200,
      );
      expect(
        (
          await call('POST', '/v2/models/identity/infer', {
            inputs: [tensor('x', 'FP32', [1, 4], [1, 2, 3, 4])],
          })
        ).status,
      ).toBe(200);
      // Deploying the corrupt version is refused before any revision is written.
      const deploy = await call('PUT', '/api/v1/environments/dev/deployments/identity/traffic', {
        traffic: [{ version: 2, percent: 100 }],
      });
      expect(deploy.status).toBe(500);
      expect((await call('GET', '/api/v1/environments/dev/deployments/identity')).body.revision.number).toBe(
        3,
      );
    } finally {
      await second?.close();
      rmSync(first.dataDir, { recursive: true, force: true });
    }
  });

  it('serves the same versions from the same data folder', async () => {
    const first = await startServer();
    expect((await first.push('penguin-species', join(EXAMPLE, 'model.onnx'), penguinManifest())).status).toBe(
      201,
    );
    await first.app.close();
    let second: App | undefined;
    try {
      second = await createApp({ overrides: localServer(first.dataDir) });
      const url = await second.listen();
      const response = await fetch(`${url}/v1/models/penguin-species:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: penguinManifest().sample.slice(0, 1) }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-slipway-model-version')).toBe('1');
    } finally {
      await second?.close();
    }
  });
});
