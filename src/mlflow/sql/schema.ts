/**
 * Tables of the MLflow tracking domain and of the MLflow view of the registry, as Kysely sees them.
 * Registered models and versions are Slipway's own `models` / `model_versions` rows;
 * `mlflow_model_versions` only adds what MLflow says about a version (its source, where its files
 * are, its stage).
 */
export interface MlflowTables {
  mlflow_experiments: {
    experiment_id: number;
    name: string;
    artifact_location: string;
    lifecycle_stage: string;
    creation_time: number;
    last_update_time: number;
  };
  mlflow_experiment_tags: { experiment_id: number; key: string; value: string };
  mlflow_runs: {
    run_id: string;
    experiment_id: number;
    name: string;
    user_id: string;
    status: string;
    start_time: number;
    end_time: number | null;
    lifecycle_stage: string;
    artifact_uri: string;
  };
  mlflow_params: { run_id: string; key: string; value: string };
  mlflow_tags: { run_id: string; key: string; value: string };
  /** Every logged point; NaN is stored as `value` 0 with `is_nan` 1 (SQL has no NaN). */
  mlflow_metrics: {
    run_id: string;
    key: string;
    value: number;
    is_nan: number;
    timestamp: number;
    step: number;
    model_id: string;
    dataset_name: string;
    dataset_digest: string;
  };
  /** The latest point per run and key (largest step, then timestamp, then value), kept on write. */
  mlflow_latest_metrics: {
    run_id: string;
    key: string;
    value: number;
    is_nan: number;
    timestamp: number;
    step: number;
  };
  /** Run inputs (datasets, models) and outputs (models), as the client sent them (JSON). */
  mlflow_run_links: { run_id: string; seq: number; direction: string; kind: string; payload: string };
  mlflow_logged_models: {
    model_id: string;
    experiment_id: number;
    name: string;
    artifact_location: string;
    status: string;
    status_message: string;
    model_type: string;
    source_run_id: string;
    creation_timestamp: number;
    last_updated_timestamp: number;
  };
  mlflow_logged_model_params: { model_id: string; key: string; value: string };
  mlflow_logged_model_tags: { model_id: string; key: string; value: string };
  mlflow_model_versions: {
    model_name: string;
    version: number;
    source: string;
    storage_location: string;
    model_id: string;
    run_link: string;
    stage: string;
    last_updated_timestamp: number;
  };
}
