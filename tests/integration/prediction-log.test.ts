import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DuckDBInstance } from '@duckdb/node-api';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.js';
import { LocalArtifactStore } from '../../src/artifacts/local/local-artifact-store.js';
import { serviceDefinition } from '../../src/grpc/grpc-server.js';
import type { PredictionLogRow } from '../../src/observability/prediction-log.js';
import { GatedArtifactStore } from '../helpers/gated-artifact-store.js';
import {
  EXAMPLE,
  FIXTURES,
  localServer,
  penguinManifest,
  startServer,
  type TestServer,
  uploadForm,
} from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const PENGUIN = join(EXAMPLE, 'model.onnx');
const FEATURES = ['bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g'] as const;
const logYaml = (sampleRate: number, retentionDays = 30) =>
  `environments:\n  - name: dev\n    prediction_log: {sample_rate: ${sampleRate}, retention_days: ${retentionDays}}\n`;

type Row = Record<string, unknown>;
const v2Tensors = (rows: Row[]) => [
  { name: 'island', datatype: 'BYTES', shape: [rows.length, 1], data: rows.map((r) => r.island) },
  { name: 'sex', datatype: 'BYTES', shape: [rows.length, 1], data: rows.map((r) => r.sex) },
  ...FEATURES.map((name) => ({
    name,
    datatype: 'FP32',
    shape: [rows.length, 1],
    data: rows.map((r) => r[name]),
  })),
];

/** Everything the log holds for a model in dev around now. */
const readAll = (app: App, model = 'penguin-species', version?: number) =>
  app.predictionLog.read({
    environment: 'dev',
    model,
    from: new Date(Date.now() - 3_600_000),
    to: new Date(Date.now() + 3_600_000),
    ...(version !== undefined ? { version } : {}),
  });

const byRequest = (rows: readonly PredictionLogRow[]) => {
  const grouped = new Map<string, PredictionLogRow[]>();
  for (const row of rows)
    grouped.set(row.requestId ?? '', [...(grouped.get(row.requestId ?? '') ?? []), row]);
  for (const list of grouped.values()) list.sort((a, b) => a.row - b.row);
  return grouped;
};

/** The outputs as V1 answers them, rounded as the float32 the model computed. */
const asFloat32 = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(asFloat32);
  if (typeof value === 'number') return Math.fround(value);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, asFloat32(v)]));
  }
  return value;
};

describe('prediction log', () => {
  let server: TestServer;
  const sample = penguinManifest().sample as Row[];
  /** Request id -> what was sent and answered. */
  const sent = new Map<string, { version: number; revision: number; inputs: Row[]; outputs: Row[] }>();
  let started: number;

  beforeAll(async () => {
    started = Date.now();
    server = await startServer({ SLIPWAY_GRPC_PORT: 0 }, { configYaml: logYaml(1, 7) });
    expect((await server.push('penguin-species', PENGUIN, penguinManifest())).status).toBe(201);
    expect((await server.push('echo', join(FIXTURES, 'echo.onnx'), { sample: [{ x: 1 }] })).status).toBe(201);
  });
  afterAll(() => server.stop());

  const predictV1 = async (rows: Row[], headers: Record<string, string> = {}, path = '') => {
    const response = await server.request(
      'POST',
      `/v1/models/penguin-species${path}:predict`,
      { instances: rows },
      headers,
    );
    expect(response.status, response.text).toBe(200);
    sent.set(response.headers.get('x-request-id') as string, {
      version: Number(response.headers.get('x-slipway-model-version')),
      revision: Number(response.headers.get('x-slipway-revision')),
      inputs: rows,
      outputs: response.body.predictions,
    });
  };

  const predictV2 = async (rows: Row[], body: Row = {}, headers: Record<string, string> = {}, path = '') => {
    const response = await server.request(
      'POST',
      `/v2/models/penguin-species${path}/infer`,
      { ...body, inputs: v2Tensors(rows) },
      headers,
    );
    expect(response.status, response.text).toBe(200);
    const id = response.headers.get('x-request-id') as string;
    expect(response.body.id).toBe(body.id ?? id);
    const output = (name: string) => response.body.outputs.find((o: { name: string }) => o.name === name);
    sent.set(id, {
      version: Number(response.body.model_version),
      revision: Number(response.headers.get('x-slipway-revision')),
      inputs: rows,
      outputs: rows.map((_, i) => ({
        label: output('label').data[i],
        probabilities: output('probabilities').data.slice(i * 3, i * 3 + 3),
      })),
    });
  };

  it('records every row of V1, V2 and gRPC predictions with version, revision, request id, inputs and outputs', async () => {
    const complete = sample.slice(0, 3);
    await predictV1([complete[0] as Row], { 'x-request-id': 'v1-single' });
    await predictV1(complete);
    await predictV2(complete.slice(1), { id: 'body-id' }, { 'x-request-id': 'v2-multi' });
    await predictV2([complete[2] as Row]);
    // A second version takes dev's traffic (revision 2); version 1 stays reachable by number.
    expect((await server.push('penguin-species', PENGUIN, penguinManifest())).status).toBe(201);
    await predictV1(complete.slice(0, 2), { 'x-request-id': 'v1-on-v2' });
    await predictV2([complete[1] as Row], {}, { 'x-request-id': 'v2-pinned' }, '/versions/1');

    const client = new (grpc.makeGenericClientConstructor(serviceDefinition(), 'GRPCInferenceService'))(
      server.app.grpcAddress() as string,
      grpc.credentials.createInsecure(),
    ) as unknown as Record<string, (...args: unknown[]) => void> & grpc.Client;
    const metadata = new grpc.Metadata();
    metadata.set('x-request-id', 'grpc-1');
    await new Promise<void>((resolve, reject) =>
      client.ModelInfer?.(
        {
          model_name: 'echo',
          inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1], contents: { fp32_contents: [1.5, -2] } }],
        },
        metadata,
        (error: Error | null) => (error ? reject(error) : resolve()),
      ),
    );
    client.close();

    await server.app.predictionLog.flush();
    const rows = await readAll(server.app);
    const logged = byRequest(rows);
    expect([...logged.keys()].sort()).toEqual([...sent.keys()].sort());
    expect(rows).toHaveLength([...sent.values()].reduce((n, s) => n + s.inputs.length, 0));
    for (const [requestId, request] of sent) {
      const got = logged.get(requestId) as PredictionLogRow[];
      expect(
        got.map((r) => r.row),
        requestId,
      ).toEqual(request.inputs.map((_, i) => i));
      for (const [i, row] of got.entries()) {
        expect(row.version, requestId).toBe(request.version);
        expect(row.revision, requestId).toBe(request.revision);
        expect(row.time.getTime()).toBeGreaterThanOrEqual(started);
        expect(row.time.getTime()).toBeLessThanOrEqual(Date.now());
        // Inputs read back as sent (floats as their shortest float32 spelling).
        expect(row.inputs).toEqual(request.inputs[i]);
        expect(asFloat32(row.outputs)).toEqual(asFloat32(request.outputs[i]));
      }
    }
    expect(logged.get('v1-on-v2')?.[0]).toMatchObject({ version: 2, revision: 2 });
    expect(logged.get('v2-pinned')?.[0]).toMatchObject({ version: 1, revision: 2 });
    expect(
      (await readAll(server.app, 'penguin-species', 1)).every(
        (r) => r.version === 1 && r.requestId !== 'v1-on-v2',
      ),
    ).toBe(true);

    const echo = await readAll(server.app, 'echo');
    expect(echo.map((r) => [r.requestId, r.row, r.inputs, r.outputs])).toEqual([
      ['grpc-1', 0, { x: 1.5 }, { y: 1.5 }],
      ['grpc-1', 1, { x: -2 }, { y: -2 }],
    ]);
    expect(server.app.predictionLog.stats()).toEqual([
      { environment: 'dev', model: 'echo', written: 2, dropped: 0 },
      { environment: 'dev', model: 'penguin-species', written: rows.length, dropped: 0 },
    ]);
  });

  it('keeps what the model saw for missing values: null numbers, empty strings', async () => {
    const missing = sample[4] as Row;
    await predictV1([missing], { 'x-request-id': 'v1-missing' });
    await server.app.predictionLog.flush();
    const [row] = (await readAll(server.app)).filter((r) => r.requestId === 'v1-missing');
    expect(row?.inputs).toEqual({ ...missing, sex: '' });
  });

  it('writes Parquet files under date and hour partitions that DuckDB reads directly', async () => {
    const now = new Date();
    const folder = join(server.dataDir, 'artifacts/prediction-log/dev/penguin-species');
    const date = `date=${now.toISOString().slice(0, 10)}`;
    expect(readdirSync(folder)).toContain(date);
    const hour = `hour=${now.toISOString().slice(11, 13)}`;
    const files = readdirSync(join(folder, date, hour));
    expect(files.length).toBeGreaterThan(0);
    expect(files.every((f) => /^part-\d+-[0-9a-f-]{13}\.parquet$/.test(f))).toBe(true);

    const duck = await DuckDBInstance.create(':memory:');
    const connection = await duck.connect();
    try {
      const glob = `${folder}/*/*/*.parquet`;
      const described = await connection.runAndReadAll(
        `DESCRIBE SELECT * FROM read_parquet('${glob}', hive_partitioning = false)`,
      );
      expect(described.getRows().map((r) => [r[0], r[1]])).toEqual([
        ['time', 'TIMESTAMP'],
        ['request_id', 'VARCHAR'],
        ['environment', 'VARCHAR'],
        ['model', 'VARCHAR'],
        ['version', 'INTEGER'],
        ['revision', 'INTEGER'],
        ['row', 'INTEGER'],
        ['inputs', 'VARCHAR'],
        ['outputs', 'VARCHAR'],
      ]);
      // Hive-style readers see the partitions as columns.
      const counted = await connection.runAndReadAll(
        `SELECT count(*)::INTEGER, count(DISTINCT request_id)::INTEGER, min(environment), min(model),
                max(json_extract_string(inputs, '$.island')), min(date)::VARCHAR, min(hour)::INTEGER
         FROM read_parquet('${glob}', hive_partitioning = true)`,
      );
      const rows = [...sent.values()].reduce((n, s) => n + s.inputs.length, 0);
      expect(counted.getRows()[0]).toEqual([
        rows,
        sent.size,
        'dev',
        'penguin-species',
        'Torgersen',
        date.slice('date='.length),
        Number(hour.slice('hour='.length)),
      ]);
    } finally {
      connection.closeSync();
      duck.closeSync();
    }
  });

  it('removes partitions past the environment retention and keeps the others', async () => {
    const store = new LocalArtifactStore(join(server.dataDir, 'artifacts'));
    const put = async (key: string) =>
      store.commit(await store.stage(Readable.from([Buffer.from('old')]), { maxBytes: 10 }), key);
    const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
    const folder = 'prediction-log/dev/penguin-species';
    await put(`${folder}/date=${day(8)}/hour=00/part-old.parquet`);
    await put(`${folder}/date=${day(30)}/hour=12/part-old.parquet`);
    await put(`${folder}/date=${day(5)}/hour=12/part-recent.parquet`);
    expect(await server.app.predictionLog.sweep()).toBe(2);
    const dates = (await store.list(folder)).map((e) => e.name);
    expect(dates).not.toContain(`date=${day(8)}`);
    expect(dates).not.toContain(`date=${day(30)}`);
    expect(dates).toContain(`date=${day(5)}`);
    expect(dates).toContain(`date=${day(0)}`);
    expect((await readAll(server.app)).length).toBeGreaterThan(0);
  });
});

describe('prediction log sampling', () => {
  it('writes nothing at sample_rate 0, and about half at 0.5', async () => {
    const off = await startServer({}, { configYaml: logYaml(0) });
    try {
      expect((await off.push('penguin-species', PENGUIN, penguinManifest())).status).toBe(201);
      for (let i = 0; i < 20; i += 1) {
        const response = await off.request('POST', '/v1/models/penguin-species:predict', {
          instances: penguinManifest().sample,
        });
        expect(response.status).toBe(200);
      }
      await off.app.predictionLog.flush();
      expect(off.app.predictionLog.stats()).toEqual([]);
      expect(readdirSync(join(off.dataDir, 'artifacts'))).not.toContain('prediction-log');
    } finally {
      await off.stop();
    }

    const half = await startServer({}, { configYaml: logYaml(0.5) });
    try {
      expect((await half.push('penguin-species', PENGUIN, penguinManifest())).status).toBe(201);
      const requests = 300;
      for (let i = 0; i < requests; i += 20) {
        const answers = await Promise.all(
          Array.from({ length: 20 }, () =>
            half.request('POST', '/v1/models/penguin-species:predict', {
              instances: [penguinManifest().sample[0]],
            }),
          ),
        );
        expect(answers.every((a) => a.status === 200)).toBe(true);
      }
      await half.app.predictionLog.flush();
      const written = half.app.predictionLog.stats()[0]?.written ?? 0;
      // 300 draws at 0.5 fall outside 90..210 with a probability under 1e-10.
      expect(written).toBeGreaterThan(90);
      expect(written).toBeLessThan(210);
      expect(await readAll(half.app)).toHaveLength(written);
    } finally {
      await half.stop();
    }
  });
});

describe('prediction log under pressure', () => {
  it('answers every prediction while a stuck write makes it drop, and counts what it dropped', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'slipway-test-'));
    writeFileSync(join(dataDir, 'slipway.yaml'), logYaml(1));
    const gated = new GatedArtifactStore(join(dataDir, 'artifacts'));
    const app = await createApp({
      overrides: { ...localServer(dataDir), SLIPWAY_INFERENCE_WORKERS: 1 },
      predictionLog: { maxBufferRows: 5, flushIntervalMs: 20, artifacts: gated },
    });
    try {
      const url = await app.listen();
      const pushed = await fetch(`${url}/api/v1/models`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'penguin-species' }),
      });
      expect(pushed.status).toBe(201);
      const upload = await fetch(`${url}/api/v1/models/penguin-species/versions`, {
        method: 'POST',
        headers: { 'x-slipway-client': 'slipway-tests' },
        body: uploadForm(PENGUIN, penguinManifest()),
      });
      expect(upload.status).toBe(201);
      const predict = () =>
        fetch(`${url}/v1/models/penguin-species:predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ instances: penguinManifest().sample.slice(0, 2) }),
        }).then((response) => response.status);
      const statuses: number[] = [];
      for (let i = 0; i < 10; i += 1)
        statuses.push(...(await Promise.all([predict(), predict(), predict()])));
      expect(statuses.every((status) => status === 200)).toBe(true);
      // The first write is stuck in the store (its Parquet file may still be being written on a busy
      // machine): it never finishes, so what came after it could only fill one buffer or be dropped.
      await waitFor('the first write to reach the store', async () =>
        gated.stages === 1 ? true : undefined,
      );
      expect(gated.stages).toBe(1);
      const stuck = app.predictionLog.stats()[0];
      // 30 predictions of 2 rows: at most 4 rows in the stuck write, at most 4 in the buffer.
      expect(stuck?.written).toBe(0);
      expect(stuck?.dropped).toBeGreaterThanOrEqual(60 - 4 - 4);
      gated.release();
      await app.predictionLog.flush();
      const after = app.predictionLog.stats()[0];
      expect((after?.written ?? 0) + (after?.dropped ?? 0)).toBe(60);
      expect(await readAll(app)).toHaveLength(after?.written ?? -1);
    } finally {
      gated.release();
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('answers every prediction when the store refuses the files, and counts the rows as dropped', async () => {
    const server = await startServer({}, { configYaml: logYaml(1) });
    try {
      expect((await server.push('penguin-species', PENGUIN, penguinManifest())).status).toBe(201);
      // A file where the log's folder should be: every commit of a log file fails.
      writeFileSync(join(server.dataDir, 'artifacts/prediction-log'), 'in the way');
      for (let i = 0; i < 5; i += 1) {
        const response = await server.request('POST', '/v1/models/penguin-species:predict', {
          instances: penguinManifest().sample,
        });
        expect(response.status).toBe(200);
        await server.app.predictionLog.flush();
      }
      expect(server.app.predictionLog.stats()).toEqual([
        { environment: 'dev', model: 'penguin-species', written: 0, dropped: 25 },
      ]);
    } finally {
      await server.stop();
    }
  });
});
