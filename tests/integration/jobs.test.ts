import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../../src/jobs/warehouse/duckdb-warehouse.js';
import { FilesWarehouse } from '../../src/jobs/warehouse/files-warehouse.js';
import { PostgresWarehouse } from '../../src/jobs/warehouse/postgres-warehouse.js';
import type { Warehouse } from '../../src/jobs/warehouse/warehouse.js';
import { jobServer } from '../helpers/jobs.js';
import { freshDatabase } from '../helpers/postgres.js';
import { killed, serveProcess } from '../helpers/serve-process.js';
import { FIXTURES, startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Batch scoring end to end on a real server: jobs read a DuckDB file or a real PostgreSQL database,
 * score with `fails-on-marked.onnx` (y = x for 0 and 1; the marked value 99 makes onnxruntime fail),
 * and publish predictions and rejected rows.
 */
const MARKED = 99;

// biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the server answered.
type Caller = { request: (method: string, path: string) => Promise<{ body: any }> };

async function finished(server: Caller, job: string, run: string) {
  return waitFor(`run ${run} of ${job}`, async () => {
    const { body } = await server.request('GET', `/api/v1/jobs/${job}/runs/${run}`);
    return ['succeeded', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
  });
}

describe('batch scoring jobs', () => {
  let server: TestServer;
  let warehouse: Warehouse;

  let stop: () => Promise<void>;
  beforeAll(async () => {
    ({ server, warehouse, stop } = await jobServer({ SLIPWAY_JOB_LEASE_MS: 1000 }));
  });
  afterAll(() => stop());

  const createJob = async (spec: Record<string, unknown>) => {
    const response = await server.request('POST', '/api/v1/jobs', {
      model: 'marked/1',
      source: { query: 'SELECT id, x FROM events WHERE day = {{ logical_date }}' },
      retries: 0,
      ...spec,
    });
    expect(response.status, response.text).toBe(201);
    return response.body;
  };
  const run = async (job: string, date: string) => {
    const response = await server.request('POST', `/api/v1/jobs/${job}/runs`, { logical_date: date });
    expect(response.status, response.text).toBe(202);
    return finished(server, job, response.body.id);
  };

  it('stamps every row with its metadata, and a re-run of a date leaves exactly one copy', async () => {
    await createJob({ name: 'daily', sink: { table: 'scores' } });
    const first = await run('daily', '2001-01-01');
    expect(first).toMatchObject({
      status: 'succeeded',
      rows_read: 4,
      rows_written: 4,
      rows_failed: 0,
      model: { name: 'marked', version: 1 },
    });
    const again = await run('daily', '2001-01-01');
    expect(again.status).toBe('succeeded');
    const rows = await warehouse.query('SELECT * FROM scores ORDER BY id');
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(row).toMatchObject({
        model_name: 'marked',
        model_version: 1,
        environment: null,
        job_run_id: again.id,
        logical_date: '2001-01-01',
      });
      expect(row.y).toBe(row.x);
      expect(row.prediction_timestamp).toBeInstanceOf(Date);
    }
    const logs = await server.request('GET', `/api/v1/jobs/daily/runs/${again.number}/logs`);
    expect(logs.body.lines.map((l: { message: string }) => l.message).join('\n')).toMatch(
      /resolved to marked\/1[\s\S]*published 4 rows/,
    );
  });

  it('backfills three dates into three partitions, and does not queue them twice', async () => {
    await createJob({ name: 'backfilled', sink: { table: 'backfilled' } });
    const response = await server.request('POST', '/api/v1/jobs/backfilled/backfill', {
      from: '2001-01-01',
      to: '2001-01-03',
    });
    expect(response.status, response.text).toBe(202);
    expect(response.body.queued.map((r: { logical_date: string }) => r.logical_date)).toEqual([
      '2001-01-01',
      '2001-01-02',
      '2001-01-03',
    ]);
    for (const queued of response.body.queued)
      expect((await finished(server, 'backfilled', queued.id)).status).toBe('succeeded');
    expect(
      await warehouse.query('SELECT logical_date, count(*) AS n FROM backfilled GROUP BY 1 ORDER BY 1'),
    ).toEqual([
      { logical_date: '2001-01-01', n: 4 },
      { logical_date: '2001-01-02', n: 4 },
      { logical_date: '2001-01-03', n: 4 },
    ]);
    const repeat = await server.request('POST', '/api/v1/jobs/backfilled/backfill', {
      from: '2001-01-01',
      to: '2001-01-03',
    });
    expect(repeat.body.queued).toEqual([]);
    expect(repeat.body.skipped).toHaveLength(3);
  });

  it('sets aside rows that cannot be scored with the reason, and fails the run past max_error_rate publishing nothing', async () => {
    await warehouse.query(
      `CREATE TABLE dirty AS SELECT * FROM (VALUES (1, 0.0), (2, ${MARKED}.0), (3, NULL), (4, 1.0)) t(id, x)`,
    );
    await createJob({
      name: 'tolerant',
      source: { query: 'SELECT id, x FROM dirty' },
      sink: { table: 'tolerant' },
      max_error_rate: 0.5,
    });
    const tolerant = await run('tolerant', '2001-01-01');
    expect(tolerant).toMatchObject({ status: 'succeeded', rows_read: 4, rows_written: 2, rows_failed: 2 });
    expect(await warehouse.query('SELECT id, y FROM tolerant ORDER BY id')).toEqual([
      { id: 1, y: 0 },
      { id: 4, y: 1 },
    ]);
    const errors = await warehouse.query(
      'SELECT row_number, error_code, "row" FROM tolerant_errors ORDER BY row_number',
    );
    expect(errors.map((e) => [e.row_number, e.error_code])).toEqual([
      [1, 'INFERENCE_FAILED'],
      [2, 'INVALID_VALUE'],
    ]);
    expect(JSON.parse(String(errors[0]!.row))).toEqual({ id: 2, x: MARKED });

    await createJob({
      name: 'strict',
      source: { query: 'SELECT id, x FROM dirty' },
      sink: { table: 'strict' },
      max_error_rate: 0,
    });
    const strict = await run('strict', '2001-01-01');
    expect(strict.status).toBe('failed');
    expect(strict.error).toMatch(/2 of 4 rows .* could not be scored/);
    expect(await warehouse.describeTable('strict')).toBeNull();
  });

  it('fires on its schedule, retries after a failure, and records both attempts', async () => {
    const at = new Date(Date.now() + 2500);
    const cron = `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`;
    await createJob({
      name: 'nightly',
      schedule: cron,
      source: { query: 'SELECT id, x FROM late_table' },
      sink: { table: 'nightly' },
      retries: 1,
      retry_delay_seconds: 2,
    });
    const failed = await waitFor('the scheduled attempt to fail', async () => {
      const { body } = await server.request('GET', '/api/v1/jobs/nightly/runs');
      return body.runs.find((r: { status: string }) => r.status === 'failed');
    });
    expect(failed).toMatchObject({
      trigger: 'schedule',
      attempt: 1,
      scheduled_for: new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString(),
    });
    expect(failed.error).toMatch(/late_table/);
    // The table the query needs appears before the retry starts.
    await warehouse.query('CREATE TABLE late_table AS SELECT 1 AS id, 1.0 AS x');
    const retried = await waitFor('the retry to succeed', async () => {
      const { body } = await server.request('GET', '/api/v1/jobs/nightly/runs');
      return body.runs.find((r: { status: string }) => r.status === 'succeeded');
    });
    expect(retried).toMatchObject({
      trigger: 'retry',
      attempt: 2,
      logical_date: failed.logical_date,
      rows_written: 1,
    });
    const { body } = await server.request('GET', '/api/v1/jobs/nightly/runs');
    expect(body.runs.map((r: { attempt: number; status: string }) => [r.attempt, r.status])).toEqual([
      [2, 'succeeded'],
      [1, 'failed'],
    ]);
  });

  it('writes files: one Hive-style partition per date, replaced whole by a re-run, appended to in append mode', async () => {
    await createJob({ name: 'to-files', sink: { warehouse: 'files:exports', table: 'scores' } });
    for (const date of ['2001-01-01', '2001-01-02', '2001-01-01'])
      expect((await run('to-files', date)).status).toBe('succeeded');
    const root = join(server.dataDir, 'exports/scores');
    expect(readdirSync(root).sort()).toEqual([
      '.slipway-sink',
      'logical_date=2001-01-01',
      'logical_date=2001-01-02',
    ]);
    expect(readdirSync(join(root, 'logical_date=2001-01-01'))).toHaveLength(1);
    // The exports folder as a files: warehouse: the default warehouse's queries cannot read it.
    const exports = new FilesWarehouse(join(server.dataDir, 'exports'), 'parquet');
    const read = (path: string) =>
      exports.query(
        `SELECT logical_date::VARCHAR AS day, count(*) AS n, bool_and(y = x) AS exact, min(model_name) AS model FROM read_parquet('${path}/**/*.parquet', hive_partitioning = false) GROUP BY 1 ORDER BY 1`,
      );
    expect(await read(root)).toEqual([
      { day: '2001-01-01', n: 4, exact: true, model: 'marked' },
      { day: '2001-01-02', n: 4, exact: true, model: 'marked' },
    ]);

    await createJob({
      name: 'appending',
      write_mode: 'append',
      sink: { warehouse: 'files:exports?format=csv', table: 'log' },
    });
    for (const date of ['2001-01-03', '2001-01-03'])
      expect((await run('appending', date)).status).toBe('succeeded');
    const csv = join(server.dataDir, 'exports/log/logical_date=2001-01-03');
    expect(readdirSync(csv).filter((f) => f.endsWith('.csv'))).toHaveLength(2);
    expect(readdirSync(join(server.dataDir, 'exports/.slipway-staging'))).toEqual([]);
    await exports.close();
  });

  it('resolves an environment to the version it serves, and writes the environment on every row', async () => {
    await createJob({ name: 'from-dev', model: 'marked', environment: 'dev', sink: { table: 'from_dev' } });
    const done = await run('from-dev', '2001-01-02');
    expect(done).toMatchObject({ status: 'succeeded', model: { name: 'marked', version: 1 } });
    expect(await warehouse.query('SELECT DISTINCT environment FROM from_dev')).toEqual([
      { environment: 'dev' },
    ]);
  });

  it('cancels a running run: it stops and publishes nothing', async () => {
    await createJob({
      name: 'long',
      source: { query: 'SELECT i AS id, CAST(i % 2 AS DOUBLE) AS x FROM range(20000000) t(i)' },
      sink: { table: 'long' },
      batch_rows: 1000,
    });
    const started = await server.request('POST', '/api/v1/jobs/long/runs', { logical_date: '2001-01-01' });
    await waitFor('rows to flow', async () => {
      const { body } = await server.request('GET', `/api/v1/jobs/long/runs/${started.body.id}`);
      return body.rows_written > 0 ? body : undefined;
    });
    const cancel = await server.request('POST', `/api/v1/jobs/long/runs/${started.body.id}/cancel`, {});
    expect(cancel.status).toBe(200);
    expect((await finished(server, 'long', started.body.id)).status).toBe('cancelled');
    expect(await warehouse.describeTable('long')).toBeNull();
    const again = await server.request('POST', `/api/v1/jobs/long/runs/${started.body.id}/cancel`, {});
    expect([again.status, again.body.code]).toEqual([409, 'FAILED_PRECONDITION']);
  });

  it('fails a run whose input mapping names an input the model does not take', async () => {
    await createJob({ name: 'mapped', sink: { table: 'mapped' }, inputs: { z: 'x' } });
    const failed = await run('mapped', '2001-01-01');
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/"z".*inputs are x/);
  });

  it('refuses bad jobs with a clear 4xx and stores nothing', async () => {
    const base = { name: 'bad', model: 'marked/1', source: { query: 'SELECT 1' }, sink: { table: 't' } };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, schedule: 'every night' }, 'INVALID_ARGUMENT'],
      [{ ...base, timezone: 'Mars/Olympus' }, 'INVALID_ARGUMENT'],
      [{ ...base, model: 'marked' }, 'INVALID_ARGUMENT'],
      [{ ...base, model: 'marked/1', environment: 'prod' }, 'INVALID_ARGUMENT'],
      [{ ...base, source: { query: 'SELECT 1', warehouse: 'mysql://x' } }, 'INVALID_ARGUMENT'],
      [{ ...base, max_error_rate: 2 }, 'INVALID_ARGUMENT'],
      [{ ...base, write_mode: 'upsert' }, 'INVALID_ARGUMENT'],
      [{ ...base, extra: true }, 'INVALID_ARGUMENT'],
      [{ ...base, sink: { table: 'scores; DROP TABLE events' } }, 'INVALID_ARGUMENT'],
      [{ ...base, sink: { table: `t${'x'.repeat(60)}` } }, 'INVALID_ARGUMENT'],
    ];
    for (const [spec, code] of cases) {
      const response = await server.request('POST', '/api/v1/jobs', spec);
      expect([response.status, response.body.code], JSON.stringify(spec)).toEqual([400, code]);
    }
    expect((await server.request('GET', '/api/v1/jobs/bad')).status).toBe(404);
    expect(
      (await server.request('POST', '/api/v1/jobs/daily/runs', { logical_date: '2001-02-30' })).body.code,
    ).toBe('INVALID_ARGUMENT');
    expect(
      (await server.request('POST', '/api/v1/jobs/daily/backfill', { from: '2001-01-03', to: '2001-01-01' }))
        .status,
    ).toBe(400);
    expect((await server.request('GET', '/api/v1/jobs/nope/runs')).status).toBe(404);
    // Creating a job that exists is a conflict, however many ask at once; PUT replaces it.
    const twin = { ...base, name: 'twin' };
    const attempts = await Promise.all([1, 2, 3].map(() => server.request('POST', '/api/v1/jobs', twin)));
    expect(attempts.map((r) => r.status).sort()).toEqual([201, 409, 409]);
    expect(attempts.filter((r) => r.status === 409).map((r) => r.body.code)).toEqual([
      'ALREADY_EXISTS',
      'ALREADY_EXISTS',
    ]);
    expect((await server.request('PUT', '/api/v1/jobs/twin', twin)).status).toBe(200);
    expect((await server.request('GET', '/api/v1/jobs/daily/runs/999')).body.code).toBe('NOT_FOUND');
  });
});

describe('a job reading and writing a real PostgreSQL database', () => {
  let server: TestServer;
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let postgres: PostgresWarehouse;

  beforeAll(async () => {
    database = await freshDatabase();
    postgres = new PostgresWarehouse(database.url);
    await postgres.query(`CREATE TABLE features (id bigint, day date, x double precision)`);
    await postgres.query(
      `INSERT INTO features SELECT i, DATE '2001-01-01' + (i % 2), (i % 2)::float8 FROM generate_series(0, 9) i`,
    );
    server = await startServer(
      {},
      {
        allInOne: true,
        configYaml: `warehouses:\n  pg: "${database.url}"\n`,
      },
    );
    expect((await server.push('marked', join(FIXTURES, 'fails-on-marked.onnx'))).status).toBe(201);
  });
  afterAll(async () => {
    await server.stop();
    await postgres.close();
    await database.drop();
  });

  it('scores a Postgres source into a Postgres sink, one partition per date', async () => {
    const created = await server.request('POST', '/api/v1/jobs', {
      name: 'pg-scores',
      model: 'marked/1',
      source: { warehouse: 'pg', query: 'SELECT id, x FROM features WHERE day = {{ logical_date }}' },
      sink: { warehouse: 'pg', table: 'public.scores' },
    });
    expect(created.status, created.text).toBe(201);
    for (const date of ['2001-01-01', '2001-01-02', '2001-01-01']) {
      const queued = await server.request('POST', '/api/v1/jobs/pg-scores/runs', { logical_date: date });
      expect((await finished(server, 'pg-scores', queued.body.id)).status).toBe('succeeded');
    }
    const rows = await postgres.query(
      'SELECT logical_date::text AS day, count(*)::int AS n, bool_and(y = x) AS exact, min(model_name) AS model FROM scores GROUP BY 1 ORDER BY 1',
    );
    expect(rows).toEqual([
      { day: '2001-01-01', n: 5, exact: true, model: 'marked' },
      { day: '2001-01-02', n: 5, exact: true, model: 'marked' },
    ]);
  });
});

describe('a server killed in the middle of a run', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slipway-job-crash-'));
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child) await killed(child);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('leaves the partition as it was, and the run is marked failed after the restart', async () => {
    const env = { SLIPWAY_JOB_LEASE_MS: '1000', SLIPWAY_INFERENCE_WORKERS: '1' };
    const first = await serveProcess(dataDir, env);
    child = first.child;
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${first.url}${path}`, {
        method,
        ...(body === undefined
          ? {}
          : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
      return {
        status: response.status,
        body: (await response.json()) as Record<string, unknown> & { id: string; status: string },
      };
    };
    await call('POST', '/api/v1/models', { name: 'marked' });
    const form = new FormData();
    form.set(
      'model',
      new Blob([
        await import('node:fs').then((fs) => fs.readFileSync(join(FIXTURES, 'fails-on-marked.onnx'))),
      ]),
      'model.onnx',
    );
    expect(
      (
        await fetch(`${first.url}/api/v1/models/marked/versions`, {
          method: 'POST',
          headers: { 'x-slipway-client': 'slipway-tests' },
          body: form,
        })
      ).status,
    ).toBe(201);
    const rows = (n: number) => `SELECT i AS id, CAST(i % 2 AS DOUBLE) AS x FROM range(${n}) t(i)`;
    await call('POST', '/api/v1/jobs', {
      name: 'crashy',
      model: 'marked/1',
      source: { query: rows(3) },
      sink: { table: 'crashy' },
      retries: 0,
      batch_rows: 1000,
    });
    const small = await call('POST', '/api/v1/jobs/crashy/runs', { logical_date: '2001-01-01' });
    await finished({ request: call }, 'crashy', small.body.id);

    await call('PUT', '/api/v1/jobs/crashy', {
      name: 'crashy',
      model: 'marked/1',
      source: { query: rows(50_000_000) },
      sink: { table: 'crashy' },
      retries: 0,
      batch_rows: 1000,
    });
    const big = await call('POST', '/api/v1/jobs/crashy/runs', { logical_date: '2001-01-01' });
    await waitFor('the big run to write rows', async () => {
      const { body } = await call('GET', `/api/v1/jobs/crashy/runs/${big.body.id}`);
      return Number(body.rows_written) > 5000 ? body : undefined;
    });
    await killed(child);

    const warehouse = new DuckDbWarehouse(join(dataDir, 'warehouse.duckdb'));
    expect(await warehouse.query('SELECT count(*) AS n, max(job_run_id) AS run FROM crashy')).toEqual([
      { n: 3, run: small.body.id },
    ]);
    await warehouse.close();

    const second = await serveProcess(dataDir, env);
    child = second.child;
    const request = async (method: string, path: string) => {
      const response = await fetch(`${second.url}${path}`, { method });
      return { status: response.status, body: await response.json() };
    };
    const after = await finished({ request }, 'crashy', big.body.id);
    expect(after.status).toBe('failed');
    expect(after.error).toMatch(/lease expired/);
  });
});

describe('a server stopped in the middle of a run', () => {
  it('fails the run (it was not cancelled) and queues its retry, which the next server runs', async () => {
    const first = await startServer({ SLIPWAY_JOB_LEASE_MS: 1000 }, { allInOne: true });
    expect((await first.push('marked', join(FIXTURES, 'fails-on-marked.onnx'))).status).toBe(201);
    const created = await first.request('POST', '/api/v1/jobs', {
      name: 'interrupted',
      model: 'marked/1',
      source: { query: 'SELECT i AS id, CAST(i % 2 AS DOUBLE) AS x FROM range(20000000) t(i)' },
      sink: { table: 'interrupted' },
      batch_rows: 1000,
      retries: 1,
      retry_delay_seconds: 3600,
    });
    expect(created.status, created.text).toBe(201);
    const queued = await first.request('POST', '/api/v1/jobs/interrupted/runs', {
      logical_date: '2001-01-01',
    });
    await waitFor('rows to flow', async () => {
      const { body } = await first.request('GET', `/api/v1/jobs/interrupted/runs/${queued.body.id}`);
      return body.rows_written > 0 ? body : undefined;
    });
    await first.app.close();

    const second = await startServer({ SLIPWAY_DATA_DIR: first.dataDir }, { allInOne: true });
    try {
      const { body } = await second.request('GET', '/api/v1/jobs/interrupted/runs');
      expect(
        body.runs.map((r: { attempt: number; status: string; trigger: string }) => [
          r.attempt,
          r.status,
          r.trigger,
        ]),
      ).toEqual([
        [2, 'queued', 'retry'],
        [1, 'failed', 'manual'],
      ]);
      expect(body.runs[1].error).toMatch(/server stopped/);
      const warehouse = new DuckDbWarehouse(join(first.dataDir, 'warehouse.duckdb'));
      expect(await warehouse.describeTable('interrupted')).toBeNull();
      await warehouse.close();
    } finally {
      await second.stop();
      rmSync(first.dataDir, { recursive: true, force: true });
    }
  });
});
