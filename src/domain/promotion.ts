import type { GateName } from './environment.js';
import type { TrafficShare } from './revision.js';

/**
 * A promotion's life: gates run (GATING); a failure ends it (FAILED) with nothing changed in
 * service; an environment that needs an approval waits (AWAITING_APPROVAL); then the version takes
 * all traffic (SUCCEEDED) or rolls out as a canary (ROLLING_OUT, PAUSED), which ends SUCCEEDED,
 * ROLLED_BACK (analysis breached a limit) or ABORTED (by a person, or superseded by a rollback).
 */
export const PROMOTION_STATUSES = [
  'GATING',
  'FAILED',
  'AWAITING_APPROVAL',
  'REJECTED',
  'ROLLING_OUT',
  'PAUSED',
  'SUCCEEDED',
  'ROLLED_BACK',
  'ABORTED',
] as const;
export type PromotionStatus = (typeof PROMOTION_STATUSES)[number];

export const FINAL_STATUSES: readonly PromotionStatus[] = [
  'FAILED',
  'REJECTED',
  'SUCCEEDED',
  'ROLLED_BACK',
  'ABORTED',
];

export type GateStatus = 'passed' | 'failed' | 'skipped';

/** One gate's verdict, with the figures it judged. */
export interface GateResult {
  readonly gate: GateName | 'approval';
  readonly status: GateStatus;
  readonly message: string;
  readonly measurements?: Readonly<Record<string, number | string | null>>;
  readonly at: string;
}

export interface PromotionOptions {
  /** Roll out as a canary with the environment's plan. */
  readonly canary: boolean;
  /** Accept a candidate whose inputs differ from the version in service. */
  readonly allowSchemaChange: boolean;
  /** The typed confirmation, as given. */
  readonly confirm: string | null;
}

export interface RolloutState {
  /** Index into the plan's steps of the step in force. */
  readonly step: number;
  readonly stepStartedAt: string;
  readonly note: string | null;
}

export interface Promotion {
  readonly id: string;
  readonly model: string;
  readonly environment: string;
  readonly version: number;
  readonly status: PromotionStatus;
  readonly requestedBy: string;
  readonly reason: string;
  readonly options: PromotionOptions;
  readonly gates: readonly GateResult[];
  readonly approval: { readonly by: string; readonly at: string; readonly reason: string } | null;
  readonly rollout: RolloutState | null;
  /** The traffic in force before the promotion changed anything: what a rollback restores. */
  readonly baseline: readonly TrafficShare[] | null;
  readonly failure: string | null;
  readonly requestId: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A labelled table a validation gate scores candidates on. */
export interface Dataset {
  readonly model: string;
  readonly name: string;
  /** Column holding the true value. */
  readonly label: string;
  readonly rows: readonly Record<string, unknown>[];
  readonly createdBy: string;
  readonly createdAt: string;
}

/** Who did what to what, when, and how it ended. Append-only. */
export interface AuditEvent {
  readonly seq: number;
  readonly time: string;
  readonly actor: string;
  /** Dotted verb, e.g. `version.push`, `promotion.approve`, `revision.rollback`. */
  readonly action: string;
  /** What it acted on, e.g. `penguin-species/3`, `penguin-species-prod`, `token:ci`. */
  readonly target: string;
  readonly before: unknown;
  readonly after: unknown;
  readonly result: 'ok' | 'failed' | 'denied';
  readonly requestId: string | null;
  readonly details: Readonly<Record<string, unknown>> | null;
}

export type NewAuditEvent = Omit<
  AuditEvent,
  'seq' | 'time' | 'before' | 'after' | 'details' | 'requestId'
> & {
  readonly before?: unknown;
  readonly after?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly requestId?: string | null;
};
