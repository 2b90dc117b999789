import { lazyRequire } from '../lazy-require.js';

/** node-postgres, loaded the first time a `postgres://` database or warehouse is opened. */
export const pg = lazyRequire<typeof import('pg')>('pg');

/** pg-cursor (streams a query's rows in batches), loaded with node-postgres. */
export const pgCursor = lazyRequire<typeof import('pg-cursor')>('pg-cursor');
