import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../../src/jobs/warehouse/duckdb-warehouse.js';
import { PostgresWarehouse } from '../../src/jobs/warehouse/postgres-warehouse.js';
import { checkSourceQuery } from '../../src/jobs/warehouse/source-query.js';
import {
  type Column,
  integerValue,
  type RowBatch,
  toDate,
  type Warehouse,
} from '../../src/jobs/warehouse/warehouse.js';
import { freshDatabase } from '../helpers/postgres.js';

/**
 * The Warehouse contract, run against every implementation on a real backend: a DuckDB file, and a
 * database on the real PostgreSQL server the test run starts (tests/helpers/postgres-global.ts).
 */
const BACKENDS: {
  name: string;
  open: () => Promise<{ warehouse: Warehouse; cleanup: () => Promise<void> }>;
}[] = [
  {
    name: 'duckdb file',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'slipway-warehouse-'));
      return {
        warehouse: new DuckDbWarehouse(join(dir, 'warehouse.duckdb')),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const database = await freshDatabase();
      return { warehouse: new PostgresWarehouse(database.url), cleanup: database.drop };
    },
  },
];

const COLUMNS: Column[] = [
  { name: 'id', type: 'bigint' },
  { name: 'flag', type: 'boolean' },
  { name: 'score', type: 'double' },
  { name: 'name', type: 'text' },
  { name: 'day', type: 'date' },
  { name: 'at', type: 'timestamptz' },
];

const batch = (rows: unknown[][], columns: Column[] = COLUMNS): RowBatch => ({
  columns,
  values: columns.map((_, c) => rows.map((row) => row[c])),
  rowCount: rows.length,
});

const ROWS = [
  [1, true, 0.5, 'Adélie "quoted"', '2001-01-01', new Date('2001-01-01T10:00:00.123Z')],
  [2, false, -1.25, "o'brien", '2001-01-01', new Date('2001-01-01T11:00:00Z')],
  [3, null, null, null, '2001-01-02', null],
  [2 ** 53 + 1, true, 1e300, '', '2001-01-02', new Date('2001-01-02T00:00:00Z')],
];

async function readAll(warehouse: Warehouse, query: string, batchRows = 100) {
  const cursor = await warehouse.read(await checkSourceQuery(query), batchRows);
  const sizes: number[] = [];
  const rows: unknown[][] = [];
  for await (const b of cursor.batches()) {
    sizes.push(b.rowCount);
    // A column without missing values may arrive as a typed array: compare values in their plain form.
    for (let r = 0; r < b.rowCount; r += 1)
      rows.push(b.values.map((column, c) => plain(column[r], b.columns[c]!)));
  }
  return { columns: cursor.columns, sizes, rows };
}

function plain(value: unknown, column: Column): unknown {
  if (typeof value !== 'bigint') return value;
  if (column.type === 'timestamp' || column.type === 'timestamptz') return toDate(value);
  return integerValue(value);
}

async function write(
  warehouse: Warehouse,
  table: string,
  rows: unknown[][],
  options: Partial<{ mode: 'append' | 'replace' | 'replace_partition'; day: string }> = {},
) {
  const sink = await warehouse.openSink({
    tables: [{ table, columns: COLUMNS }],
    mode: options.mode ?? 'append',
    ...(options.day ? { partition: { column: 'day', value: options.day } } : {}),
  });
  await sink.write(0, batch(rows));
  return sink.commit();
}

for (const backend of BACKENDS) {
  describe(`Warehouse contract: ${backend.name}`, () => {
    let warehouse: Warehouse;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ warehouse, cleanup } = await backend.open());
    });
    afterEach(async () => {
      await warehouse.close();
      await cleanup();
    });

    it('round-trips every column type, nulls included, and reads in batches of the size asked', async () => {
      expect(await write(warehouse, 'scores', ROWS)).toEqual([4]);
      const read = await readAll(warehouse, 'SELECT * FROM scores ORDER BY id', 3);
      expect(read.columns).toEqual(COLUMNS);
      expect(read.sizes).toEqual([3, 1]);
      expect(read.rows).toEqual(
        ROWS.map((row) => row.map((v, i) => (i === 0 ? (v === 2 ** 53 + 1 ? BigInt(v as number) : v) : v))),
      );
    });

    it('writes columns that arrive as typed arrays (numbers, integers, timestamps in microseconds)', async () => {
      const columns: Column[] = [
        { name: 'id', type: 'bigint' },
        { name: 'score', type: 'double' },
        { name: 'at', type: 'timestamp' },
      ];
      const at = Date.UTC(2001, 0, 2, 3, 4, 5, 678);
      const sink = await warehouse.openSink({ tables: [{ table: 'typed', columns }], mode: 'append' });
      await sink.write(0, {
        columns,
        values: [
          BigInt64Array.of(7n, 2n ** 60n),
          Float32Array.of(0.5, -2),
          BigInt64Array.of(BigInt(at) * 1000n, 0n),
        ],
        rowCount: 2,
      });
      await sink.commit();
      expect((await readAll(warehouse, 'SELECT * FROM typed ORDER BY id')).rows).toEqual([
        [7, 0.5, new Date(at)],
        [2n ** 60n, -2, new Date(0)],
      ]);
    });

    it('reads the columns of an empty result and yields no batch', async () => {
      await write(warehouse, 'scores', ROWS);
      const read = await readAll(warehouse, 'SELECT id, name FROM scores WHERE id < 0');
      expect(read.columns.map((c) => c.name)).toEqual(['id', 'name']);
      expect(read.sizes).toEqual([]);
    });

    it('runs one SELECT only: a second statement or a bad query is the job’s error, and changes nothing', async () => {
      await write(warehouse, 'scores', ROWS);
      await expect(checkSourceQuery('SELECT 1; DROP TABLE scores')).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(
        warehouse.read(await checkSourceQuery('SELECT * FROM no_such_table'), 10),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      expect((await readAll(warehouse, 'SELECT * FROM scores')).rows).toHaveLength(4);
    });

    it('shows staged rows only after the commit, and nothing after an abort', async () => {
      await write(warehouse, 'scores', ROWS.slice(0, 1));
      const sink = await warehouse.openSink({
        tables: [{ table: 'scores', columns: COLUMNS }],
        mode: 'append',
      });
      await sink.write(0, batch(ROWS.slice(1)));
      expect((await readAll(warehouse, 'SELECT * FROM scores')).rows).toHaveLength(1);
      await sink.abort();
      await sink.abort();
      expect((await readAll(warehouse, 'SELECT * FROM scores')).rows).toHaveLength(1);
      expect(await write(warehouse, 'scores', ROWS.slice(1))).toEqual([3]);
      expect((await readAll(warehouse, 'SELECT * FROM scores')).rows).toHaveLength(4);
    });

    it('replaces one partition and leaves the others: a re-run leaves exactly one copy', async () => {
      await write(warehouse, 'scores', ROWS);
      const day1 = ROWS.slice(0, 2).map((row) => [...row.slice(0, 3), 'again', ...row.slice(4)]);
      await write(warehouse, 'scores', day1, { mode: 'replace_partition', day: '2001-01-01' });
      await write(warehouse, 'scores', day1, { mode: 'replace_partition', day: '2001-01-01' });
      const rows = (await readAll(warehouse, 'SELECT name, day FROM scores ORDER BY day, id')).rows;
      expect(rows).toEqual([
        ['again', '2001-01-01'],
        ['again', '2001-01-01'],
        [null, '2001-01-02'],
        ['', '2001-01-02'],
      ]);
    });

    it('replace recreates the table with the columns of the run', async () => {
      await write(warehouse, 'scores', ROWS);
      const columns: Column[] = [{ name: 'other', type: 'text' }];
      const sink = await warehouse.openSink({ tables: [{ table: 'scores', columns }], mode: 'replace' });
      await sink.write(0, batch([['x']], columns));
      await sink.commit();
      expect(await warehouse.describeTable('scores')).toEqual(columns);
      expect((await readAll(warehouse, 'SELECT * FROM scores')).rows).toEqual([['x']]);
    });

    it('refuses, before staging anything, a table that lacks a column the run writes', async () => {
      await write(warehouse, 'scores', ROWS);
      const columns: Column[] = [...COLUMNS, { name: 'extra', type: 'double' }];
      await expect(
        warehouse.openSink({ tables: [{ table: 'scores', columns }], mode: 'append' }),
      ).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        details: { problems: ['no column "extra" (double)'] },
      });
      await expect(
        warehouse.openSink({ tables: [{ table: 'bad-name; drop', columns }], mode: 'append' }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('commits several tables in one transaction', async () => {
      const errorColumns: Column[] = [{ name: 'reason', type: 'text' }];
      const sink = await warehouse.openSink({
        tables: [
          { table: 'scores', columns: COLUMNS },
          { table: 'scores_errors', columns: errorColumns },
        ],
        mode: 'append',
      });
      await sink.write(0, batch(ROWS));
      await sink.write(1, batch([['bad row']], errorColumns));
      expect(await sink.commit()).toEqual([4, 1]);
      expect((await readAll(warehouse, 'SELECT * FROM scores_errors')).rows).toEqual([['bad row']]);
    });

    it('writes by name into a table laid out otherwise: another order, a wider type, an extra column', async () => {
      await warehouse.query(
        'CREATE TABLE scores (extra TEXT, "at" TIMESTAMPTZ, day DATE, name TEXT, score REAL, flag BOOLEAN, id BIGINT)',
      );
      expect(await write(warehouse, 'scores', ROWS.slice(0, 2))).toEqual([2]);
      const rows = (
        await readAll(warehouse, 'SELECT id, flag, score, name, day, extra FROM scores ORDER BY id')
      ).rows;
      expect(rows).toEqual([
        [1, true, 0.5, 'Adélie "quoted"', '2001-01-01', null],
        [2, false, -1.25, "o'brien", '2001-01-01', null],
      ]);
    });

    it('fills the constant columns of every row, over batches of several chunks, typed or not', async () => {
      const columns: Column[] = [
        { name: 'id', type: 'bigint' },
        { name: 'score', type: 'double' },
      ];
      const constants = [
        { name: 'model_name', type: 'text' as const, value: 'flight-delay' },
        { name: 'model_version', type: 'bigint' as const, value: 3 },
        { name: 'logical_date', type: 'date' as const, value: '2001-02-03' },
        { name: 'scored_at', type: 'timestamptz' as const, value: new Date('2001-02-03T04:05:06Z') },
        { name: 'environment', type: 'text' as const, value: null },
      ];
      const sink = await warehouse.openSink({
        tables: [{ table: 'wide', columns, constants }],
        mode: 'replace',
      });
      // 5,000 rows as typed arrays (two full chunks and a short one), then 3 rows as plain values with
      // missing ones, then typed again: no chunk keeps a value or a null of the batch before it.
      const ids = BigInt64Array.from({ length: 5000 }, (_, i) => BigInt(i));
      await sink.write(0, { columns, values: [ids, Float64Array.from(ids, Number)], rowCount: 5000 });
      await sink.write(0, {
        columns,
        values: [
          [5000, 5001, 5002],
          [null, 1.5, null],
        ],
        rowCount: 3,
      });
      const more = BigInt64Array.from({ length: 2100 }, (_, i) => BigInt(6000 + i));
      await sink.write(0, { columns, values: [more, Float64Array.from(more, Number)], rowCount: 2100 });
      expect(await sink.commit()).toEqual([7103]);
      const summary = await readAll(
        warehouse,
        `SELECT count(*) AS n, count(score) AS scored, sum(id) AS ids, count(DISTINCT model_name) AS names,
                min(model_name) AS name, min(model_version) AS version, min(logical_date) AS day,
                max(scored_at) AS at, count(environment) AS environments
           FROM wide`,
      );
      expect(summary.rows).toEqual([
        [
          7103,
          7101,
          (4999 * 5000) / 2 + 5000 + 5001 + 5002 + (6000 * 2100 + (2099 * 2100) / 2),
          1,
          'flight-delay',
          3,
          '2001-02-03',
          new Date('2001-02-03T04:05:06Z'),
          0,
        ],
      ]);
      const gaps = await readAll(
        warehouse,
        'SELECT id FROM wide WHERE score IS NULL OR score <> id ORDER BY id',
      );
      expect(gaps.rows).toEqual([[5000], [5001], [5002]]);
    });

    it('keeps each batch’s text its own: long strings, then missing ones, then short ones', async () => {
      const columns: Column[] = [
        { name: 'id', type: 'bigint' },
        { name: 'note', type: 'text' },
      ];
      const sink = await warehouse.openSink({
        tables: [{ table: 'notes', columns, constants: [{ name: 'run', type: 'text', value: 'run-42' }] }],
        mode: 'replace',
      });
      // Longer than the 12 bytes DuckDB keeps inline, so they live in the chunk's string storage.
      const long = (i: number) => `a note longer than twelve bytes, number ${i}`;
      const batches = [
        Array.from({ length: 2500 }, (_, i) => long(i)),
        Array.from({ length: 2500 }, (_, i) => (i % 2 === 0 ? null : `s${i}`)),
        Array.from({ length: 30 }, (_, i) => long(5000 + i)),
      ];
      let id = 0;
      for (const notes of batches) {
        const ids = notes.map(() => id++);
        await sink.write(0, { columns, values: [ids, notes], rowCount: notes.length });
      }
      expect(await sink.commit()).toEqual([5030]);
      const read = await readAll(warehouse, 'SELECT note, run FROM notes ORDER BY id');
      expect(read.rows).toEqual(batches.flat().map((note) => [note, 'run-42']));
    });

    it('replace keeps the old table in sight until the commit, and after an abort', async () => {
      await write(warehouse, 'scores', ROWS);
      const columns: Column[] = [{ name: 'other', type: 'text' }];
      const aborted = await warehouse.openSink({ tables: [{ table: 'scores', columns }], mode: 'replace' });
      await aborted.write(0, batch([['x']], columns));
      expect((await readAll(warehouse, 'SELECT * FROM scores')).rows).toHaveLength(4);
      await aborted.abort();
      expect((await readAll(warehouse, 'SELECT * FROM scores')).rows).toHaveLength(4);
      const replaced = await warehouse.openSink({ tables: [{ table: 'scores', columns }], mode: 'replace' });
      await replaced.write(0, batch([['y']], columns));
      expect((await readAll(warehouse, 'SELECT * FROM scores')).rows).toHaveLength(4);
      await replaced.commit();
      expect((await readAll(warehouse, 'SELECT * FROM scores')).rows).toEqual([['y']]);
    });
  });
}
