/**
 * The shapes of the control API's answers that the console reads (docs/api.md; the OpenAPI document at
 * /api/v1/openapi.json is their source). Only the fields the console shows are listed.
 */

export type Role = 'viewer' | 'developer' | 'deployer' | 'approver' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'developer', 'deployer', 'approver', 'admin'];

export interface WhoAmI {
  name: string;
  role: Role;
  auth: boolean;
}

/** `GET /api/v1/whoami` without a token on a server that needs one: nobody. */
export type Caller = WhoAmI | { name: null; role: null; auth: true };

export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface Model {
  name: string;
  description: string;
  tags: Record<string, string>;
  latest_version: number;
  aliases: Record<string, number>;
  created_at: string;
  updated_at: string;
}

export interface TensorSpec {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelVersion {
  model: string;
  version: number;
  status: 'PENDING' | 'READY' | 'FAILED';
  description: string;
  sha256: string;
  size_bytes: number;
  signature: { inputs: TensorSpec[]; outputs: TensorSpec[]; labels?: string[] | null } | null;
  metrics: Record<string, number>;
  tags: Record<string, string>;
  task: string | null;
  lineage: { uploader: string; run_id: string | null; git_commit: string | null; dataset: string | null };
  aliases: string[];
  created_at: string;
  servable: boolean;
}

export interface Split {
  version: number;
  percent: number;
}

export interface Revision {
  deployment: string;
  model: string;
  environment: string;
  number: number;
  traffic: Split[];
  tags: Record<string, number>;
  shadow: Split | null;
  kind: string;
  actor: string;
  reason: string;
  promotion_id: string | null;
  created_at: string;
}

export interface RolloutPlan {
  steps: number[];
  bake_seconds: number;
  max_error_rate: number;
  max_p99_ms: number;
  min_requests: number;
  by_default: boolean;
}

export interface Environment {
  name: string;
  auto_deploy: boolean;
  promotes_from: string | null;
  role: Role;
  approval: { role: Role; allow_self: boolean } | null;
  confirm: boolean;
  rollout: RolloutPlan | null;
}

export interface GateResult {
  gate: string;
  status: 'passed' | 'failed' | 'skipped';
  message: string;
  measurements?: Record<string, unknown>;
  at: string;
}

export type PromotionStatus =
  | 'GATING'
  | 'FAILED'
  | 'AWAITING_APPROVAL'
  | 'REJECTED'
  | 'ROLLING_OUT'
  | 'PAUSED'
  | 'SUCCEEDED'
  | 'ROLLED_BACK'
  | 'ABORTED';

export interface Promotion {
  id: string;
  model: string;
  environment: string;
  version: number;
  status: PromotionStatus;
  requested_by: string;
  reason: string;
  canary: boolean;
  gates: GateResult[];
  approval: { by: string; at: string; reason: string } | null;
  rollout: { step: number; step_started_at: string; note: string | null } | null;
  baseline: Split[] | null;
  failure: string | null;
  created_at: string;
  updated_at: string;
}

export interface Deployment {
  name: string;
  model: string;
  environment: string;
  revision: Revision;
  health: string;
  promotions: Promotion[];
}

export interface AuditEvent {
  seq: number;
  time: string;
  actor: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  result: string;
  request_id: string | null;
  details: Record<string, unknown> | null;
}

export interface Job {
  name: string;
  description: string;
  model: string;
  environment: string | null;
  schedule: string | null;
  timezone: string;
  paused: boolean;
  next_run_at: string | null;
  sink: { table: string };
}

export interface JobRun {
  id: string;
  job: string;
  number: number;
  logical_date: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  trigger: string;
  model: { name: string; version: number } | null;
  rows_read: number;
  rows_written: number;
  rows_failed: number;
  rows_expected: number | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  error: string | null;
  actor: string;
}

export interface RunLogLine {
  seq: number;
  at: string;
  level: 'info' | 'warn' | 'error';
  message: string;
}
