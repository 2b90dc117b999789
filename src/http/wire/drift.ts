import { type Static, Type } from '@sinclair/typebox';
import type { DriftCheckSpec } from '../../drift/drift-checks.js';
import type { DriftCheckResult, DriftReport, FeatureResult } from '../../drift/drift-service.js';
import type { FeatureProfile, ReferenceProfile } from '../../drift/profile.js';
import { DRIFT_METHODS } from '../../drift/statistics.js';
import { Nullable, PathName } from './common.js';

/** The drift area of the control API: reference profiles, drift reports and scheduled checks. */

const Method = Type.Union(
  DRIFT_METHODS.map((m) => Type.Literal(m)),
  { description: 'Force one test for every feature; the default picks per feature as Evidently does.' },
);
const Threshold = Type.Number({
  exclusiveMinimum: 0,
  description: 'p-value below which (ks, chisquare) or distance above which (the others) a feature drifts.',
});

export const DriftWindowQuery = Type.Object(
  {
    environment: Type.Optional(Type.String({ maxLength: 64 })),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Default: 24 hours before `to`.' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Default: now.' })),
    method: Type.Optional(Method),
    threshold: Type.Optional(Threshold),
  },
  { additionalProperties: false },
);

export const DriftRowsBody = Type.Object(
  {
    rows: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 100_000 }),
    method: Type.Optional(Method),
    threshold: Type.Optional(Threshold),
  },
  { additionalProperties: false },
);

export const DriftCheckParams = Type.Object({ name: PathName });
export const DriftModelParams = Type.Object({ model: PathName });

const FeatureSchema = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('numerical'), Type.Literal('categorical')]),
  method: Nullable(Type.String()),
  statistic: Nullable(Type.Number()),
  threshold: Nullable(Type.Number()),
  drifted: Type.Boolean(),
  reference_rows: Type.Integer(),
  current_rows: Type.Integer(),
  current_null_share: Type.Number(),
  skipped: Type.Optional(Type.String()),
});

export const DriftReportSchema = Type.Object({
  model: Type.String(),
  version: Type.Integer(),
  environment: Nullable(Type.String()),
  window: Nullable(Type.Object({ from: Type.String(), to: Type.String() })),
  reference: Type.Object({ source: Type.String(), rows: Type.Integer() }),
  current_rows: Type.Integer(),
  dataset_drift: Type.Boolean(),
  drift_share: Type.Number(),
  share_threshold: Type.Number(),
  features: Type.Array(FeatureSchema),
  prediction: Nullable(FeatureSchema),
});

const FeatureProfileSchema = Type.Object({
  name: Type.String(),
  kind: Type.String(),
  count: Type.Integer(),
  null_share: Type.Number(),
  summary: Type.Optional(Type.Record(Type.String(), Type.Number())),
  categories: Type.Optional(Type.Record(Type.String(), Type.Number())),
});

export const ProfileSchema = Type.Object({
  model: Type.String(),
  version: Type.Integer(),
  source: Type.String(),
  rows: Type.Integer(),
  created_at: Type.String(),
  features: Type.Array(FeatureProfileSchema),
  prediction: Nullable(FeatureProfileSchema),
});

const CheckResultSchema = Type.Object({
  at: Type.String(),
  status: Type.Union(['ok', 'drift', 'inconclusive', 'failed'].map((s) => Type.Literal(s))),
  message: Type.String(),
  report: Nullable(DriftReportSchema),
});

export const DriftCheckSchema = Type.Object({
  name: Type.String(),
  model: Type.String(),
  environment: Type.String(),
  schedule: Type.String(),
  window_seconds: Type.Integer(),
  min_rows: Type.Integer(),
  method: Nullable(Type.String()),
  threshold: Nullable(Type.Number()),
  next_run: Nullable(Type.String()),
  last: Nullable(CheckResultSchema),
});
export const DriftCheckList = Type.Object({ checks: Type.Array(DriftCheckSchema) });

export type WireDriftReport = Static<typeof DriftReportSchema>;
export type WireDriftCheck = Static<typeof DriftCheckSchema>;
export type WireProfile = Static<typeof ProfileSchema>;

function toWireFeature(f: FeatureResult): Static<typeof FeatureSchema> {
  return {
    name: f.name,
    kind: f.kind,
    method: f.method,
    statistic: f.statistic,
    threshold: f.threshold,
    drifted: f.drifted,
    reference_rows: f.referenceRows,
    current_rows: f.currentRows,
    current_null_share: f.currentNullShare,
    ...(f.skipped ? { skipped: f.skipped } : {}),
  };
}

export function toWireDriftReport(r: DriftReport): WireDriftReport {
  return {
    model: r.model,
    version: r.version,
    environment: r.environment,
    window: r.window,
    reference: { ...r.reference },
    current_rows: r.currentRows,
    dataset_drift: r.datasetDrift,
    drift_share: r.driftShare,
    share_threshold: r.shareThreshold,
    features: r.features.map(toWireFeature),
    prediction: r.prediction ? toWireFeature(r.prediction) : null,
  };
}

function toWireFeatureProfile(f: FeatureProfile): Static<typeof FeatureProfileSchema> {
  return {
    name: f.name,
    kind: f.kind,
    count: f.count,
    null_share: f.nullShare,
    ...(f.summary ? { summary: { ...f.summary } } : {}),
    ...(f.categories ? { categories: { ...f.categories } } : {}),
  };
}

/** A profile without its reference values (they stay on the server). */
export function toWireProfile(p: ReferenceProfile): WireProfile {
  return {
    model: p.model,
    version: p.version,
    source: p.source,
    rows: p.rows,
    created_at: p.createdAt,
    features: p.features.map(toWireFeatureProfile),
    prediction: p.prediction ? toWireFeatureProfile(p.prediction) : null,
  };
}

export function toWireDriftCheck(
  spec: DriftCheckSpec,
  last: DriftCheckResult | null,
  next: string | null,
): WireDriftCheck {
  return {
    name: spec.name,
    model: spec.model,
    environment: spec.environment,
    schedule: spec.schedule,
    window_seconds: spec.windowSeconds,
    min_rows: spec.minRows,
    method: spec.method ?? null,
    threshold: spec.threshold ?? null,
    next_run: next,
    last: last
      ? {
          at: last.at,
          status: last.status,
          message: last.message,
          report: last.report ? toWireDriftReport(last.report) : null,
        }
      : null,
  };
}
