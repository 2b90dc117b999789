import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../../src/errors/index.js';
import { checkSourceQuery } from '../../src/jobs/warehouse/source-query.js';
import type { Warehouse } from '../../src/jobs/warehouse/warehouse.js';
import { warehouseFor } from '../../src/jobs/warehouse/warehouse-for-uri.js';
import { freshDatabase } from '../helpers/postgres.js';

/** Reads the whole query; returns the error the warehouse raised (every query here must fail). */
async function failure(warehouse: Warehouse, query: string): Promise<SlipwayError> {
  try {
    const cursor = await warehouse.read(await checkSourceQuery(query), 100);
    for await (const _ of cursor.batches());
  } catch (error) {
    expect(error, query).toBeInstanceOf(SlipwayError);
    return error as SlipwayError;
  }
  throw new Error(`${query} succeeded; expected it to fail`);
}

/**
 * A run's error is read by viewers, so an engine's refusal of a job's query must never carry what
 * the query read: a secret in a file the warehouse may read, or in a PostgreSQL row, cannot be made
 * to appear in the error, whether the engine quotes it, prints it bare (`error()`, a regular
 * expression built from it) or the secret looks like an identifier or a number.
 */
describe('engine errors carry no data', () => {
  /** Shaped like an identifier, so no quoting rule can tell it from a column name. */
  const SECRET = 'hunter2secret';
  const NUMBER = '73519';
  // The cases are listed when the file is collected, so the folder is named then.
  const data = mkdtempSync(join(tmpdir(), 'slipway-leaks-'));
  const secretFile = join(data, 'files', 'secret.txt');
  let duckdb: Warehouse;
  let postgres: { url: string; drop: () => Promise<void> };
  let postgresWarehouse: Warehouse;

  beforeAll(async () => {
    mkdirSync(join(data, 'files'));
    writeFileSync(secretFile, `${SECRET}\n${NUMBER}\n`);
    duckdb = warehouseFor('default', {}, data);
    postgres = await freshDatabase();
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    await client.query(`CREATE TABLE users AS SELECT '${SECRET}'::text AS password, ${NUMBER} AS pin`);
    await client.end();
    postgresWarehouse = warehouseFor(postgres.url, {}, data);
  });
  afterAll(async () => {
    await duckdb.close();
    await postgresWarehouse.close();
    await postgres.drop();
    rmSync(data, { recursive: true, force: true });
  });

  const line = (n: number) => `split_part(content, chr(10), ${n})`;
  const from = () => `FROM read_text('${secretFile}')`;

  const duckdbLeaks = (): [string, string][] => [
    ['error() of the content', `SELECT error(content) ${from()}`],
    ['error() of one line', `SELECT error(${line(1)}) ${from()}`],
    ['regular expression of the content', `SELECT regexp_matches('a', '(' || ${line(1)}) ${from()}`],
    ['strptime of a line', `SELECT strptime(${line(1)}, '%Y') ${from()}`],
    ['JSON of a line', `SELECT json(${line(1)}) ${from()}`],
    ['JSON path of the content', `SELECT content::JSON->>'$.a' ${from()}`],
    ['date cast', `SELECT CAST(${line(1)} AS DATE) ${from()}`],
    ['timestamp cast', `SELECT CAST(${line(1)} AS TIMESTAMP) ${from()}`],
    ['base64', `SELECT from_base64(${line(1)}) ${from()}`],
    ['integer cast', `SELECT CAST(${line(1)} AS INTEGER) ${from()}`],
    ['number out of range', `SELECT CAST(CAST(${line(2)} AS BIGINT) AS TINYINT) ${from()}`],
    ['overflow', `SELECT CAST(${line(2)} AS INTEGER) * 2147483647 ${from()}`],
    ['struct cast', `SELECT CAST(${line(1)} AS STRUCT(a INTEGER)) ${from()}`],
    [
      'CSV with typed columns',
      `SELECT * FROM read_csv('${secretFile}', header = false, columns = {'a': 'INTEGER'})`,
    ],
    ['JSON file', `SELECT * FROM read_json('${secretFile}')`],
    ['printf', `SELECT printf('%' || ${line(1)}) ${from()}`],
  ];

  it.each(duckdbLeaks())('DuckDB: %s', async (_, query) => {
    const error = await failure(duckdb, query);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain(NUMBER);
  });

  const postgresLeaks = (): [string, string][] => [
    ['integer cast', 'SELECT password::int AS x FROM users'],
    ['date cast', 'SELECT password::date AS x FROM users'],
    ['json cast', 'SELECT password::json AS x FROM users'],
    ['regclass cast', 'SELECT password::regclass AS x FROM users'],
    ['regproc cast', 'SELECT password::regproc AS x FROM users'],
    ['to_date of a value', "SELECT to_date(password, 'YYYY-MM-DD') AS x FROM users"],
    ['number out of range', 'SELECT (pin * 100000)::smallint AS x FROM users'],
    ['regular expression', "SELECT regexp_match('a', '(' || password) AS x FROM users"],
    ['uuid cast', 'SELECT password::uuid AS x FROM users'],
  ];

  it.each(postgresLeaks())('PostgreSQL: %s', async (_, query) => {
    const error = await failure(postgresWarehouse, query);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain(NUMBER);
  });

  it('keeps the messages that name the query’s own mistakes', async () => {
    const missing = await failure(duckdb, 'SELECT nope FROM range(3)');
    expect(missing.message).toContain('Binder Error');
    expect(missing.message).toContain('"nope"');
    const table = await failure(postgresWarehouse, 'SELECT * FROM nowhere');
    expect(table.details).toMatchObject({ sqlstate: '42P01' });
  });
});
