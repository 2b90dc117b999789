import { join } from 'node:path';
import { expect } from 'vitest';
import type { ConfigOverrides } from '../../src/config/index.js';
import type { Warehouse } from '../../src/jobs/warehouse/warehouse.js';
import { warehouseFor } from '../../src/jobs/warehouse/warehouse-for-uri.js';
import { FIXTURES, startServer, type TestServer } from './server.js';

/**
 * An all-in-one server (the kind that schedules and runs jobs) with `fails-on-marked.onnx` pushed as
 * `marked` (y = x for 0 and 1; 99 makes the model fail), and its default DuckDB warehouse holding
 * `events`: 12 rows over three days (2001-01-01 to 2001-01-03), with x alternating 0 and 1.
 */
export async function jobServer(
  overrides: ConfigOverrides = {},
): Promise<{ server: TestServer; warehouse: Warehouse; stop: () => Promise<void> }> {
  const server = await startServer(overrides, { allInOne: true });
  expect((await server.push('marked', join(FIXTURES, 'fails-on-marked.onnx'))).status).toBe(201);
  // Opened as the server opens it, so both share one DuckDB instance with the same sandbox.
  const warehouse = warehouseFor('default', {}, server.dataDir);
  await warehouse.query(`CREATE TABLE events AS
    SELECT i AS id, DATE '2001-01-01' + CAST(i % 3 AS INTEGER) AS day, CAST(i % 2 AS DOUBLE) AS x
    FROM range(12) t(i)`);
  return {
    server,
    warehouse,
    stop: async () => {
      await warehouse.close();
      await server.stop();
    },
  };
}
