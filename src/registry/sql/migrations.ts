import type { Kysely, Migration } from 'kysely';

/**
 * The registry module's schema migrations. Names are global across modules and ordered by name
 * (storage/migrations.ts runs them all); never edit one that has shipped: add the next. Types are
 * chosen to mean the same in SQLite and PostgreSQL (text, integer, bigint).
 */
export const registryMigrations: Record<string, Migration> = {
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
  // Versions that are stored but cannot serve (a pickled MLflow flavor) carry the reason. Databases
  // made before the registry owned this column got it from `0004_mlflow`, so it is added only when
  // missing.
  '0005_registry_unservable_reason': {
    async up(db: Kysely<unknown>) {
      const tables = await db.introspection.getTables();
      const versions = tables.find((table) => table.name === 'model_versions');
      if (versions?.columns.some((column) => column.name === 'unservable_reason')) return;
      await db.schema.alterTable('model_versions').addColumn('unservable_reason', 'text').execute();
    },
  },
};
