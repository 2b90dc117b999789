/** The deployments module's tables as Kysely sees them (JSON columns hold text). */
export interface DeploymentTables {
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
    /** The process running the promotion's gates or deploy step (0006). */
    holder: string | null;
    /** When that process's hold lapses unless renewed (0006). */
    lease_until: string | null;
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
  /** Each replica's traffic figures per window (0007): `served` per version, `shadow` per revision. */
  traffic_windows: {
    replica: string;
    kind: 'served' | 'shadow';
    environment: string;
    model_name: string;
    version: number;
    /** The revision that set the shadow (`shadow` rows); 0 for `served` rows. */
    revision: number;
    window_start: number;
    requests: number;
    failures: number;
    agreed: number;
    max_abs_diff: number;
    /** JSON LatencyHistogram. */
    latency: string;
    /** JSON array of the window's first predictions, or null. */
    predictions: string | null;
  };
}
