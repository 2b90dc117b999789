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
  /** Deployment history; `seq` orders every revision of every deployment, for replicas that follow. */
  revisions: {
    seq: number;
    model_name: string;
    environment: string;
    number: number;
    traffic: string;
    tags: string;
    shadow: string | null;
    kind: string;
    actor: string;
    reason: string;
    promotion_id: string | null;
    request_id: string | null;
    created_at: string;
  };
  promotions: {
    id: string;
    model_name: string;
    environment: string;
    version: number;
    status: string;
    requested_by: string;
    reason: string;
    options: string;
    gate_results: string;
    approval: string | null;
    rollout: string | null;
    baseline: string | null;
    failure: string | null;
    request_id: string | null;
    created_at: string;
    updated_at: string;
    /** The process running the promotion's gates or deploy step (0005). */
    holder: string | null;
    /** When that process's hold lapses unless renewed (0005). */
    lease_until: string | null;
  };
  audit_events: {
    seq: number;
    time: string;
    actor: string;
    action: string;
    target: string;
    before: string | null;
    after: string | null;
    result: string;
    request_id: string | null;
    details: string | null;
  };
  tokens: {
    id: string;
    name: string;
    role: string;
    hash: string;
    created_by: string;
    created_at: string;
    revoked_at: string | null;
  };
  datasets: {
    model_name: string;
    name: string;
    label: string;
    rows: string;
    row_count: number;
    created_by: string;
    created_at: string;
  };
  jobs: {
    name: string;
    spec: string;
    origin: string;
    created_by: string;
    created_at: string;
    updated_at: string;
  };
  job_runs: {
    id: string;
    job_name: string;
    seq: number;
    logical_date: string;
    status: string;
    trigger: string;
    attempt: number;
    scheduled_for: string | null;
    not_before: string;
    model_name: string | null;
    model_version: number | null;
    rows_read: number;
    rows_written: number;
    rows_failed: number;
    rows_expected: number | null;
    started_at: string | null;
    finished_at: string | null;
    error: string | null;
    actor: string;
    holder: string | null;
    cancel_requested: number;
    created_at: string;
  };
  job_run_logs: {
    run_id: string;
    seq: number;
    at: string;
    level: string;
    message: string;
  };
  job_leases: {
    job_name: string;
    holder: string;
    expires_at: string;
  };
}
