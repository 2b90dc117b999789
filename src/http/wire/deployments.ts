import { type Static, Type } from '@sinclair/typebox';
import type { EnvironmentPolicy } from '../../domain/environment.js';
import { GATE_NAMES } from '../../domain/environment.js';
import { PROMOTION_STATUSES, type Promotion } from '../../domain/promotion.js';
import type { Revision } from '../../domain/revision.js';
import { ROLES } from '../../domain/roles.js';
import { NextPageToken, Nullable, PageQuery, PathName } from './common.js';

/**
 * The deployments area of the control API: environments and their policies, deployments and their
 * revisions, promotions and the requests that move them (snake_case on the wire).
 */

const Role = Type.Union(ROLES.map((r) => Type.Literal(r)));
const Reason = Type.Optional(Type.String({ maxLength: 2000, description: 'Why; kept in the audit trail.' }));

/** One version's share of a deployment's traffic, in whole percents. */
export const ShareSchema = Type.Object(
  { version: Type.Integer({ minimum: 1 }), percent: Type.Integer({ minimum: 0, maximum: 100 }) },
  { additionalProperties: false },
);

export const EnvironmentSchema = Type.Object(
  {
    name: Type.String(),
    auto_deploy: Type.Boolean(),
    promotes_from: Nullable(Type.String()),
    role: Role,
    gates: Type.Object({
      smoke: Type.Boolean(),
      schema: Type.Boolean(),
      validation: Nullable(
        Type.Object({
          dataset: Type.String(),
          required: Type.Boolean(),
          thresholds: Type.Array(
            Type.Object({
              metric: Type.String(),
              min: Nullable(Type.Number()),
              max: Nullable(Type.Number()),
              max_regression: Nullable(Type.Number()),
            }),
          ),
        }),
      ),
      latency: Nullable(Type.Object({ p99_ms: Type.Number(), requests: Type.Integer() })),
    }),
    approval: Nullable(Type.Object({ role: Role, allow_self: Type.Boolean() })),
    confirm: Type.Boolean(),
    rollout: Nullable(
      Type.Object({
        steps: Type.Array(Type.Number()),
        bake_seconds: Type.Number(),
        max_error_rate: Type.Number(),
        max_p99_ms: Type.Number(),
        min_requests: Type.Integer(),
        max_prediction_divergence: Nullable(Type.Number()),
        min_shadow_agreement: Nullable(Type.Number()),
        by_default: Type.Boolean(),
      }),
    ),
    version_routes: Type.Union([Type.Literal('any'), Type.Literal('deployed')]),
    prediction_log: Type.Object({ sample_rate: Type.Number(), retention_days: Type.Number() }),
  },
  { $id: 'Environment' },
);

export const RevisionSchema = Type.Object(
  {
    deployment: Type.String({ description: '`{model}-{environment}`' }),
    model: Type.String(),
    environment: Type.String(),
    number: Type.Integer(),
    traffic: Type.Array(ShareSchema),
    tags: Type.Record(Type.String(), Type.Integer()),
    shadow: Nullable(ShareSchema),
    kind: Type.Union(
      ['deploy', 'promotion', 'traffic', 'rollout-step', 'rollback', 'automatic-rollback'].map((k) =>
        Type.Literal(k),
      ),
    ),
    actor: Type.String(),
    reason: Type.String(),
    promotion_id: Nullable(Type.String()),
    request_id: Nullable(Type.String()),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'Revision' },
);

/** One gate's verdict, with the figures it judged. */
export const GateSchema = Type.Object({
  gate: Type.Union([...GATE_NAMES, 'approval'].map((g) => Type.Literal(g))),
  status: Type.Union([Type.Literal('passed'), Type.Literal('failed'), Type.Literal('skipped')]),
  message: Type.String(),
  measurements: Type.Optional(
    Type.Record(Type.String(), Type.Union([Type.Number(), Type.String(), Type.Null()])),
  ),
  at: Type.String({ format: 'date-time' }),
});

export const PromotionSchema = Type.Object(
  {
    id: Type.String(),
    model: Type.String(),
    environment: Type.String(),
    version: Type.Integer(),
    status: Type.Union(PROMOTION_STATUSES.map((s) => Type.Literal(s))),
    requested_by: Type.String(),
    reason: Type.String(),
    canary: Type.Boolean(),
    allow_schema_change: Type.Boolean(),
    gates: Type.Array(GateSchema),
    approval: Nullable(Type.Object({ by: Type.String(), at: Type.String(), reason: Type.String() })),
    rollout: Nullable(
      Type.Object({ step: Type.Integer(), step_started_at: Type.String(), note: Nullable(Type.String()) }),
    ),
    baseline: Nullable(Type.Array(ShareSchema)),
    failure: Nullable(Type.String()),
    request_id: Nullable(Type.String()),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'Promotion' },
);

const ServingHealth = Type.String({
  description: 'LOADING, READY, FAILED or NONE here; NOT_LOADED_HERE when this process does not serve it.',
});

export const DeploymentSummarySchema = Type.Object({
  name: Type.String(),
  model: Type.String(),
  environment: Type.String(),
  revision: Type.Ref(RevisionSchema),
  health: ServingHealth,
  promotions: Type.Array(Type.Ref(PromotionSchema), {
    description: 'Promotions in progress: awaiting approval, rolling out or paused.',
  }),
});

export const DeploymentSchema = Type.Object({
  name: Type.String(),
  model: Type.String(),
  environment: Type.String(),
  revision: Type.Ref(RevisionSchema),
  shadow: Nullable(
    Type.Object({
      revision: Type.Integer(),
      version: Type.Integer(),
      requests: Type.Integer(),
      failures: Type.Integer(),
      agreed: Type.Integer(),
      max_abs_diff: Type.Number(),
    }),
  ),
});

export const EnvironmentList = Type.Object({ environments: Type.Array(Type.Ref(EnvironmentSchema)) });
export const DeploymentList = Type.Object({ deployments: Type.Array(DeploymentSummarySchema) });
export const RevisionPage = Type.Object({
  revisions: Type.Array(Type.Ref(RevisionSchema)),
  next_page_token: NextPageToken,
});
export const PromotionPage = Type.Object({
  promotions: Type.Array(Type.Ref(PromotionSchema)),
  next_page_token: NextPageToken,
});

export const EnvParams = Type.Object({ env: PathName });
export const DeploymentParams = Type.Object({ env: PathName, model: PathName });
export const PromotionParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

export const DeploymentQuery = Type.Object({ environment: Type.Optional(PathName) });
export const RevisionQuery = Type.Object(PageQuery);
export const PromotionQuery = Type.Object({
  model: Type.Optional(PathName),
  environment: Type.Optional(PathName),
  status: Type.Optional(Type.String({ maxLength: 200, description: 'Comma-separated statuses.' })),
  ...PageQuery,
});

export const PromoteBody = Type.Object(
  {
    model: PathName,
    version: Type.Integer({ minimum: 1 }),
    reason: Reason,
    canary: Type.Optional(Type.Boolean({ description: "Roll out by the environment's canary plan." })),
    allow_schema_change: Type.Optional(Type.Boolean()),
    confirm: Type.Optional(
      Type.String({
        maxLength: 100,
        description: 'The environment name, where its policy asks for confirmation.',
      }),
    ),
  },
  { additionalProperties: false },
);
export const TrafficBody = Type.Object(
  {
    traffic: Type.Array(ShareSchema, { minItems: 1, maxItems: 20 }),
    tags: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Integer({ minimum: 1 }))),
    shadow: Type.Optional(
      Nullable(
        Type.Object(
          { version: Type.Integer({ minimum: 1 }), percent: Type.Integer({ minimum: 1, maximum: 100 }) },
          { additionalProperties: false },
        ),
      ),
    ),
    reason: Reason,
  },
  { additionalProperties: false },
);
export const RollbackBody = Type.Object(
  { to_revision: Type.Optional(Type.Integer({ minimum: 1 })), reason: Reason },
  { additionalProperties: false },
);
export const ReasonBody = Type.Object({ reason: Reason }, { additionalProperties: false });

export type WireShare = Static<typeof ShareSchema>;
export type WireEnvironment = Static<typeof EnvironmentSchema>;
export type WireRevision = Static<typeof RevisionSchema>;
export type WireGate = Static<typeof GateSchema>;
export type WirePromotion = Static<typeof PromotionSchema>;
export type WireDeploymentSummary = Static<typeof DeploymentSummarySchema>;
export type WireDeployment = Static<typeof DeploymentSchema>;
export type WireRevisionPage = Static<typeof RevisionPage>;
export type WireEnvironmentList = Static<typeof EnvironmentList>;
export type WireDeploymentList = Static<typeof DeploymentList>;
export type WirePromotionPage = Static<typeof PromotionPage>;
export type PromoteRequest = Static<typeof PromoteBody>;
export type TrafficRequest = Static<typeof TrafficBody>;
export type RollbackRequest = Static<typeof RollbackBody>;

export function toWireRevision(r: Revision): WireRevision {
  return {
    deployment: `${r.model}-${r.environment}`,
    model: r.model,
    environment: r.environment,
    number: r.number,
    traffic: r.traffic.map((s) => ({ ...s })),
    tags: { ...r.tags },
    shadow: r.shadow ? { ...r.shadow } : null,
    kind: r.kind,
    actor: r.actor,
    reason: r.reason,
    promotion_id: r.promotionId,
    request_id: r.requestId,
    created_at: r.createdAt,
  };
}

export function toWirePromotion(p: Promotion): WirePromotion {
  return {
    id: p.id,
    model: p.model,
    environment: p.environment,
    version: p.version,
    status: p.status,
    requested_by: p.requestedBy,
    reason: p.reason,
    canary: p.options.canary,
    allow_schema_change: p.options.allowSchemaChange,
    gates: p.gates.map((g) => ({ ...g, ...(g.measurements ? { measurements: { ...g.measurements } } : {}) })),
    approval: p.approval ? { ...p.approval } : null,
    rollout: p.rollout
      ? { step: p.rollout.step, step_started_at: p.rollout.stepStartedAt, note: p.rollout.note }
      : null,
    baseline: p.baseline ? p.baseline.map((s) => ({ ...s })) : null,
    failure: p.failure,
    request_id: p.requestId,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}

export function toWireEnvironment(e: EnvironmentPolicy): WireEnvironment {
  return {
    name: e.name,
    auto_deploy: e.autoDeploy,
    promotes_from: e.promotesFrom,
    role: e.role,
    gates: {
      smoke: e.gates.smoke,
      schema: e.gates.schema,
      validation: e.gates.validation
        ? {
            dataset: e.gates.validation.dataset,
            required: e.gates.validation.required,
            thresholds: e.gates.validation.thresholds.map((t) => ({
              metric: t.metric,
              min: t.min ?? null,
              max: t.max ?? null,
              max_regression: t.maxRegression ?? null,
            })),
          }
        : null,
      latency: e.gates.latency ? { p99_ms: e.gates.latency.p99Ms, requests: e.gates.latency.requests } : null,
    },
    approval: e.approval ? { role: e.approval.role, allow_self: e.approval.allowSelf } : null,
    confirm: e.confirm,
    rollout: e.rollout
      ? {
          steps: [...e.rollout.steps],
          bake_seconds: e.rollout.bakeSeconds,
          max_error_rate: e.rollout.maxErrorRate,
          max_p99_ms: e.rollout.maxP99Ms,
          min_requests: e.rollout.minRequests,
          max_prediction_divergence: e.rollout.maxPredictionDivergence,
          min_shadow_agreement: e.rollout.minShadowAgreement,
          by_default: e.canaryByDefault,
        }
      : null,
    version_routes: e.versionRoutes,
    prediction_log: {
      sample_rate: e.predictionLog.sampleRate,
      retention_days: e.predictionLog.retentionDays,
    },
  };
}
