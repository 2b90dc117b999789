import type { Kysely, Migration } from 'kysely';

/**
 * The jobs module's schema migrations. Names are global across modules and ordered by name
 * (storage/migrations.ts runs them all); never edit one that has shipped: add the next. Types are
 * chosen to mean the same in SQLite and PostgreSQL (text, integer, bigint).
 */
export const jobMigrations: Record<string, Migration> = {
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
};
