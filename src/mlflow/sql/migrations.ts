import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Migration `0004_mlflow`: the MLflow tracking tables and the MLflow view of registry versions. (The
 * registry's own `unservable_reason` column is the registry's migration `0005`.)
 */
const mlflowTables: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('mlflow_experiments')
      .addColumn('experiment_id', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('artifact_location', 'text', (c) => c.notNull())
      .addColumn('lifecycle_stage', 'text', (c) => c.notNull())
      .addColumn('creation_time', 'bigint', (c) => c.notNull())
      .addColumn('last_update_time', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('mlflow_experiment_tags')
      .addColumn('experiment_id', 'integer', (c) =>
        c.notNull().references('mlflow_experiments.experiment_id'),
      )
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('mlflow_experiment_tags_pk', ['experiment_id', 'key'])
      .execute();
    await db.schema
      .createTable('mlflow_runs')
      .addColumn('run_id', 'text', (c) => c.primaryKey())
      .addColumn('experiment_id', 'integer', (c) =>
        c.notNull().references('mlflow_experiments.experiment_id'),
      )
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('start_time', 'bigint', (c) => c.notNull())
      .addColumn('end_time', 'bigint')
      .addColumn('lifecycle_stage', 'text', (c) => c.notNull())
      .addColumn('artifact_uri', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('mlflow_runs_experiment')
      .on('mlflow_runs')
      .columns(['experiment_id'])
      .execute();
    for (const table of ['mlflow_params', 'mlflow_tags']) {
      await db.schema
        .createTable(table)
        .addColumn('run_id', 'text', (c) => c.notNull().references('mlflow_runs.run_id'))
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint(`${table}_pk`, ['run_id', 'key'])
        .execute();
    }
    await db.schema
      .createTable('mlflow_metrics')
      .addColumn('run_id', 'text', (c) => c.notNull().references('mlflow_runs.run_id'))
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'double precision', (c) => c.notNull())
      .addColumn('is_nan', 'integer', (c) => c.notNull())
      .addColumn('timestamp', 'bigint', (c) => c.notNull())
      .addColumn('step', 'bigint', (c) => c.notNull())
      .addColumn('model_id', 'text', (c) => c.notNull())
      .addColumn('dataset_name', 'text', (c) => c.notNull())
      .addColumn('dataset_digest', 'text', (c) => c.notNull())
      .execute();
    // One row per distinct point, as in MLflow (key, timestamp, step, value): a replayed request adds
    // nothing, and the client re-logging a point with its model id links the existing row.
    await db.schema
      .createIndex('mlflow_metrics_point')
      .on('mlflow_metrics')
      .columns(['run_id', 'key', 'step', 'timestamp', 'value', 'is_nan'])
      .unique()
      .execute();
    await db.schema.createIndex('mlflow_metrics_model').on('mlflow_metrics').columns(['model_id']).execute();
    await db.schema
      .createTable('mlflow_latest_metrics')
      .addColumn('run_id', 'text', (c) => c.notNull().references('mlflow_runs.run_id'))
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'double precision', (c) => c.notNull())
      .addColumn('is_nan', 'integer', (c) => c.notNull())
      .addColumn('timestamp', 'bigint', (c) => c.notNull())
      .addColumn('step', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('mlflow_latest_metrics_pk', ['run_id', 'key'])
      .execute();
    await db.schema
      .createTable('mlflow_run_links')
      .addColumn('run_id', 'text', (c) => c.notNull().references('mlflow_runs.run_id'))
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('direction', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('mlflow_run_links_pk', ['run_id', 'seq'])
      .execute();
    await db.schema
      .createTable('mlflow_logged_models')
      .addColumn('model_id', 'text', (c) => c.primaryKey())
      .addColumn('experiment_id', 'integer', (c) =>
        c.notNull().references('mlflow_experiments.experiment_id'),
      )
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('artifact_location', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('status_message', 'text', (c) => c.notNull())
      .addColumn('model_type', 'text', (c) => c.notNull())
      .addColumn('source_run_id', 'text', (c) => c.notNull())
      .addColumn('creation_timestamp', 'bigint', (c) => c.notNull())
      .addColumn('last_updated_timestamp', 'bigint', (c) => c.notNull())
      .execute();
    for (const table of ['mlflow_logged_model_params', 'mlflow_logged_model_tags']) {
      await db.schema
        .createTable(table)
        .addColumn('model_id', 'text', (c) => c.notNull().references('mlflow_logged_models.model_id'))
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint(`${table}_pk`, ['model_id', 'key'])
        .execute();
    }
    await db.schema
      .createTable('mlflow_model_versions')
      .addColumn('model_name', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('storage_location', 'text', (c) => c.notNull())
      .addColumn('model_id', 'text', (c) => c.notNull())
      .addColumn('run_link', 'text', (c) => c.notNull())
      .addColumn('stage', 'text', (c) => c.notNull())
      .addColumn('last_updated_timestamp', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('mlflow_model_versions_pk', ['model_name', 'version'])
      .addForeignKeyConstraint('mlflow_model_versions_fk', ['model_name', 'version'], 'model_versions', [
        'model_name',
        'version',
      ])
      .execute();
    // MLflow clients expect the Default experiment, id "0", to exist.
    const now = Date.now();
    await sql`insert into mlflow_experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) values (0, 'Default', 'mlflow-artifacts:/0', 'active', ${now}, ${now})`.execute(
      db,
    );
  },
};

/** The MLflow module's schema migrations (names are global; storage/migrations.ts runs them all). */
export const mlflowMigrations: Record<string, Migration> = { '0004_mlflow': mlflowTables };
