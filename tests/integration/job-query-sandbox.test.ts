import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobServer } from '../helpers/jobs.js';
import { freshDatabase } from '../helpers/postgres.js';
import type { TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A deployer's job query is hostile: it must not write files, reach files outside its warehouse, or
 * make a viewer-readable answer carry a file's contents. Each escape is refused when the job is saved,
 * or its run fails with nothing published; afterwards the file system is checked and every answer
 * the API gave about the job is searched for the secret.
 */
describe('job query sandbox', () => {
  let server: TestServer;
  let stop: () => Promise<void>;
  let outside: string;
  let secretFile: string;
  let secretCsv: string;
  const SECRET = `SECRET-${randomBytes(8).toString('hex')}`;
  /** Every body the API answered about the escape jobs: none may hold the secret. */
  const answers: string[] = [];
  let postgres: { url: string; drop: () => Promise<void> };

  beforeAll(async () => {
    ({ server, stop } = await jobServer());
    outside = mkdtempSync(join(tmpdir(), 'slipway-outside-'));
    secretFile = join(outside, 'secret.txt');
    writeFileSync(secretFile, `${SECRET}:x:0:0\n${SECRET}\n`);
    secretCsv = join(outside, 'secret.csv');
    writeFileSync(secretCsv, `name,value\n${SECRET},1\n`);
    postgres = await freshDatabase();
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    await client.query(`CREATE TABLE events AS
      SELECT i AS id, DATE '2001-01-01' + (i % 3) AS day, CAST(i % 2 AS DOUBLE PRECISION) AS x
      FROM generate_series(0, 11) AS t(i)`);
    await client.query('CREATE SEQUENCE counter');
    await client.end();
  });
  afterAll(async () => {
    await stop();
    await postgres.drop();
    rmSync(outside, { recursive: true, force: true });
  });

  const target = (name: string) => join(outside, name);

  /**
   * Saves a job with the query; when the server takes it, runs it and expects a failed run with no
   * table published. Returns the status of the save (201 or 400) and records every answer.
   */
  async function attempt(name: string, query: string, warehouse = 'default'): Promise<number> {
    const created = await server.request('POST', '/api/v1/jobs', {
      name,
      model: 'marked/1',
      source: { warehouse, query },
      sink: { table: name.replaceAll('-', '_') },
      retries: 0,
    });
    answers.push(created.text);
    if (created.status !== 201) {
      expect(created.status, created.text).toBe(400);
      expect(created.body.code).toBe('INVALID_ARGUMENT');
      return created.status;
    }
    const started = await server.request('POST', `/api/v1/jobs/${name}/runs`, { logical_date: '2001-01-01' });
    expect(started.status, started.text).toBe(202);
    const done = await waitFor(`run of ${name}`, async () => {
      const { body } = await server.request('GET', `/api/v1/jobs/${name}/runs/${started.body.id}`);
      return ['succeeded', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
    });
    expect(done.status, `${name}: ${JSON.stringify(done)}`).toBe('failed');
    expect(done.rows_written).toBe(0);
    for (const path of [
      `/api/v1/jobs/${name}`,
      `/api/v1/jobs/${name}/runs`,
      `/api/v1/jobs/${name}/runs/${started.body.id}`,
      `/api/v1/jobs/${name}/runs/${started.body.id}/logs`,
    ]) {
      answers.push((await server.request('GET', path)).text);
    }
    const published = await server.request('GET', `/api/v1/jobs/${name}/runs/${started.body.id}/logs`);
    expect(published.text).not.toMatch(/published \d+ rows/);
    return created.status;
  }

  const registry = () => join(server.dataDir, 'registry.db');
  const artifacts = () => join(server.dataDir, 'artifacts');

  /** [name, query, where it must be refused]: `save` (400 at POST) or `either` (save or run). */
  const duckdbEscapes = (): [string, string, 'save' | 'either'][] => [
    ['two-statements', `SELECT 1 AS x; COPY (SELECT 1) TO '${target('two.csv')}'`, 'save'],
    ['trailing-copy', `SELECT id, x FROM events;\nCOPY events TO '${target('events.csv')}'`, 'save'],
    ['comment-dash', `SELECT id, x FROM events --\n; COPY (SELECT 1) TO '${target('dash.csv')}'`, 'save'],
    [
      'comment-block',
      `SELECT id, x FROM events /* ; */; COPY (SELECT 1) TO '${target('block.csv')}'`,
      'save',
    ],
    ['string-semicolon', `SELECT id, x FROM events WHERE ';' = ';'; ATTACH '${target('a.db')}'`, 'save'],
    ['cte-copy', `WITH w AS (COPY (SELECT 1) TO '${target('cte.csv')}') SELECT * FROM w`, 'save'],
    [
      'cte-insert',
      "WITH w AS (INSERT INTO events VALUES (1, DATE '2001-01-01', 0) RETURNING *) SELECT * FROM w",
      'save',
    ],
    ['copy-to', `COPY (SELECT 1) TO '${target('copy.csv')}'`, 'save'],
    ['copy-from', `COPY events FROM '${secretCsv}'`, 'save'],
    ['attach', `ATTACH '${target('attached.db')}' AS pwn`, 'save'],
    ['detach', 'DETACH pwn', 'save'],
    ['install', 'INSTALL httpfs', 'save'],
    ['load', 'LOAD httpfs', 'save'],
    ['set-access', 'SET enable_external_access = true', 'save'],
    ['reset-lock', 'RESET lock_configuration', 'save'],
    ['pragma', 'PRAGMA database_list', 'save'],
    ['export', `EXPORT DATABASE '${target('export')}'`, 'save'],
    ['import', `IMPORT DATABASE '${outside}'`, 'save'],
    ['call', 'CALL pragma_version()', 'save'],
    ['create', 'CREATE TABLE pwned AS SELECT 1 AS x', 'save'],
    ['insert', "INSERT INTO events VALUES (1, DATE '2001-01-01', 0)", 'save'],
    ['update', 'UPDATE events SET x = 99', 'save'],
    ['delete', 'DELETE FROM events', 'save'],
    ['drop', 'DROP TABLE events', 'save'],
    ['alter', 'ALTER TABLE events ADD COLUMN y INTEGER', 'save'],
    ['checkpoint', 'CHECKPOINT', 'save'],
    ['vacuum', 'VACUUM', 'save'],
    ['use', 'USE memory', 'save'],
    ['query-function', `SELECT * FROM query('COPY (SELECT 1) TO ''${target('query.csv')}''')`, 'save'],
    ['read-passwd', "SELECT content AS x, 1 AS id FROM read_text('/etc/passwd')", 'either'],
    ['read-secret', `SELECT content AS x FROM read_text('${secretFile}')`, 'either'],
    ['cast-secret', `SELECT CAST(content AS INTEGER) AS x FROM read_text('${secretFile}')`, 'either'],
    ['csv-secret', `SELECT CAST(name AS INTEGER) AS x FROM read_csv('${secretCsv}')`, 'either'],
    ['csv-lines', `SELECT * FROM read_csv('${secretFile}', columns = {'x': 'INTEGER'})`, 'either'],
    ['blob-registry', `SELECT octet_length(content) AS x FROM read_blob('${registry()}')`, 'either'],
    ['glob-artifacts', `SELECT 1 AS x, file FROM glob('${artifacts()}/**')`, 'either'],
    ['parquet-outside', `SELECT * FROM read_parquet('${join(outside, '*.parquet')}')`, 'either'],
    ['json-secret', `SELECT * FROM read_json('${secretFile}')`, 'either'],
    ['sniff', `SELECT * FROM sniff_csv('${secretFile}')`, 'either'],
    ['relative-escape', `SELECT * FROM read_text('files/../registry.db')`, 'either'],
    ['remote', "SELECT * FROM read_parquet('https://example.com/x.parquet')", 'either'],
  ];

  it('refuses every escape from a DuckDB query, at save or at run, and writes nothing anywhere', async () => {
    const escapes = duckdbEscapes();
    expect(escapes.length).toBeGreaterThanOrEqual(25);
    for (const [name, query, where] of escapes) {
      const status = await attempt(`duck-${name}`, query);
      if (where === 'save') expect(status, name).toBe(400);
    }
    expect(readdirSync(outside).sort()).toEqual(['secret.csv', 'secret.txt']);
    expect(existsSync(join(server.dataDir, 'pwned'))).toBe(false);
    const { warehouse, stop: close } = await reopen();
    expect(await warehouse.describeTable('pwned')).toBeNull();
    expect(await warehouse.query('SELECT count(*) AS n, max(x) AS top FROM events')).toEqual([
      { n: 12, top: 1 },
    ]);
    await close();
  });

  it('refuses PostgreSQL escapes: file reads, COPY TO PROGRAM, large objects, dblink, SET ROLE, writes', async () => {
    const warehouse = postgres.url;
    const escapes: [string, string][] = [
      ['pg-read-file', "SELECT pg_read_file('/etc/passwd') AS x"],
      ['pg-read-secret', `SELECT pg_read_file('${secretFile}') AS x`],
      ['pg-read-binary', `SELECT pg_read_binary_file('${secretFile}') AS x`],
      ['pg-ls-dir', "SELECT pg_ls_dir('.') AS x"],
      ['pg-copy-program', `COPY (SELECT 1) TO PROGRAM 'touch ${target('program')}'`],
      ['pg-copy-file', `COPY events TO '${target('pg-copy.csv')}'`],
      ['pg-lo-export', `SELECT lo_export(lo_from_bytea(0, 'x'), '${target('lo')}') AS x`],
      ['pg-dblink', "SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(x int)"],
      ['pg-set-role', 'SET ROLE postgres'],
      ['pg-set-config', "SELECT set_config('default_transaction_read_only', 'off', false) AS x"],
      ['pg-query-to-xml', "SELECT query_to_xml('SELECT pg_read_file(''/etc/passwd'')', true, true, '') AS x"],
      ['pg-two-statements', 'SELECT 1 AS x; DROP TABLE events'],
    ];
    for (const [name, query] of escapes) expect(await attempt(name, query, warehouse), name).toBe(400);
    // A SELECT of a function that writes passes the parser; the read-only transaction stops it.
    await attempt('pg-nextval', "SELECT nextval('counter') AS x, 1 AS id", warehouse);
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      expect((await client.query('SELECT last_value, is_called FROM counter')).rows).toEqual([
        { last_value: '1', is_called: false },
      ]);
      expect((await client.query('SELECT count(*)::int AS n FROM events')).rows).toEqual([{ n: 12 }]);
    } finally {
      await client.end();
    }
    expect(readdirSync(outside).sort()).toEqual(['secret.csv', 'secret.txt']);
  });

  it('keeps legitimate queries working: CTEs, FROM-first, VALUES, and files in the warehouse’s own folder', async () => {
    const files = join(server.dataDir, 'files');
    mkdirSync(files, { recursive: true });
    const { warehouse, stop: close } = await reopen();
    await warehouse.query(
      `COPY (SELECT * FROM events) TO '${join(files, 'events.parquet')}' (FORMAT parquet)`,
    );
    await close();
    const good: [string, string][] = [
      [
        'cte',
        'WITH e AS (SELECT id, x FROM events) SELECT * FROM e WHERE TRUE -- a comment; not a statement',
      ],
      ['from-first', "FROM events SELECT id, x WHERE ';' <> ''"],
      ['own-parquet', `SELECT id, x FROM read_parquet('${join(files, 'events.parquet')}')`],
      ['union', 'SELECT id, x FROM events UNION ALL SELECT 100 AS id, 0.0 AS x'],
    ];
    for (const [name, query] of good) {
      const created = await server.request('POST', '/api/v1/jobs', {
        name: `good-${name}`,
        model: 'marked/1',
        source: { query },
        sink: { table: `good_${name.replaceAll('-', '_')}` },
        retries: 0,
      });
      expect(created.status, created.text).toBe(201);
      const started = await server.request('POST', `/api/v1/jobs/good-${name}/runs`, {
        logical_date: '2001-01-01',
      });
      const done = await waitFor(`run of good-${name}`, async () => {
        const { body } = await server.request('GET', `/api/v1/jobs/good-${name}/runs/${started.body.id}`);
        return ['succeeded', 'failed'].includes(body.status) ? body : undefined;
      });
      expect(done.status, JSON.stringify(done)).toBe('succeeded');
      expect(done.rows_written).toBeGreaterThan(0);
    }
  });

  it('never answers with the secret file’s contents', () => {
    expect(answers.length).toBeGreaterThan(50);
    for (const answer of answers) expect(answer).not.toContain(SECRET);
    for (const answer of answers) expect(answer).not.toMatch(/root:x:0:0/);
  });

  describe('files sinks write only what they own', () => {
    const sinkJob = (name: string, warehouse: string, mode = 'replace') =>
      server.request('POST', '/api/v1/jobs', {
        name,
        model: 'marked/1',
        source: { query: 'SELECT id, x FROM events WHERE day = {{ logical_date }}' },
        sink: { warehouse, table: 'scores' },
        write_mode: mode,
        retries: 0,
      });

    it('refuses Slipway’s data folder, a folder holding it, and its registry and artifacts', async () => {
      for (const folder of [
        server.dataDir,
        dirname(server.dataDir),
        '/',
        artifacts(),
        join(artifacts(), 'models'),
        registry(),
      ]) {
        const created = await sinkJob('into-data', `files:${folder}`);
        expect(created.status, `${folder}: ${created.text}`).toBe(400);
        expect(created.body.code).toBe('INVALID_ARGUMENT');
        expect(created.body.details.field).toBe('sink.warehouse');
      }
      const relative = await sinkJob('into-data', 'files:artifacts');
      expect(relative.status).toBe(400);
      const source = await server.request('POST', '/api/v1/jobs', {
        name: 'from-data',
        model: 'marked/1',
        source: { warehouse: `files:${server.dataDir}`, query: 'SELECT 1 AS x' },
        sink: { table: 'x' },
      });
      expect(source.status).toBe(400);
      expect(readdirSync(artifacts()).length).toBeGreaterThan(0);
      expect(existsSync(registry())).toBe(true);
    });

    it('refuses to replace or write into a folder it did not create, and deletes nothing', async () => {
      const user = join(outside, 'user-data');
      mkdirSync(join(user, 'scores', 'logical_date=2001-01-01'), { recursive: true });
      writeFileSync(join(user, 'scores', 'keep.txt'), 'mine');
      writeFileSync(join(user, 'scores', 'logical_date=2001-01-01', 'part-0.parquet'), 'mine too');
      for (const mode of ['replace', 'replace_partition', 'append']) {
        const name = `user-${mode.replaceAll('_', '-')}`;
        expect((await sinkJob(name, `files:${user}`, mode)).status).toBe(201);
        const started = await server.request('POST', `/api/v1/jobs/${name}/runs`, {
          logical_date: '2001-01-01',
        });
        const done = await waitFor(`run of ${name}`, async () => {
          const { body } = await server.request('GET', `/api/v1/jobs/${name}/runs/${started.body.id}`);
          return ['succeeded', 'failed'].includes(body.status) ? body : undefined;
        });
        expect(done.status).toBe('failed');
        expect(done.error).toMatch(/\.slipway-sink/);
      }
      expect(readFileSync(join(user, 'scores', 'keep.txt'), 'utf8')).toBe('mine');
      expect(readdirSync(join(user, 'scores')).sort()).toEqual(['keep.txt', 'logical_date=2001-01-01']);
      expect(readdirSync(join(user, 'scores', 'logical_date=2001-01-01'))).toEqual(['part-0.parquet']);

      // A folder the sink created itself carries the marker, and a replace of it goes ahead.
      expect((await sinkJob('own-replace', `files:${join(outside, 'owned')}`)).status).toBe(201);
      for (const date of ['2001-01-01', '2001-01-02']) {
        const started = await server.request('POST', '/api/v1/jobs/own-replace/runs', { logical_date: date });
        const done = await waitFor('own replace', async () => {
          const { body } = await server.request('GET', `/api/v1/jobs/own-replace/runs/${started.body.id}`);
          return ['succeeded', 'failed'].includes(body.status) ? body : undefined;
        });
        expect(done.status, JSON.stringify(done)).toBe('succeeded');
      }
      expect(readdirSync(join(outside, 'owned', 'scores')).sort()).toEqual([
        '.slipway-sink',
        'logical_date=2001-01-02',
      ]);
    });
  });

  it('masks the password of a warehouse URI in every answer and log line', async () => {
    const secrets = ['pw@with@ats', 'hunter2', 'sslsecret'];
    const references = [
      'postgres://scorer:pw@with@ats@127.0.0.1:1/warehouse',
      'postgresql://scorer:hunter2@127.0.0.1:1/warehouse?sslmode=disable',
      'postgres://scorer@127.0.0.1:1/warehouse?password=hunter2&sslpassword=sslsecret',
    ];
    for (const [i, reference] of references.entries()) {
      const name = `masked-${i}`;
      const created = await server.request('POST', '/api/v1/jobs', {
        name,
        model: 'marked/1',
        source: { warehouse: reference, query: 'SELECT 1 AS x' },
        sink: { table: 'masked' },
        retries: 0,
      });
      expect(created.status, created.text).toBe(201);
      const started = await server.request('POST', `/api/v1/jobs/${name}/runs`, {
        logical_date: '2001-01-01',
      });
      const done = await waitFor(`run of ${name}`, async () => {
        const { body } = await server.request('GET', `/api/v1/jobs/${name}/runs/${started.body.id}`);
        return ['succeeded', 'failed'].includes(body.status) ? body : undefined;
      });
      expect(done.status).toBe('failed');
      const seen = [
        created.text,
        (await server.request('GET', `/api/v1/jobs/${name}`)).text,
        (await server.request('GET', '/api/v1/jobs')).text,
        (await server.request('GET', `/api/v1/jobs/${name}/runs`)).text,
        (await server.request('GET', `/api/v1/jobs/${name}/runs/${started.body.id}/logs`)).text,
      ];
      expect(created.body.source.warehouse).toContain('***');
      for (const text of seen) for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });

  /** The default warehouse file, opened as Slipway opens it. */
  async function reopen() {
    const { warehouseFor } = await import('../../src/jobs/warehouse/warehouse-for-uri.js');
    const warehouse = warehouseFor('duckdb:warehouse.duckdb', {}, server.dataDir);
    return { warehouse, stop: () => warehouse.close() };
  }
});
