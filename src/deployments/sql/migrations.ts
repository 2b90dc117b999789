import type { Kysely, Migration } from 'kysely';
import { counterType } from '../../storage/sql-support.js';

/**
 * The deployments module's schema migrations. Names are global across modules and ordered by name
 * (storage/migrations.ts runs them all); never edit one that has shipped: add the next. Types are
 * chosen to mean the same in SQLite and PostgreSQL (text, integer, bigint); the table-wide counters
 * are `counterType` (SQLite's 64-bit `integer` as shipped, `bigint` on PostgreSQL).
 */
export const deploymentMigrations: Record<string, Migration> = {
  '0002_deployments': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('revisions')
        .addColumn('seq', counterType(db), (c) => c.notNull().unique())
        .addColumn('model_name', 'text', (c) => c.notNull().references('models.name'))
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('traffic', 'text', (c) => c.notNull())
        .addColumn('tags', 'text', (c) => c.notNull())
        .addColumn('shadow', 'text')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('promotion_id', 'text')
        .addColumn('request_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('revisions_pk', ['model_name', 'environment', 'number'])
        .execute();
      await db.schema
        .createTable('promotions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('model_name', 'text', (c) => c.notNull().references('models.name'))
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('options', 'text', (c) => c.notNull())
        .addColumn('gate_results', 'text', (c) => c.notNull())
        .addColumn('approval', 'text')
        .addColumn('rollout', 'text')
        .addColumn('baseline', 'text')
        .addColumn('failure', 'text')
        .addColumn('request_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('promotions_deployment')
        .on('promotions')
        .columns(['model_name', 'environment', 'created_at'])
        .execute();
      await db.schema
        .createTable('audit_events')
        .addColumn('seq', counterType(db), (c) => c.primaryKey())
        .addColumn('time', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('before', 'text')
        .addColumn('after', 'text')
        .addColumn('result', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text')
        .addColumn('details', 'text')
        .execute();
      await db.schema.createIndex('audit_events_target').on('audit_events').columns(['target']).execute();
      await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['actor']).execute();
      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema
        .createTable('datasets')
        .addColumn('model_name', 'text', (c) => c.notNull().references('models.name'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('rows', 'text', (c) => c.notNull())
        .addColumn('row_count', 'integer', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('datasets_pk', ['model_name', 'name'])
        .execute();
    },
  },
  // Who runs a promotion's gates, and until when: a promotion whose holder stopped renewing is
  // found and ended by recovery instead of staying GATING forever.
  '0006_promotion_lease': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('promotions').addColumn('holder', 'text').execute();
      await db.schema.alterTable('promotions').addColumn('lease_until', 'text').execute();
      await db.schema.createIndex('promotions_status').on('promotions').columns(['status']).execute();
    },
  },
  // Every replica's traffic figures, per version and per second, so canary analysis counts the
  // requests of all of them and a restart loses none.
  '0007_traffic_windows': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('traffic_windows')
        .addColumn('replica', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('model_name', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('window_start', 'bigint', (c) => c.notNull())
        .addColumn('requests', 'integer', (c) => c.notNull())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('agreed', 'integer', (c) => c.notNull())
        .addColumn('max_abs_diff', 'double precision', (c) => c.notNull())
        .addColumn('latency', 'text', (c) => c.notNull())
        .addColumn('predictions', 'text')
        .execute();
      await db.schema
        .createIndex('traffic_windows_deployment')
        .on('traffic_windows')
        .columns(['environment', 'model_name', 'kind', 'window_start'])
        .execute();
      await db.schema
        .createIndex('traffic_windows_age')
        .on('traffic_windows')
        .columns(['window_start'])
        .execute();
    },
  },
};
