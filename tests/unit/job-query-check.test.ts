import { describe, expect, it } from 'vitest';
import { safeEngineMessage } from '../../src/jobs/warehouse/engine-error.js';
import { maskConnectionString } from '../../src/jobs/warehouse/references.js';
import { checkSourceQuery } from '../../src/jobs/warehouse/source-query.js';

describe('checkSourceQuery', () => {
  const refused = [
    "SELECT 1; COPY (SELECT 1) TO '/tmp/x'",
    "SELECT 1 --\n; COPY (SELECT 1) TO '/tmp/x'",
    "SELECT 1 /* ; */; ATTACH '/tmp/a.db'",
    "SELECT ';'; DROP TABLE t",
    "WITH w AS (COPY (SELECT 1) TO '/tmp/x') SELECT 1",
    'WITH w AS (DELETE FROM t RETURNING *) SELECT * FROM w',
    "COPY (SELECT 1) TO '/tmp/x'",
    "COPY (SELECT 1) TO PROGRAM 'id'",
    "ATTACH '/tmp/a.db'",
    'DETACH a',
    'INSTALL httpfs',
    'LOAD httpfs',
    'SET enable_external_access = true',
    'RESET lock_configuration',
    'SET ROLE postgres',
    'PRAGMA database_list',
    "EXPORT DATABASE '/tmp/x'",
    "IMPORT DATABASE '/tmp/x'",
    'CALL pragma_version()',
    'CREATE TABLE t (a INT)',
    'INSERT INTO t VALUES (1)',
    'UPDATE t SET a = 1',
    'DELETE FROM t',
    'DROP TABLE t',
    'ALTER TABLE t ADD COLUMN b INT',
    'CHECKPOINT',
    'VACUUM',
    'USE memory',
    'EXPLAIN SELECT 1',
    'SELECT 1 INTO t2',
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_catalog.PG_READ_BINARY_FILE('/etc/passwd')",
    "SELECT lo_export(1, '/tmp/x')",
    "SELECT * FROM dblink('dbname=x', 'SELECT 1')",
    "SELECT set_config('a', 'b', false)",
    "SELECT * FROM ts_stat('SELECT to_tsvector(pg_read_file(''/etc/passwd''))')",
    "SELECT * FROM pg_catalog.TS_STAT('SELECT 1')",
    "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
    "SELECT query_to_xml('SELECT 1', true, true, '')",
    "SELECT * FROM query('SELECT 1')",
    '',
    '   ',
    '-- only a comment',
    'SELEC 1',
  ];
  it.each(refused)('refuses %j', async (query) => {
    await expect(checkSourceQuery(query)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { field: 'source.query' },
    });
  });

  const accepted = [
    'SELECT 1',
    'SELECT 1;',
    'select id from events -- trailing; comment',
    "SELECT ';' AS s /* ; COPY */",
    'WITH a AS (SELECT 1 AS x) SELECT * FROM a',
    'FROM events',
    'FROM events SELECT id',
    'VALUES (1), (2)',
    '(SELECT 1) UNION ALL (SELECT 2)',
    "SELECT * FROM read_parquet('/srv/data/flights.parquet') WHERE d = DATE '2001-01-01'",
    "SELECT $$COPY (SELECT 1) TO '/tmp/x'$$ AS text",
  ];
  it.each(accepted)('accepts %j', async (query) => {
    expect(await checkSourceQuery(query)).toBe(query);
  });
});

describe('maskConnectionString', () => {
  const forms: [string, string][] = [
    ['postgres://u:pw@host/db', 'postgres://u:***@host/db'],
    ['postgresql://u:pw@host:5432/db', 'postgresql://u:***@host:5432/db'],
    ['postgres://u:p@ss@w@rd@host/db', 'postgres://u:***@host/db'],
    ['postgres://u:p%40ss@host/db', 'postgres://u:***@host/db'],
    ['postgres://u:a/b:c@host/db', 'postgres://u:***@host/db'],
    ['postgres://u@host/db?password=pw&sslmode=require', 'postgres://u@host/db?password=***&sslmode=require'],
    [
      'postgres://host/db?sslmode=verify-full&sslpassword=pw',
      'postgres://host/db?sslmode=verify-full&sslpassword=***',
    ],
    ['postgres://host/db?PASSWORD=pw', 'postgres://host/db?PASSWORD=***'],
    ['host=db port=5432 password=pw user=u', 'host=db port=5432 password=*** user=u'],
    ["host=db password='a b\\' c' user=u", 'host=db password=*** user=u'],
    ['password = pw host=db', 'password = *** host=db'],
    ['host=db sslpassword=pw', 'host=db sslpassword=***'],
    ['connect to postgres://u:pw@h/db failed', 'connect to postgres://u:***@h/db failed'],
    ['postgres://u:pa ss@h/db', 'postgres://u:***@h/db'],
    ['postgres://u:p\tw@h/db', 'postgres://u:***@h/db'],
    ['host=db password="a b" user=u', 'host=db password=*** user=u'],
    ['host=db password="a \\" b" user=u', 'host=db password=*** user=u'],
    [
      'postgres://h/db?options=-c%20password%3Dpw%20x&sslmode=require',
      'postgres://h/db?options=-c%20password%3D***&sslmode=require',
    ],
    ['default', 'default'],
    ['duckdb:/srv/warehouse.duckdb', 'duckdb:/srv/warehouse.duckdb'],
    ['postgres://u@host/db', 'postgres://u@host/db'],
  ];
  it.each(forms)('masks %j', (input, masked) => {
    expect(maskConnectionString(input)).toBe(masked);
    expect(maskConnectionString(input)).not.toMatch(/\bpw\b|p@ss|a b/);
  });
});

describe('safeEngineMessage', () => {
  const withheld = "(the engine's message is withheld: it may quote the data read)";
  const cases: [string, string][] = [
    [
      "Conversion Error: Could not convert string 'root:x:0:0:root:/root:/bin/bash' to INT32",
      `Conversion Error ${withheld}`,
    ],
    [
      'Invalid Input Error: CSV Error on Line: 2\nOriginal Line: root:x:0:0:root\nPossible fixes',
      `Invalid Input Error ${withheld}`,
    ],
    ['Invalid Input Error: hunter2', `Invalid Input Error ${withheld}`],
    [
      'Binder Error: Referenced column "delay" not found in FROM clause!',
      'Binder Error: Referenced column "delay" not found in FROM clause!',
    ],
    [
      'Permission Error: Cannot access file "/etc/passwd" - file system operations are disabled',
      'Permission Error: Cannot access file "…" - file system operations are disabled',
    ],
    ["unterminated 'secret line", "unterminated '…'"],
    ["it''s 'a ''quoted'' value'", "it'…'s '…'"],
  ];
  it.each(cases)('reduces %j', (raw, safe) => {
    expect(safeEngineMessage(new Error(raw))).toBe(safe);
  });

  it('keeps only the SQLSTATE of a PostgreSQL error whose class may quote a row', () => {
    const error = (message: string, code: string) => Object.assign(new Error(message), { code });
    expect(safeEngineMessage(error('invalid input syntax for type integer: "hunter2"', '22P02'))).toBe(
      `SQLSTATE 22P02 ${withheld}`,
    );
    expect(safeEngineMessage(error('relation "hunter2" does not exist', '42P01'))).toBe(
      'relation "…" does not exist',
    );
  });

  it('keeps at most 300 characters', () => {
    expect(safeEngineMessage(new Error('x'.repeat(1000))).length).toBeLessThanOrEqual(301);
  });
});
