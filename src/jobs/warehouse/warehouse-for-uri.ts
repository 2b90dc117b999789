import { isAbsolute, join } from 'node:path';
import { SlipwayError } from '../../errors/index.js';
import { DuckDbWarehouse } from './duckdb-warehouse.js';
import { FILE_FORMATS, type FileFormat, FilesWarehouse } from './files-warehouse.js';
import { PostgresWarehouse } from './postgres-warehouse.js';
import { DEFAULT_WAREHOUSE, redactUri, WAREHOUSE_SCHEMES } from './references.js';
import type { Warehouse } from './warehouse.js';

/**
 * Opens the warehouse a job names: a name declared in slipway.yaml `warehouses:` (or `default`, the
 * DuckDB file `warehouse.duckdb` in the data directory), or a URI: `duckdb:path/to/file.duckdb`
 * (relative to the data directory), `files:path/to/folder` (Parquet; `?format=csv` or `?format=json`),
 * or `postgres://user:password@host:port/database`.
 */
export function warehouseFor(
  reference: string,
  named: Readonly<Record<string, string>>,
  dataDir: string,
): Warehouse {
  const uri = reference === DEFAULT_WAREHOUSE ? `duckdb:warehouse.duckdb` : (named[reference] ?? reference);
  if (uri.startsWith('duckdb:')) {
    const path = uri.slice('duckdb:'.length);
    if (path === '' || path === ':memory:') {
      throw new SlipwayError('INVALID_ARGUMENT', `Warehouse "${reference}" must name a DuckDB file.`, {
        warehouse: reference,
      });
    }
    return new DuckDbWarehouse(isAbsolute(path) ? path : join(dataDir, path));
  }
  if (uri.startsWith('files:')) {
    const [path = '', query = ''] = uri.slice('files:'.length).split('?', 2);
    const format = new URLSearchParams(query).get('format') ?? 'parquet';
    if (path === '' || !(FILE_FORMATS as readonly string[]).includes(format)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `Warehouse "${reference}" must name a folder and, optionally, a format: files:path/to/folder?format=${FILE_FORMATS.join('|')}.`,
        { warehouse: reference },
      );
    }
    return new FilesWarehouse(isAbsolute(path) ? path : join(dataDir, path), format as FileFormat);
  }
  if (uri.startsWith('postgres://') || uri.startsWith('postgresql://')) return new PostgresWarehouse(uri);
  throw new SlipwayError(
    'INVALID_ARGUMENT',
    `Warehouse "${redactUri(reference)}" is neither a name declared in slipway.yaml nor a URI starting with ${WAREHOUSE_SCHEMES.join(', ')}.`,
    { warehouse: redactUri(reference), named: Object.keys(named) },
  );
}

/** Whether a reference is well formed (a declared name, `default`, or a URI of a known scheme). */
