import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deploymentMigrations } from '../../src/deployments/sql/migrations.js';
import { jobMigrations } from '../../src/jobs/sql/migrations.js';
import { mlflowMigrations } from '../../src/mlflow/sql/migrations.js';
import { registryMigrations } from '../../src/registry/sql/migrations.js';
import { openDatabase, redactDatabaseUri, type SqlDatabase } from '../../src/storage/database.js';
import { storesForUri } from '../../src/stores-for-uri.js';

async function columns(database: SqlDatabase, table: string): Promise<string[]> {
  const tables = await database.db.introspection.getTables();
  return tables.find((t) => t.name === table)?.columns.map((c) => c.name) ?? [];
}

async function executed(database: SqlDatabase): Promise<string[]> {
  const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
    database.db,
  );
  return rows.rows.map((row) => row.name);
}

describe('storage: one database, every module’s migrations', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-storage-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates a fresh database with every module’s tables, in name order', async () => {
    const { database } = storesForUri(`sqlite:${join(dir, 'registry.db')}`);
    await database.migrate();
    const opened = openDatabase(`sqlite:${join(dir, 'registry.db')}`, []);
    try {
      expect(await executed(opened)).toEqual([
        '0001_registry',
        '0002_deployments',
        '0003_jobs',
        '0004_mlflow',
        '0005_registry_unservable_reason',
        '0006_promotion_lease',
        '0007_traffic_windows',
        '0008_leases',
      ]);
      expect(await columns(opened, 'model_versions')).toContain('unservable_reason');
      for (const table of ['revisions', 'job_runs', 'mlflow_runs']) {
        expect(await columns(opened, table)).not.toEqual([]);
      }
    } finally {
      await opened.close();
      await database.close();
    }
  });

  it('upgrades a database whose MLflow migration added the registry’s column', async () => {
    const file = `sqlite:${join(dir, 'registry.db')}`;
    // The layout before the registry owned `unservable_reason`: 0004_mlflow added it.
    const { '0005_registry_unservable_reason': _, ...registryBefore } = registryMigrations;
    const {
      '0006_promotion_lease': __,
      '0007_traffic_windows': ___,
      ...deploymentsBefore
    } = deploymentMigrations;
    const old = openDatabase(file, [registryBefore, deploymentsBefore, jobMigrations, mlflowMigrations]);
    await old.migrate();
    await sql`alter table model_versions add column unservable_reason text`.execute(old.db);
    await old.close();

    const { database } = storesForUri(file);
    await database.migrate();
    await database.close();
    const opened = openDatabase(file, []);
    try {
      expect((await columns(opened, 'model_versions')).filter((c) => c === 'unservable_reason')).toHaveLength(
        1,
      );
      expect(await executed(opened)).toContain('0005_registry_unservable_reason');
    } finally {
      await opened.close();
    }
  });

  it('refuses two modules that claim one migration name', () => {
    expect(() =>
      openDatabase(`sqlite:${join(dir, 'registry.db')}`, [registryMigrations, registryMigrations]),
    ).toThrow(/0001_registry/);
  });

  it('opens postgres:// and postgresql:// URIs with PostgreSQL, connecting only on the first query', async () => {
    for (const uri of ['postgres://u:p@127.0.0.1:1/db', 'postgresql://u:p@127.0.0.1:1/db']) {
      const opened = openDatabase(uri, []);
      expect(opened).toMatchObject({ dialect: 'postgres', immediateTransactions: false });
      await opened.close();
    }
    const sqlite = openDatabase(`sqlite:${join(dir, 'registry.db')}`, []);
    expect(sqlite).toMatchObject({ dialect: 'sqlite', immediateTransactions: true });
    await sqlite.close();
  });

  it('hides the password of a database URI that is printed', () => {
    expect(redactDatabaseUri('postgres://slipway:s3cret@db:5432/slipway')).toBe(
      'postgres://slipway:***@db:5432/slipway',
    );
    expect(redactDatabaseUri('postgresql://db/slipway')).toBe('postgresql://db/slipway');
    expect(redactDatabaseUri('sqlite:/srv/registry.db')).toBe('sqlite:/srv/registry.db');
  });

  it('refuses unknown schemes and in-memory databases with INVALID_ARGUMENT', () => {
    for (const uri of ['mysql://x/y', 'sqlite::memory:', 'sqlite:']) {
      expect(() => openDatabase(uri, [])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});
