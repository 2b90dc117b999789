/** Table shapes as Kysely sees them. JSON columns hold text so every dialect stores them the same way. */
export interface RegistryTables {
  models: {
    name: string;
    description: string;
    tags: string;
    latest_version: number;
    created_at: string;
    updated_at: string;
  };
  model_versions: {
    model_name: string;
    version: number;
    status: string;
    description: string;
    sha256: string;
    size_bytes: number;
    artifact_key: string;
    signature: string;
    metrics: string;
    tags: string;
    input_policies: string;
    sample: string;
    task: string | null;
    uploader: string;
    run_id: string | null;
    git_commit: string | null;
    dataset: string | null;
    failure_reason: string | null;
    created_at: string;
    /** Added by 0004_mlflow. */
    unservable_reason: string | null;
  };
  model_tags: { model_name: string; key: string; value: string };
  version_tags: { model_name: string; version: number; key: string; value: string };
  aliases: { model_name: string; alias: string; version: number; updated_at: string };
}
