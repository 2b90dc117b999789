import { createRequire } from 'node:module';

/**
 * node-postgres, loaded the first time a `postgres://` database or warehouse is opened: a server on
 * SQLite never loads it. Loaded synchronously (it is CommonJS), so that opening stays synchronous.
 */
const require = createRequire(import.meta.url);

let loaded: typeof import('pg') | undefined;

export function pg(): typeof import('pg') {
  loaded ??= require('pg') as typeof import('pg');
  return loaded;
}

let cursor: typeof import('pg-cursor') | undefined;

/** pg-cursor (streams a query's rows in batches), loaded with node-postgres. */
export function pgCursor(): typeof import('pg-cursor') {
  cursor ??= require('pg-cursor') as typeof import('pg-cursor');
  return cursor;
}
