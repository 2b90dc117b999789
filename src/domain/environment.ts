import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { SlipwayError } from '../errors/index.js';
import type { MetricName } from './metrics.js';
import { ROLES, type Role } from './roles.js';

/**
 * Environments are data: an ordered list (default dev -> staging -> prod), each with the policy that
 * decides how a version gets in. `slipway.yaml` may replace the list; these are the defaults.
 */
export type GateName = 'smoke' | 'schema' | 'validation' | 'latency';
export const GATE_NAMES: readonly GateName[] = ['smoke', 'schema', 'validation', 'latency'];

/** A limit on one validation metric: absolute (`min`/`max`) and relative to the incumbent. */
export interface MetricThreshold {
  readonly metric: MetricName;
  readonly min?: number;
  readonly max?: number;
  /** How much worse than the version in service the candidate may be (in the metric's own units). */
  readonly maxRegression?: number;
}

export interface ValidationGate {
  /** Name of the model's registered validation dataset. */
  readonly dataset: string;
  /** When true, a model without that dataset fails the gate; otherwise the gate is skipped. */
  readonly required: boolean;
  readonly thresholds: readonly MetricThreshold[];
}

export interface LatencyGate {
  /** Budget for the 99th percentile of warm single-row predictions. */
  readonly p99Ms: number;
  readonly requests: number;
}

export interface Gates {
  readonly smoke: boolean;
  readonly schema: boolean;
  readonly validation: ValidationGate | null;
  readonly latency: LatencyGate | null;
}

/** A canary plan: traffic shares for the candidate, a bake time per step, and the limits it watches. */
export interface RolloutPlan {
  /** Candidate percentages, increasing, the last one 100. */
  readonly steps: readonly number[];
  readonly bakeSeconds: number;
  /** Share of server-side failures (not client errors) above which the canary is rolled back. */
  readonly maxErrorRate: number;
  readonly maxP99Ms: number;
  /** Fewer requests than this in a step makes its analysis inconclusive, which pauses the rollout. */
  readonly minRequests: number;
  /**
   * Model quality: the largest Jensen-Shannon distance (0 to 1) allowed between the canary's
   * predictions and the stable version's on the same step's traffic; null turns the check off.
   */
  readonly maxPredictionDivergence: number | null;
  /** Model quality: the least share of mirrored requests the shadow must agree on; null turns it off. */
  readonly minShadowAgreement: number | null;
}

export interface EnvironmentPolicy {
  readonly name: string;
  /** Deploy every new READY version automatically (dev). */
  readonly autoDeploy: boolean;
  /** A version must be serving there before it can be promoted here. */
  readonly promotesFrom: string | null;
  /** Role needed to promote, deploy, change traffic or roll back here. */
  readonly role: Role;
  readonly gates: Gates;
  /** Role that must approve a promotion before it takes traffic; null when no approval is needed. */
  readonly approval: { readonly role: Role; readonly allowSelf: boolean } | null;
  /** Promotions must carry `confirm` equal to the environment's name (type-to-confirm). */
  readonly confirm: boolean;
  /** Canary plan used when a promotion asks for one (or always, when `canaryByDefault`). */
  readonly rollout: RolloutPlan | null;
  readonly canaryByDefault: boolean;
  /**
   * Which versions the explicit-version routes (`/versions/{v}`) may reach: `any` READY version, or
   * only those the deployment's current revision names (traffic, tags, shadow).
   */
  readonly versionRoutes: 'any' | 'deployed';
  /** Which share of this environment's served requests the prediction log records, and for how long. */
  readonly predictionLog: PredictionLogPolicy;
}

/** The prediction log of one environment (observability/prediction-log.ts writes and sweeps it). */
export interface PredictionLogPolicy {
  /** Share of served requests recorded, from 0 (none: the log is off) to 1 (every request). */
  readonly sampleRate: number;
  /** Hour partitions that ended more than this many days ago are removed. */
  readonly retentionDays: number;
}

/**
 * A twentieth of the traffic is enough to see inputs drift and small enough to cost little; a month
 * covers the comparisons drift analysis makes (this week against the weeks before).
 */
export const DEFAULT_PREDICTION_LOG: PredictionLogPolicy = { sampleRate: 0.05, retentionDays: 30 };

export const DEFAULT_ROLLOUT: RolloutPlan = {
  steps: [10, 50, 100],
  bakeSeconds: 60,
  maxErrorRate: 0.01,
  maxP99Ms: 250,
  minRequests: 20,
  maxPredictionDivergence: null,
  minShadowAgreement: null,
};

/**
 * The gates of staging and prod by default: smoke, schema, latency, and validation on the model's
 * `validation` dataset when it has one, no worse than the version in service by more than a small margin.
 */
const CHECKED_GATES: Gates = {
  smoke: true,
  schema: true,
  validation: {
    dataset: 'validation',
    required: false,
    thresholds: [
      { metric: 'accuracy', maxRegression: 0.02 },
      { metric: 'log_loss', maxRegression: 0.05 },
      { metric: 'auc', maxRegression: 0.02 },
      { metric: 'rmse', maxRegression: 0.05 },
      { metric: 'mae', maxRegression: 0.05 },
    ],
  },
  latency: { p99Ms: 100, requests: 100 },
};

export const DEFAULT_ENVIRONMENTS: readonly EnvironmentPolicy[] = [
  {
    name: 'dev',
    autoDeploy: true,
    promotesFrom: null,
    role: 'developer',
    gates: { smoke: true, schema: false, validation: null, latency: null },
    approval: null,
    confirm: false,
    rollout: null,
    canaryByDefault: false,
    versionRoutes: 'any',
    predictionLog: DEFAULT_PREDICTION_LOG,
  },
  {
    name: 'staging',
    autoDeploy: false,
    promotesFrom: 'dev',
    role: 'deployer',
    gates: CHECKED_GATES,
    approval: null,
    confirm: false,
    rollout: null,
    canaryByDefault: false,
    versionRoutes: 'deployed',
    predictionLog: DEFAULT_PREDICTION_LOG,
  },
  {
    name: 'prod',
    autoDeploy: false,
    promotesFrom: 'staging',
    role: 'deployer',
    gates: CHECKED_GATES,
    approval: { role: 'approver', allowSelf: false },
    confirm: true,
    rollout: DEFAULT_ROLLOUT,
    canaryByDefault: false,
    versionRoutes: 'deployed',
    predictionLog: DEFAULT_PREDICTION_LOG,
  },
];

// --- slipway.yaml --------------------------------------------------------------------------------

const RoleSchema = Type.Union(ROLES.map((role) => Type.Literal(role)));
const MetricSchema = Type.Union(
  (['accuracy', 'log_loss', 'auc', 'rmse', 'mae'] as const).map((m) => Type.Literal(m)),
);
const NAME = '^[a-z][a-z0-9-]{0,31}$';
/** What an environment's name may be (it appears in URLs, deployment names and artifact keys). */
export const ENVIRONMENT_NAME = new RegExp(NAME);

/** The `environments:` list of slipway.yaml, in snake_case as written there. */
export const EnvironmentsFileSchema = Type.Array(
  Type.Object(
    {
      name: Type.String({ pattern: NAME }),
      auto_deploy: Type.Optional(Type.Boolean()),
      promotes_from: Type.Optional(Type.Union([Type.String({ pattern: NAME }), Type.Null()])),
      role: Type.Optional(RoleSchema),
      gates: Type.Optional(
        Type.Object(
          {
            smoke: Type.Optional(Type.Boolean()),
            schema: Type.Optional(Type.Boolean()),
            validation: Type.Optional(
              Type.Union([
                Type.Null(),
                Type.Object(
                  {
                    dataset: Type.Optional(Type.String({ maxLength: 100 })),
                    required: Type.Optional(Type.Boolean()),
                    thresholds: Type.Array(
                      Type.Object(
                        {
                          metric: MetricSchema,
                          min: Type.Optional(Type.Number()),
                          max: Type.Optional(Type.Number()),
                          max_regression: Type.Optional(Type.Number({ minimum: 0 })),
                        },
                        { additionalProperties: false },
                      ),
                    ),
                  },
                  { additionalProperties: false },
                ),
              ]),
            ),
            latency: Type.Optional(
              Type.Union([
                Type.Null(),
                Type.Object(
                  {
                    p99_ms: Type.Number({ exclusiveMinimum: 0 }),
                    requests: Type.Optional(Type.Integer({ minimum: 10, maximum: 100000 })),
                  },
                  { additionalProperties: false },
                ),
              ]),
            ),
          },
          { additionalProperties: false },
        ),
      ),
      approval: Type.Optional(
        Type.Union([
          Type.Null(),
          Type.Object(
            { role: RoleSchema, allow_self: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
        ]),
      ),
      confirm: Type.Optional(Type.Boolean()),
      rollout: Type.Optional(
        Type.Union([
          Type.Null(),
          Type.Object(
            {
              steps: Type.Array(Type.Integer({ minimum: 1, maximum: 100 }), { minItems: 1, maxItems: 20 }),
              bake_seconds: Type.Number({ minimum: 0, maximum: 86400 }),
              max_error_rate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
              max_p99_ms: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
              min_requests: Type.Optional(Type.Integer({ minimum: 0 })),
              max_prediction_divergence: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
              min_shadow_agreement: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
              by_default: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
        ]),
      ),
      version_routes: Type.Optional(Type.Union([Type.Literal('any'), Type.Literal('deployed')])),
      prediction_log: Type.Optional(
        Type.Object(
          {
            sample_rate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
            retention_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3660 })),
          },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  { minItems: 1, maxItems: 20 },
);
type EnvironmentsFile = Static<typeof EnvironmentsFileSchema>;

const checkEnvironments = TypeCompiler.Compile(EnvironmentsFileSchema);

/**
 * Compiles the `environments:` section of slipway.yaml into policies. Omitted fields take the
 * defaults of the environment of the same name, or of `staging` for a new name. The chain of
 * `promotes_from` must name earlier environments, so promotions always move forward.
 */
export function compileEnvironments(value: unknown, source = 'slipway.yaml'): EnvironmentPolicy[] {
  const first = checkEnvironments.Errors(value).First();
  if (first) {
    const field = `environments${first.path.replaceAll('/', '.')}`;
    throw new SlipwayError('INVALID_ARGUMENT', `${source}: ${field}: ${first.message}.`, { field });
  }
  const policies: EnvironmentPolicy[] = [];
  for (const [index, entry] of (value as EnvironmentsFile).entries()) {
    const field = `environments.${index}`;
    const base =
      DEFAULT_ENVIRONMENTS.find((env) => env.name === entry.name) ??
      (DEFAULT_ENVIRONMENTS[1] as EnvironmentPolicy);
    if (policies.some((p) => p.name === entry.name)) {
      throw invalid(source, `${field}.name`, `"${entry.name}" is listed twice`);
    }
    const promotesFrom =
      entry.promotes_from === undefined ? (policies.at(-1)?.name ?? null) : entry.promotes_from;
    if (promotesFrom !== null && !policies.some((p) => p.name === promotesFrom)) {
      throw invalid(
        source,
        `${field}.promotes_from`,
        `"${promotesFrom}" must name an environment listed before "${entry.name}"`,
      );
    }
    const rollout = entry.rollout === undefined ? base.rollout : compileRollout(entry.rollout, source, field);
    policies.push({
      name: entry.name,
      autoDeploy: entry.auto_deploy ?? (index === 0 ? base.autoDeploy : false),
      promotesFrom,
      role: entry.role ?? base.role,
      gates: {
        smoke: entry.gates?.smoke ?? base.gates.smoke,
        schema: entry.gates?.schema ?? base.gates.schema,
        validation:
          entry.gates?.validation === undefined
            ? base.gates.validation
            : entry.gates.validation === null
              ? null
              : {
                  dataset: entry.gates.validation.dataset ?? 'validation',
                  required: entry.gates.validation.required ?? true,
                  thresholds: entry.gates.validation.thresholds.map((t) => ({
                    metric: t.metric,
                    ...(t.min !== undefined ? { min: t.min } : {}),
                    ...(t.max !== undefined ? { max: t.max } : {}),
                    ...(t.max_regression !== undefined ? { maxRegression: t.max_regression } : {}),
                  })),
                },
        latency:
          entry.gates?.latency === undefined
            ? base.gates.latency
            : entry.gates.latency === null
              ? null
              : { p99Ms: entry.gates.latency.p99_ms, requests: entry.gates.latency.requests ?? 100 },
      },
      approval:
        entry.approval === undefined
          ? base.approval
          : entry.approval === null
            ? null
            : { role: entry.approval.role, allowSelf: entry.approval.allow_self ?? false },
      confirm: entry.confirm ?? base.confirm,
      rollout,
      canaryByDefault:
        entry.rollout?.by_default ?? (entry.rollout === undefined ? base.canaryByDefault : false),
      versionRoutes: entry.version_routes ?? base.versionRoutes,
      predictionLog: {
        sampleRate: entry.prediction_log?.sample_rate ?? base.predictionLog.sampleRate,
        retentionDays: entry.prediction_log?.retention_days ?? base.predictionLog.retentionDays,
      },
    });
  }
  return policies;
}

function compileRollout(
  rollout: Exclude<EnvironmentsFile[number]['rollout'], undefined>,
  source: string,
  field: string,
): RolloutPlan | null {
  if (rollout === null) return null;
  const steps = rollout.steps;
  if (steps.at(-1) !== 100 || steps.some((step, i) => i > 0 && step <= (steps[i - 1] as number))) {
    throw invalid(source, `${field}.rollout.steps`, 'steps must increase and end at 100');
  }
  return {
    steps,
    bakeSeconds: rollout.bake_seconds,
    maxErrorRate: rollout.max_error_rate ?? DEFAULT_ROLLOUT.maxErrorRate,
    maxP99Ms: rollout.max_p99_ms ?? DEFAULT_ROLLOUT.maxP99Ms,
    minRequests: rollout.min_requests ?? DEFAULT_ROLLOUT.minRequests,
    maxPredictionDivergence: rollout.max_prediction_divergence ?? DEFAULT_ROLLOUT.maxPredictionDivergence,
    minShadowAgreement: rollout.min_shadow_agreement ?? DEFAULT_ROLLOUT.minShadowAgreement,
  };
}

function invalid(source: string, field: string, message: string): SlipwayError {
  return new SlipwayError('INVALID_ARGUMENT', `${source}: ${field}: ${message}.`, { field });
}
