import { isAbsolute, join } from 'node:path';
import { SlipwayError } from '../../errors/index.js';
import { DuckDbWarehouse } from './duckdb-warehouse.js';
import { FILE_FORMATS, type FileFormat, FilesWarehouse } from './files-warehouse.js';
import { PostgresWarehouse } from './postgres-warehouse.js';
import { DEFAULT_WAREHOUSE, maskConnectionString, WAREHOUSE_SCHEMES } from './references.js';
import { assertNotSlipwayData, readableFolder } from './slipway-paths.js';
import type { Warehouse } from './warehouse.js';

/**
 * Opens the warehouse a job names: a name declared in slipway.yaml `warehouses:` (or `default`, the
 * DuckDB file `warehouse.duckdb` in the data directory), or a URI: `duckdb:path/to/file.duckdb`
 * (relative to the data directory), `files:path/to/folder` (Parquet; `?format=csv` or `?format=json`),
 * or `postgres://user:password@host:port/database`.
 *
 * Nothing is connected yet, but every path is checked here, when a job is saved and when a run starts:
 * no warehouse reads or writes Slipway's own data. A DuckDB file's queries may read files in the
 * folder holding it (the data folder's `files/` for the default warehouse); a `files:` folder's, in
 * that folder.
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
    const file = isAbsolute(path) ? path : join(dataDir, path);
    assertNotSlipwayData(file, dataDir, maskConnectionString(reference), 'is a DuckDB file at');
    return new DuckDbWarehouse(file, {
      readable: [readableFolder(file, dataDir, maskConnectionString(reference))],
    });
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
    const root = isAbsolute(path) ? path : join(dataDir, path);
    assertNotSlipwayData(root, dataDir, maskConnectionString(reference), 'reads and writes files in');
    return new FilesWarehouse(root, format as FileFormat);
  }
  if (uri.startsWith('postgres://') || uri.startsWith('postgresql://')) return new PostgresWarehouse(uri);
  throw new SlipwayError(
    'INVALID_ARGUMENT',
    `Warehouse "${maskConnectionString(reference)}" is neither a name declared in slipway.yaml nor a URI starting with ${WAREHOUSE_SCHEMES.join(', ')}.`,
    { warehouse: maskConnectionString(reference), named: Object.keys(named) },
  );
}
