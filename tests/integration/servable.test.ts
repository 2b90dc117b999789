import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactStoreForUri } from '../../src/artifacts/artifact-store-for-uri.js';
import { storesForUri } from '../../src/stores-for-uri.js';
import { EXAMPLE, penguinManifest, startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const PENGUIN = readFileSync(join(EXAMPLE, 'model.onnx'));
/** Bytes a pickle loader would run; onnxruntime would refuse them, so an attempt would be logged. */
const PICKLE = Buffer.from('cos\nsystem\n(S"echo pwned"\ntR.');
/**
 * The penguin model with a `doc_string` (ModelProto field 6) appended: a valid ONNX file that loads
 * and predicts like the original, under another sha256.
 */
const PENGUIN_VARIANT = Buffer.concat([PENGUIN, Buffer.from([0x32, 0x07]), Buffer.from('variant')]);

/**
 * A version that is stored but cannot serve (a non-ONNX MLflow flavor, or a FAILED upload) never
 * reaches the inference runtime, whichever way it is asked to serve: each way is refused with
 * VERSION_NOT_SERVABLE, and the server's log (which names every model the runtime loads, or fails
 * to load, by sha256) never mentions its bytes.
 */
describe('a version that cannot serve never reaches the runtime', () => {
  let server: TestServer;
  const log: string[] = [];
  const MLFLOW = '/api/2.0/mlflow';
  const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';
  let pickled = 0;
  let failed = 0;
  let runBase = '';

  const put = async (path: string, bytes: Uint8Array | string) => {
    const response = await fetch(`${server.url}${ARTIFACTS}/${path}`, {
      method: 'PUT',
      body: typeof bytes === 'string' ? bytes : new Uint8Array(bytes),
    });
    expect(response.status, path).toBe(200);
  };
  const download = async (path: string) => {
    const response = await fetch(`${server.url}${ARTIFACTS}/${path}`);
    expect(response.status, path).toBe(200);
    return Buffer.from(await response.arrayBuffer());
  };
  const mentions = (sha: string) => log.filter((line) => line.includes(sha));

  beforeAll(async () => {
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _encoding, done) {
          log.push(String(chunk));
          done();
        },
      }),
    );
    server = await startServer({}, { allInOne: true, logger });
    expect((await server.push('penguins', join(EXAMPLE, 'model.onnx'), penguinManifest())).status).toBe(201);

    // Version 2: a pickled scikit-learn model registered through MLflow (stored, never loaded).
    const experiment = await server.request('POST', `${MLFLOW}/experiments/create`, { name: 'servable' });
    const run = await server.request('POST', `${MLFLOW}/runs/create`, {
      experiment_id: experiment.body.experiment_id,
    });
    runBase = run.body.run.info.artifact_uri.replace('mlflow-artifacts:/', '');
    await put(`${runBase}/pickled/MLmodel`, 'flavors:\n  sklearn:\n    pickled_model: model.pkl\n');
    await put(`${runBase}/pickled/model.pkl`, PICKLE);
    const stored = await server.request('POST', `${MLFLOW}/model-versions/create`, {
      name: 'penguins',
      source: `mlflow-artifacts:/${runBase}/pickled`,
    });
    expect(stored.status, stored.text).toBe(200);
    pickled = Number(stored.body.model_version.version);

    // Version 3: valid ONNX whose upload never completed (FAILED), its bytes in place.
    const stores = storesForUri(server.app.config.registryUri);
    const artifacts = artifactStoreForUri(server.app.config.artifactUri);
    try {
      const { model, version, status, artifactKey, createdAt, aliases, ...draft } =
        await stores.registry.getVersion('penguins', 1);
      const pending = await stores.registry.createVersion(
        'penguins',
        { ...draft, sha256: sha256(PENGUIN_VARIANT), sizeBytes: PENGUIN_VARIANT.length },
        (n) => `models/penguins/${n}/model.onnx`,
      );
      const staged = await artifacts.stage(Readable.from([PENGUIN_VARIANT]), { maxBytes: 1 << 24 });
      await artifacts.commit(staged, pending.artifactKey);
      await stores.registry.markVersionFailed('penguins', pending.version, 'the upload was interrupted');
      failed = pending.version;
    } finally {
      await stores.database.close();
    }
  });
  afterAll(() => server.stop());

  it('loads a servable version (the log the other cases rely on names it)', async () => {
    expect(mentions(sha256(PENGUIN)).some((line) => JSON.parse(line).msg === 'model loaded')).toBe(true);
  });

  const versions = () => [
    ['a non-ONNX MLflow flavor', pickled],
    ['a FAILED version', failed],
  ];

  it.each([
    ['V2 infer', 'POST', (v: number) => `/envs/dev/v2/models/penguins/versions/${v}/infer`],
    ['V2 metadata', 'GET', (v: number) => `/envs/dev/v2/models/penguins/versions/${v}`],
    ['V2 readiness', 'GET', (v: number) => `/envs/dev/v2/models/penguins/versions/${v}/ready`],
    ['V2 config', 'GET', (v: number) => `/envs/dev/v2/models/penguins/versions/${v}/config`],
  ])('refuses %s at /versions/{v} in dev', async (_name, method, path) => {
    for (const [what, version] of versions()) {
      const body =
        method === 'POST'
          ? { inputs: [{ name: 'bill_length_mm', datatype: 'FP32', shape: [1, 1], data: [39.1] }] }
          : undefined;
      const response = await server.request(
        method as string,
        (path as (v: number) => string)(version as number),
        body,
      );
      expect([response.status, response.body?.code], `${what}: ${response.text}`).toEqual([
        409,
        'VERSION_NOT_SERVABLE',
      ]);
    }
  });

  it.each([
    [
      'a promotion (deploy)',
      'POST',
      '/api/v1/environments/dev/promotions',
      (v: number) => ({ model: 'penguins', version: v }),
    ],
    [
      'a traffic split',
      'PUT',
      '/api/v1/environments/dev/deployments/penguins/traffic',
      (v: number) => ({ traffic: [{ version: v, percent: 100 }] }),
    ],
    [
      'a canary split',
      'PUT',
      '/api/v1/environments/dev/deployments/penguins/traffic',
      (v: number) => ({
        traffic: [
          { version: 1, percent: 90 },
          { version: v, percent: 10 },
        ],
      }),
    ],
    [
      'a tag',
      'PUT',
      '/api/v1/environments/dev/deployments/penguins/traffic',
      (v: number) => ({ traffic: [{ version: 1, percent: 100 }], tags: { candidate: v } }),
    ],
    [
      'a shadow',
      'PUT',
      '/api/v1/environments/dev/deployments/penguins/traffic',
      (v: number) => ({ traffic: [{ version: 1, percent: 100 }], shadow: { version: v, percent: 50 } }),
    ],
  ])('refuses %s naming it and writes no revision', async (_name, method, path, body) => {
    const before = (await server.request('GET', '/api/v1/environments/dev/deployments/penguins/revisions'))
      .body;
    for (const [what, version] of versions()) {
      const response = await server.request(
        method as string,
        path as string,
        (body as (v: number) => unknown)(version as number),
      );
      expect([response.status, response.body?.code], `${what}: ${response.text}`).toEqual([
        409,
        'VERSION_NOT_SERVABLE',
      ]);
    }
    const after = (await server.request('GET', '/api/v1/environments/dev/deployments/penguins/revisions'))
      .body;
    expect(after).toEqual(before);
  });

  it('refuses a rollback to a revision that names it', async () => {
    // A revision naming the stored version, as a store written by an older server could hold.
    const stores = storesForUri(server.app.config.registryUri);
    let bad = 0;
    try {
      const current = await stores.deployments.currentRevision('penguins', 'dev');
      bad = (
        await stores.deployments.appendRevision(
          {
            model: 'penguins',
            environment: 'dev',
            traffic: [{ version: pickled, percent: 100 }],
            tags: {},
            shadow: null,
            kind: 'traffic',
            actor: 'test',
            reason: 'written outside the service',
            promotionId: null,
            requestId: null,
          },
          { actor: 'test', action: 'revision.traffic', target: 'penguins-dev', result: 'ok' },
          current!.number,
        )
      ).number;
    } finally {
      await stores.database.close();
    }
    const restored = await server.request('PUT', '/api/v1/environments/dev/deployments/penguins/traffic', {
      traffic: [{ version: 1, percent: 100 }],
    });
    expect(restored.status, restored.text).toBe(200);
    for (const body of [{ to_revision: bad }, {}]) {
      const rollback = await server.request(
        'POST',
        '/api/v1/environments/dev/deployments/penguins/rollback',
        body,
      );
      expect([rollback.status, rollback.body?.code], rollback.text).toEqual([409, 'VERSION_NOT_SERVABLE']);
    }
    const current = await server.request('GET', '/api/v1/environments/dev/deployments/penguins');
    expect(current.body.revision.number).toBe(restored.body.number);
    const served = await server.request('POST', '/envs/dev/v1/models/penguins:predict', {
      instances: penguinManifest().sample,
    });
    expect(served.headers.get('x-slipway-model-version')).toBe('1');
  });

  it('fails a batch job whose model is the version, or an alias on it, before it reads a row', async () => {
    const alias = await server.request('PUT', '/api/v1/models/penguins/aliases/stored', { version: pickled });
    expect(alias.status, alias.text).toBe(200);
    const models = [`penguins/${pickled}`, 'penguins@stored', `penguins/${failed}`];
    for (const [index, model] of models.entries()) {
      const job = `never-${index}`;
      const created = await server.request('POST', '/api/v1/jobs', {
        name: job,
        model,
        source: { query: 'SELECT 39.1 AS bill_length_mm' },
        sink: { table: `never_${index}` },
        retries: 0,
      });
      expect(created.status, created.text).toBe(201);
      const started = await server.request('POST', `/api/v1/jobs/${job}/runs`, {
        logical_date: '2001-01-01',
      });
      expect(started.status, started.text).toBe(202);
      const run = await waitFor(`run of ${job}`, async () => {
        const { body } = await server.request('GET', `/api/v1/jobs/${job}/runs/${started.body.id}`);
        return ['succeeded', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
      });
      expect(run, model).toMatchObject({ status: 'failed', model: null, rows_read: 0, rows_written: 0 });
    }
  });

  it('registers a models:/ source naming a stored version as stored again, and refuses a FAILED one', async () => {
    const copy = await server.request('POST', `${MLFLOW}/model-versions/create`, {
      name: 'penguins',
      source: `models:/penguins/${pickled}`,
    });
    expect(copy.status, copy.text).toBe(200);
    const version = await server.request(
      'GET',
      `/api/v1/models/penguins/versions/${copy.body.model_version.version}`,
    );
    expect(version.body).toMatchObject({ servable: false, sha256: sha256(PICKLE) });
    const refused = await server.request('POST', `${MLFLOW}/model-versions/create`, {
      name: 'penguins',
      source: `models:/penguins/${failed}`,
    });
    expect([refused.status, refused.body.error_code]).toEqual([400, 'INVALID_PARAMETER_VALUE']);
  });

  it('never loaded, nor tried to load, the bytes of either version', () => {
    expect(mentions(sha256(PICKLE))).toEqual([]);
    expect(mentions(sha256(PENGUIN_VARIANT))).toEqual([]);
  });

  describe('what a registered version downloads is what it serves', () => {
    it("keeps an MLflow version's files when the run artifacts behind it are overwritten", async () => {
      await put(`${runBase}/onnx/MLmodel`, 'flavors:\n  onnx:\n    data: model.onnx\n');
      await put(`${runBase}/onnx/model.onnx`, PENGUIN);
      await put(`${runBase}/onnx/requirements.txt`, 'onnxruntime\n');
      const created = await server.request('POST', `${MLFLOW}/model-versions/create`, {
        name: 'penguins',
        source: `mlflow-artifacts:/${runBase}/onnx`,
      });
      expect(created.status, created.text).toBe(200);
      const number = created.body.model_version.version;
      await server.request('PUT', `/api/v1/models/penguins/aliases/champion`, { version: Number(number) });
      const served = (await server.request('GET', `/api/v1/models/penguins/versions/${number}`)).body.sha256;
      expect(served).toBe(sha256(PENGUIN));

      // Overwrite every file of the run's model directory, and delete one.
      await put(`${runBase}/onnx/model.onnx`, PENGUIN_VARIANT);
      await put(`${runBase}/onnx/MLmodel`, 'flavors:\n  onnx:\n    data: other.onnx\n');
      expect((await server.request('DELETE', `${ARTIFACTS}/${runBase}/onnx/requirements.txt`)).status).toBe(
        200,
      );

      const uri = await server.request(
        'GET',
        `${MLFLOW}/model-versions/get-download-uri?name=penguins&version=${number}`,
      );
      const folder = uri.body.artifact_uri.replace('mlflow-artifacts:/', '');
      expect(folder).toBe(`registry/penguins/${number}`);
      expect(sha256(await download(`${folder}/model.onnx`))).toBe(served);
      expect((await download(`${folder}/MLmodel`)).toString()).toMatch(/data: model\.onnx/);
      expect((await download(`${folder}/requirements.txt`)).toString()).toBe('onnxruntime\n');

      // models:/ sources resolve to the same folder: a version registered from them has the same bytes.
      for (const source of [`models:/penguins/${number}`, 'models:/penguins@champion']) {
        const again = await server.request('POST', `${MLFLOW}/model-versions/create`, {
          name: 'penguins',
          source,
        });
        expect(again.status, again.text).toBe(200);
        const record = await server.request(
          'GET',
          `/api/v1/models/penguins/versions/${again.body.model_version.version}`,
        );
        expect(record.body.sha256, source).toBe(served);
      }
      // The exported folder is read-only to clients.
      const overwrite = await fetch(`${server.url}${ARTIFACTS}/${folder}/model.onnx`, {
        method: 'PUT',
        body: new Uint8Array(PENGUIN_VARIANT),
      });
      expect(overwrite.status).toBe(400);
      expect(sha256(await download(`${folder}/model.onnx`))).toBe(served);
    });

    it("keeps a stored flavor's bytes when the run artifact behind it is overwritten", async () => {
      await put(`${runBase}/pickled/model.pkl`, 'cos\nsystem\n(S"echo changed"\ntR.');
      const uri = await server.request(
        'GET',
        `${MLFLOW}/model-versions/get-download-uri?name=penguins&version=${pickled}`,
      );
      const folder = uri.body.artifact_uri.replace('mlflow-artifacts:/', '');
      expect(folder).toBe(`registry/penguins/${pickled}`);
      expect(sha256(await download(`${folder}/model.pkl`))).toBe(sha256(PICKLE));
      const record = await server.request('GET', `/api/v1/models/penguins/versions/${pickled}`);
      expect(record.body.sha256).toBe(sha256(PICKLE));
    });
  });
});
