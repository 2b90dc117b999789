/** The jobs module's tables as Kysely sees them (JSON columns hold text). */
export interface JobTables {
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
