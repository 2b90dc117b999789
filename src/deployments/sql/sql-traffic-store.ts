import type { Kysely } from 'kysely';
import type { ServedWindow, ShadowStats, ShadowWindow } from '../../domain/traffic.js';
import { WINDOW_MS } from '../../domain/traffic.js';
import type { StoredServedWindow, TrafficFigureStore } from '../traffic-figures.js';
import type { DeploymentTables } from './schema.js';

/** Rows per insert statement: well under SQLite's and PostgreSQL's limits on bound parameters. */
const ROWS_PER_INSERT = 200;

/** `TrafficFigureStore` on the registry's database: insert-only rows, summed when read. */
export class SqlTrafficStore implements TrafficFigureStore {
  constructor(private readonly db: Kysely<DeploymentTables>) {}

  async writeTraffic(
    replica: string,
    windows: { served: readonly ServedWindow[]; shadow: readonly ShadowWindow[] },
  ): Promise<void> {
    const rows = [
      ...windows.served.map((w) => ({
        replica,
        kind: 'served' as const,
        environment: w.environment,
        model_name: w.model,
        version: w.version,
        revision: 0,
        window_start: w.windowStart,
        requests: w.requests,
        failures: w.failures,
        agreed: 0,
        max_abs_diff: 0,
        latency: JSON.stringify(w.latency),
        predictions: w.predictions.length > 0 ? JSON.stringify(w.predictions) : null,
      })),
      ...windows.shadow.map((w) => ({
        replica,
        kind: 'shadow' as const,
        environment: w.environment,
        model_name: w.model,
        version: w.version,
        revision: w.revision,
        window_start: w.windowStart,
        requests: w.requests,
        failures: w.failures,
        agreed: w.agreed,
        max_abs_diff: w.maxAbsDiff,
        latency: '{}',
        predictions: null,
      })),
    ];
    // One transaction: a write is all there or not there, so a retry never counts a window twice.
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
        await trx
          .insertInto('traffic_windows')
          .values(rows.slice(i, i + ROWS_PER_INSERT))
          .execute();
      }
    });
  }

  async servedWindows(
    environment: string,
    model: string,
    version: number,
    sinceMs: number,
  ): Promise<StoredServedWindow[]> {
    const rows = await this.db
      .selectFrom('traffic_windows')
      .select(['window_start', 'requests', 'failures', 'latency', 'predictions'])
      .where('environment', '=', environment)
      .where('model_name', '=', model)
      .where('kind', '=', 'served')
      // Windows that end after the moment: the one it falls in counts whole.
      .where('window_start', '>', sinceMs - WINDOW_MS)
      .where('version', '=', version)
      .execute();
    return rows.map((row) => ({
      windowStart: Number(row.window_start),
      requests: row.requests,
      failures: row.failures,
      latency: JSON.parse(row.latency),
      predictions: row.predictions === null ? [] : JSON.parse(row.predictions),
    }));
  }

  async shadowOf(environment: string, model: string, revision: number): Promise<ShadowStats | null> {
    const row = await this.db
      .selectFrom('traffic_windows')
      .select(({ fn }) => [
        fn.max('version').as('version'),
        fn.sum<number>('requests').as('requests'),
        fn.sum<number>('failures').as('failures'),
        fn.sum<number>('agreed').as('agreed'),
        fn.max('max_abs_diff').as('max_abs_diff'),
      ])
      .where('environment', '=', environment)
      .where('model_name', '=', model)
      .where('kind', '=', 'shadow')
      .where('revision', '=', revision)
      .executeTakeFirst();
    if (!row || row.version === null || row.version === undefined) return null;
    return {
      revision,
      version: Number(row.version),
      requests: Number(row.requests),
      failures: Number(row.failures),
      agreed: Number(row.agreed),
      maxAbsDiff: Number(row.max_abs_diff),
    };
  }

  async pruneTraffic(beforeMs: number): Promise<number> {
    const result = await this.db
      .deleteFrom('traffic_windows')
      .where('window_start', '<', beforeMs)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
