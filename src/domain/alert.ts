import type { TrafficShare } from './revision.js';

/**
 * What Slipway alerts operators about: a closed set, so a webhook's `events:` list is checked at
 * start-up and a receiver can branch on `kind`. Each alert carries the facts an operator acts on,
 * without having to open Slipway first. Kinds are snake_case because they are sent as they are.
 */
export const ALERT_KINDS = ['drift', 'automatic_rollback', 'job_run_failed', 'gate_failed'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** One feature a drift check found drifted, with the test that said so. */
export interface DriftedFeature {
  readonly name: string;
  /** The statistical test (ks, chisquare, wasserstein, jensenshannon, psi). */
  readonly method: string;
  /** Its p-value or distance. */
  readonly statistic: number;
  /** The limit the statistic crossed. */
  readonly threshold: number;
}

/** A scheduled drift check found dataset drift in a deployment's logged predictions. */
export interface DriftAlert {
  readonly kind: 'drift';
  /** When the check ran (ISO 8601). */
  readonly time: string;
  /** The drift check's name (slipway.yaml `drift_checks:`). */
  readonly check: string;
  readonly model: string;
  /** The version whose reference profile the window was compared with. */
  readonly version: number;
  readonly environment: string;
  /** The window of the prediction log that was read. */
  readonly window: { readonly from: string; readonly to: string };
  /** Logged rows in the window. */
  readonly rows: number;
  /** Share of the tested features that drifted (0 to 1). */
  readonly driftShare: number;
  /** The share at or above which the data set counts as drifted. */
  readonly shareThreshold: number;
  /** How many features were tested. */
  readonly featuresTested: number;
  /** The features that drifted. */
  readonly features: readonly DriftedFeature[];
}

/** Canary analysis breached a limit and restored the baseline. */
export interface AutomaticRollbackAlert {
  readonly kind: 'automatic_rollback';
  readonly time: string;
  readonly model: string;
  readonly environment: string;
  readonly promotion: string;
  /** The canary version that was rolled back. */
  readonly version: number;
  /** What was breached, as the revision's reason says it. */
  readonly breach: string;
  /** The canary's figures over the step that breached. */
  readonly figures: {
    readonly requests: number;
    readonly failures: number;
    readonly errorRate: number;
    readonly p99Ms: number | null;
  };
  /** The revision in force after the rollback, or null if it could not be read. */
  readonly revision: { readonly number: number; readonly traffic: readonly TrafficShare[] } | null;
}

/** A batch scoring run ended failed (not cancelled). */
export interface JobRunFailedAlert {
  readonly kind: 'job_run_failed';
  readonly time: string;
  readonly job: string;
  readonly run: { readonly id: string; readonly seq: number; readonly logicalDate: string };
  /** 1 for the first attempt at this date. */
  readonly attempt: number;
  /** The job's attempts in all (its retries plus one). */
  readonly maxAttempts: number;
  /** The run queued to try again, or null when no attempt is left. */
  readonly retry: { readonly seq: number; readonly notBefore: string } | null;
  readonly error: string;
}

/** A promotion stopped at a gate; nothing changed in service. */
export interface GateFailedAlert {
  readonly kind: 'gate_failed';
  readonly time: string;
  readonly model: string;
  readonly version: number;
  readonly environment: string;
  readonly promotion: string;
  /** The gate that failed (smoke, schema, validation, latency). */
  readonly gate: string;
  readonly message: string;
  /** The figures the gate judged, when it measured any. */
  readonly measurements: Readonly<Record<string, number | string | null>> | null;
}

export type Alert = DriftAlert | AutomaticRollbackAlert | JobRunFailedAlert | GateFailedAlert;

/**
 * Where modules hand their alerts. Raising an alert must never slow down or fail the action that
 * raised it, so `notify` returns at once and never throws: delivery (queueing, retries, dropping
 * when overwhelmed) is the sink's business and its failures are only logged.
 */
export interface AlertSink {
  notify(alert: Alert): void;
}
