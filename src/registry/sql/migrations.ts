import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { mlflowMigration } from '../../mlflow/sql/mlflow-migration.js';

/**
 * Schema migrations, in order. Never edit one that has shipped: add the next. Types are chosen to
 * mean the same in SQLite and Postgres (text, integer, bigint).
 */
const migrations: Record<string, Migration> = {
  '0001_registry': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('models')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('tags', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('latest_version', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('model_versions')
        .addColumn('model_name', 'text', (c) => c.notNull().references('models.name'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('artifact_key', 'text', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .addColumn('metrics', 'text', (c) => c.notNull())
        .addColumn('tags', 'text', (c) => c.notNull())
        .addColumn('input_policies', 'text', (c) => c.notNull())
        .addColumn('sample', 'text', (c) => c.notNull())
        .addColumn('task', 'text')
        .addColumn('uploader', 'text', (c) => c.notNull())
        .addColumn('run_id', 'text')
        .addColumn('git_commit', 'text')
        .addColumn('dataset', 'text')
        .addColumn('failure_reason', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('model_versions_pk', ['model_name', 'version'])
        .execute();
      await db.schema.createIndex('model_versions_status').on('model_versions').columns(['status']).execute();
      await db.schema
        .createTable('model_tags')
        .addColumn('model_name', 'text', (c) => c.notNull().references('models.name'))
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('model_tags_pk', ['model_name', 'key'])
        .execute();
      await db.schema
        .createTable('version_tags')
        .addColumn('model_name', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('version_tags_pk', ['model_name', 'version', 'key'])
        .addForeignKeyConstraint('version_tags_fk', ['model_name', 'version'], 'model_versions', [
          'model_name',
          'version',
        ])
        .execute();
      await db.schema
        .createTable('aliases')
        .addColumn('model_name', 'text', (c) => c.notNull())
        .addColumn('alias', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('aliases_pk', ['model_name', 'alias'])
        .addForeignKeyConstraint('aliases_fk', ['model_name', 'version'], 'model_versions', [
          'model_name',
          'version',
        ])
        .execute();
    },
  },
  '0002_deployments': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('revisions')
        .addColumn('seq', 'integer', (c) => c.notNull().unique())
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
        .addColumn('seq', 'integer', (c) => c.primaryKey())
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
  '0003_jobs': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('jobs')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('origin', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('job_runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('job_name', 'text', (c) => c.notNull().references('jobs.name').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('logical_date', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('scheduled_for', 'text')
        .addColumn('not_before', 'text', (c) => c.notNull())
        .addColumn('model_name', 'text')
        .addColumn('model_version', 'integer')
        .addColumn('rows_read', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('rows_written', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('rows_failed', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('rows_expected', 'bigint')
        .addColumn('started_at', 'text')
        .addColumn('finished_at', 'text')
        .addColumn('error', 'text')
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('holder', 'text')
        .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('job_runs_seq', ['job_name', 'seq'])
        // One run per schedule time, however many replicas fire; NULL (unscheduled) never collides.
        .addUniqueConstraint('job_runs_scheduled', ['job_name', 'scheduled_for'])
        .execute();
      await db.schema.createIndex('job_runs_status').on('job_runs').columns(['job_name', 'status']).execute();
      await db.schema
        .createIndex('job_runs_date')
        .on('job_runs')
        .columns(['job_name', 'logical_date'])
        .execute();
      await db.schema
        .createTable('job_run_logs')
        .addColumn('run_id', 'text', (c) => c.notNull().references('job_runs.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('level', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('job_run_logs_pk', ['run_id', 'seq'])
        .execute();
      await db.schema
        .createTable('job_leases')
        .addColumn('job_name', 'text', (c) => c.primaryKey().references('jobs.name').onDelete('cascade'))
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0004_mlflow': mlflowMigration,
  // Who runs a promotion's gates, and until when: a promotion whose holder stopped renewing is
  // found and ended by recovery instead of staying GATING forever.
  '0005_promotion_lease': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('promotions').addColumn('holder', 'text').execute();
      await db.schema.alterTable('promotions').addColumn('lease_until', 'text').execute();
      await db.schema.createIndex('promotions_status').on('promotions').columns(['status']).execute();
    },
  },
};

export const registryMigrations: MigrationProvider = {
  getMigrations: async () => migrations,
};
