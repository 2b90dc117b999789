import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { featureQuery } from '../../bench/batch-ceiling.js';
import { DuckDbWarehouse } from '../../src/jobs/warehouse/duckdb-warehouse.js';
import { SESSION_OPTIONS } from '../../src/runtime/onnx/session-options.js';
import { killed, serveProcess } from '../helpers/serve-process.js';
import { ROOT } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A scoring job gives, row for row, the answers onnxruntime-node gives itself for the same inputs:
 * on a server of two HTTP processes with one inference worker each (the default on two cores), so
 * that the run scores on a worker its process starts for it as well as its own, across batches that do
 * not divide the rows evenly, appended straight into the table in one transaction.
 */
const EXAMPLE = join(ROOT, 'examples', 'flight-delay');
const FLIGHTS = join(ROOT, 'node_modules', 'vega-datasets', 'data', 'flights-3m.parquet');
const ROWS = 25_000;
const BATCH_ROWS = 4_000;

describe('batch scoring equals the model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-batch-equality-'));
  const warehouseFile = join(dir, 'warehouse', 'scores.duckdb');
  mkdirSync(dirname(warehouseFile));
  let stop = async () => {};
  afterAll(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes, for every flight, the label and probabilities onnxruntime computes', async () => {
    const { child, url } = await serveProcess(join(dir, 'data'), {
      SLIPWAY_HTTP_PROCESSES: '2',
      SLIPWAY_INFERENCE_WORKERS: '2',
    });
    stop = () => killed(child);
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src/cli/bin.ts'),
        'models',
        'push',
        join(EXAMPLE, 'model.onnx'),
        '--manifest',
        join(EXAMPLE, 'manifest.json'),
        '--server',
        url,
      ],
      { cwd: ROOT, stdio: 'ignore' },
    );
    // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the server answered.
    const call = async (method: string, path: string, body?: unknown): Promise<any> => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const json = await response.json();
      expect(response.status, JSON.stringify(json)).toBeLessThan(300);
      return json;
    };
    // DuckDB keeps the file's order through the query and the table, so rows compare by position.
    const query = featureQuery(FLIGHTS, ROWS);
    await call('POST', '/api/v1/jobs', {
      name: 'flights',
      model: 'flight-delay/1',
      source: { warehouse: `files:${dirname(FLIGHTS)}`, query },
      sink: { warehouse: `duckdb:${warehouseFile}`, table: 'scores' },
      write_mode: 'replace',
      batch_rows: BATCH_ROWS,
      retries: 0,
    });
    const { id } = await call('POST', '/api/v1/jobs/flights/runs', {});
    const run = await waitFor('the scoring run', async () => {
      const current = await call('GET', `/api/v1/jobs/flights/runs/${id}`);
      return ['succeeded', 'failed', 'cancelled'].includes(current.status) ? current : undefined;
    });
    expect(run).toMatchObject({ status: 'succeeded', rows_read: ROWS, rows_written: ROWS, rows_failed: 0 });
    await stop();

    const warehouse = new DuckDbWarehouse(warehouseFile);
    const written = await warehouse.query(
      'SELECT hour, weekday, month, distance, origin, destination, label, probabilities_0, probabilities_1, model_name, model_version FROM scores',
    );
    await warehouse.close();
    expect(written).toHaveLength(ROWS);

    // The model's own answers, in this process, on the same flights in the same order.
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(featureQuery(FLIGHTS, ROWS));
    const columns = reader.getColumnsObjectJS() as Record<string, (number | bigint | string)[]>;
    connection.closeSync();
    instance.closeSync();
    // Batches of the job's size, with the workers' session settings: onnxruntime's kernels sum in an
    // order that depends on the batch, so only the same batches give the same last bits.
    const session = await ort.InferenceSession.create(join(EXAMPLE, 'model.onnx'), SESSION_OPTIONS);
    const labels: number[] = [];
    const probabilities: number[] = [];
    for (let from = 0; from < ROWS; from += BATCH_ROWS) {
      const to = Math.min(ROWS, from + BATCH_ROWS);
      const float = (name: string) =>
        new ort.Tensor('float32', Float32Array.from(columns[name]!.slice(from, to), Number), [to - from, 1]);
      const text = (name: string) =>
        new ort.Tensor('string', columns[name]!.slice(from, to) as string[], [to - from, 1]);
      const expected = await session.run({
        hour: float('hour'),
        weekday: float('weekday'),
        month: float('month'),
        distance: float('distance'),
        origin: text('origin'),
        destination: text('destination'),
      });
      labels.push(...Array.from(expected.label!.data as BigInt64Array, Number));
      probabilities.push(...(expected.probabilities!.data as Float32Array));
    }
    await session.release();

    let differences = 0;
    written.forEach((row, r) => {
      const same =
        row.origin === columns.origin![r] &&
        row.destination === columns.destination![r] &&
        Number(row.distance) === Number(columns.distance![r]) &&
        row.label === labels[r] &&
        row.probabilities_0 === probabilities[2 * r] &&
        row.probabilities_1 === probabilities[2 * r + 1] &&
        row.model_name === 'flight-delay' &&
        row.model_version === 1;
      if (!same) differences += 1;
    });
    expect(differences).toBe(0);
  });
});
