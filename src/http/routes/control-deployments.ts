import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { StoredToken } from '../../deployments/deployment-store.js';
import type { EnvironmentPolicy } from '../../domain/environment.js';
import { assertModelName } from '../../domain/names.js';
import { type AuditEvent, PROMOTION_STATUSES, type Promotion } from '../../domain/promotion.js';
import type { Revision } from '../../domain/revision.js';
import { parseRole, ROLES } from '../../domain/roles.js';
import { echo, SlipwayError } from '../../errors/index.js';
import { contextOf } from '../auth.js';
import type { HttpServices } from '../services.js';
import { ErrorSchema } from '../wire.js';

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema };
const Name = Type.String({ maxLength: 200 });
const EnvParams = Type.Object({ env: Name });
const DeploymentParams = Type.Object({ env: Name, model: Name });
const PromotionParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const Reason = Type.Optional(Type.String({ maxLength: 2000, description: 'Why; kept in the audit trail.' }));
const Page = {
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000 (default 100).' })),
  page_token: Type.Optional(Type.String({ maxLength: 200 })),
};
const Share = Type.Object(
  { version: Type.Integer({ minimum: 1 }), percent: Type.Integer({ minimum: 0, maximum: 100 }) },
  { additionalProperties: false },
);

const PromoteBody = Type.Object(
  {
    model: Name,
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
const TrafficBody = Type.Object(
  {
    traffic: Type.Array(Share, { minItems: 1, maxItems: 20 }),
    tags: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Integer({ minimum: 1 }))),
    shadow: Type.Optional(
      Type.Union([
        Type.Object(
          { version: Type.Integer({ minimum: 1 }), percent: Type.Integer({ minimum: 1, maximum: 100 }) },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    ),
    reason: Reason,
  },
  { additionalProperties: false },
);
const RollbackBody = Type.Object(
  { to_revision: Type.Optional(Type.Integer({ minimum: 1 })), reason: Reason },
  { additionalProperties: false },
);
const ReasonBody = Type.Object({ reason: Reason }, { additionalProperties: false });
const DatasetBody = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 256, description: 'Column holding the true value.' }),
    rows: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 100_000 }),
  },
  { additionalProperties: false },
);
const TokenBody = Type.Object(
  { name: Type.String({ maxLength: 64 }), role: Type.Union(ROLES.map((r) => Type.Literal(r))) },
  { additionalProperties: false },
);

const developer = { access: 'developer' } as const;
/** Lets a POST whose body fields are all optional be sent with no body at all. */
const emptyBodyIsEmptyObject = async (request: { body: unknown }) => {
  request.body ??= {};
};
const viewer = { access: 'viewer' } as const;
const admin = { access: 'admin' } as const;

/**
 * The control API for environments, deployments, promotions, traffic, rollback, datasets, the audit
 * trail and tokens. Routes check the weakest role that could act; the deployment service then
 * applies the environment's own policy (who may promote there, who must approve).
 */
export async function controlDeploymentRoutes(app: FastifyInstance, services: HttpServices): Promise<void> {
  const { deployments, dataPlane, tokens } = services;
  const tags = ['deployments'];

  app.get(
    '/api/v1/environments',
    { config: viewer, schema: { tags, summary: 'Environments and their policies, in promotion order' } },
    async () => ({ environments: deployments.environments().map(toWireEnvironment) }),
  );

  app.get(
    '/api/v1/deployments',
    {
      config: viewer,
      schema: {
        tags,
        summary: 'Every deployment: its revision in force, versions, shares and health',
        querystring: Type.Object({ environment: Type.Optional(Name) }),
        response: { 404: ErrorSchema },
      },
    },
    async (request) => {
      const { environment } = request.query as { environment?: string };
      if (environment !== undefined) deployments.policy(environment);
      const revisions = await deployments.store.currentRevisions(environment);
      const active = await deployments.store.listPromotions({
        status: ['AWAITING_APPROVAL', 'ROLLING_OUT', 'PAUSED'],
        limit: 1000,
      });
      const health = new Map(dataPlane.status().map((s) => [`${s.environment}/${s.model}`, s.state]));
      const order = deployments.environments().map((e) => e.name);
      return {
        deployments: revisions
          .sort(
            (a, b) =>
              a.model.localeCompare(b.model) || order.indexOf(a.environment) - order.indexOf(b.environment),
          )
          .map((revision) => ({
            name: `${revision.model}-${revision.environment}`,
            model: revision.model,
            environment: revision.environment,
            revision: toWireRevision(revision),
            health: health.get(`${revision.environment}/${revision.model}`) ?? 'NOT_LOADED_HERE',
            promotions: active.items
              .filter((p) => p.model === revision.model && p.environment === revision.environment)
              .map(toWirePromotion),
          })),
      };
    },
  );

  app.get(
    '/api/v1/environments/:env/deployments/:model',
    {
      config: viewer,
      schema: {
        tags,
        summary: 'One deployment: revision in force, shadow comparison',
        params: DeploymentParams,
        response: errors,
      },
    },
    async (request) => {
      const { env, model } = deploymentOf(request.params, deployments);
      const revision = await deployments.store.currentRevision(model, env);
      if (!revision) {
        await services.registry.store.getModel(model);
        throw new SlipwayError('NOT_DEPLOYED', `Model "${model}" is not deployed in ${env}.`, {
          model,
          environment: env,
        });
      }
      const shadow = dataPlane.shadowStats(env, model);
      return {
        name: `${model}-${env}`,
        model,
        environment: env,
        revision: toWireRevision(revision),
        shadow:
          shadow && shadow.revision === revision.number
            ? {
                revision: shadow.revision,
                version: shadow.version,
                requests: shadow.requests,
                failures: shadow.failures,
                agreed: shadow.agreed,
                max_abs_diff: shadow.maxAbsDiff,
              }
            : null,
      };
    },
  );

  app.get(
    '/api/v1/environments/:env/deployments/:model/revisions',
    {
      config: viewer,
      schema: {
        tags,
        summary: 'Revision history, newest first',
        params: DeploymentParams,
        querystring: Type.Object(Page),
        response: errors,
      },
    },
    async (request) => {
      const { env, model } = deploymentOf(request.params, deployments);
      await services.registry.store.getModel(model);
      const page = await deployments.store.listRevisions(
        model,
        env,
        pageOf(request.query as { limit?: string }),
      );
      return { revisions: page.items.map(toWireRevision), next_page_token: page.nextPageToken };
    },
  );

  app.post(
    '/api/v1/environments/:env/promotions',
    {
      config: developer,
      schema: {
        tags,
        summary: 'Promote (or deploy) a version into an environment through its gates',
        description:
          '201 when the version took traffic (or began its canary); 202 when it waits for approval; 422 GATE_FAILED when a gate failed (nothing changed in service; `details.gates` has every result).',
        params: EnvParams,
        body: PromoteBody,
        response: { ...errors, 422: ErrorSchema },
      },
    },
    async (request, reply) => {
      const { env } = request.params as Static<typeof EnvParams>;
      const body = request.body as Static<typeof PromoteBody>;
      const promotion = await deployments.promote(
        {
          model: assertModelName(body.model, 'model'),
          version: body.version,
          environment: env,
          ...(body.reason !== undefined ? { reason: body.reason } : {}),
          ...(body.canary !== undefined ? { canary: body.canary } : {}),
          ...(body.allow_schema_change !== undefined ? { allowSchemaChange: body.allow_schema_change } : {}),
          ...(body.confirm !== undefined ? { confirm: body.confirm } : {}),
        },
        contextOf(request),
      );
      return reply
        .status(promotion.status === 'AWAITING_APPROVAL' ? 202 : 201)
        .send(toWirePromotion(promotion));
    },
  );

  app.get(
    '/api/v1/promotions',
    {
      config: viewer,
      schema: {
        tags,
        summary: 'Promotions, newest first',
        querystring: Type.Object({
          model: Type.Optional(Name),
          environment: Type.Optional(Name),
          status: Type.Optional(Type.String({ maxLength: 200, description: 'Comma-separated statuses.' })),
          ...Page,
        }),
      },
    },
    async (request) => {
      const query = request.query as {
        model?: string;
        environment?: string;
        status?: string;
        limit?: string;
        page_token?: string;
      };
      const page = await deployments.store.listPromotions({
        ...(query.model ? { model: query.model } : {}),
        ...(query.environment ? { environment: query.environment } : {}),
        ...(query.status ? { status: parseStatuses(query.status) } : {}),
        ...pageOf(query),
      });
      return { promotions: page.items.map(toWirePromotion), next_page_token: page.nextPageToken };
    },
  );

  app.get(
    '/api/v1/promotions/:id',
    {
      config: viewer,
      schema: {
        tags,
        summary: 'A promotion with its gate results',
        params: PromotionParams,
        response: errors,
      },
    },
    async (request) =>
      toWirePromotion(await deployments.store.getPromotion((request.params as { id: string }).id)),
  );

  const promotionAction = (action: 'approve' | 'reject' | 'pause' | 'resume' | 'abort', summary: string) =>
    app.post(
      `/api/v1/promotions/:id/${action}`,
      {
        config: developer,
        preValidation: emptyBodyIsEmptyObject,
        schema: { tags, summary, params: PromotionParams, body: ReasonBody, response: errors },
      },
      async (request) => {
        const { id } = request.params as { id: string };
        const reason = (request.body as Static<typeof ReasonBody>).reason ?? '';
        const context = contextOf(request);
        const promotion =
          action === 'approve'
            ? await deployments.approve(id, reason, context)
            : action === 'reject'
              ? await deployments.reject(id, reason, context)
              : action === 'pause'
                ? await deployments.pause(id, reason, context)
                : action === 'resume'
                  ? await deployments.resume(id, reason, context)
                  : await deployments.abort(id, reason, context);
        return toWirePromotion(promotion);
      },
    );
  promotionAction('approve', 'Approve a promotion that waits for approval');
  promotionAction('reject', 'Reject a promotion that waits for approval');
  promotionAction('pause', 'Pause a canary rollout');
  promotionAction('resume', 'Resume a paused rollout (its step bakes again)');
  promotionAction('abort', 'Abort a rollout and restore the traffic from before it');

  app.put(
    '/api/v1/environments/:env/deployments/:model/traffic',
    {
      config: developer,
      schema: {
        tags,
        summary: 'Set the traffic split (and tags, shadow) as a new revision',
        params: DeploymentParams,
        body: TrafficBody,
        response: errors,
      },
    },
    async (request) => {
      const { env, model } = deploymentOf(request.params, deployments);
      const body = request.body as Static<typeof TrafficBody>;
      const revision = await deployments.setTraffic(
        env,
        model,
        {
          traffic: body.traffic,
          ...(body.tags !== undefined ? { tags: body.tags } : {}),
          ...(body.shadow !== undefined ? { shadow: body.shadow } : {}),
          ...(body.reason !== undefined ? { reason: body.reason } : {}),
        },
        contextOf(request),
      );
      return toWireRevision(revision);
    },
  );

  app.post(
    '/api/v1/environments/:env/deployments/:model/rollback',
    {
      config: developer,
      preValidation: emptyBodyIsEmptyObject,
      schema: {
        tags,
        summary: 'Roll back: a new revision restoring the previous (or a named) revision, skipping analysis',
        params: DeploymentParams,
        body: RollbackBody,
        response: errors,
      },
    },
    async (request) => {
      const { env, model } = deploymentOf(request.params, deployments);
      const body = request.body as Static<typeof RollbackBody>;
      const revision = await deployments.rollback(
        env,
        model,
        {
          ...(body.to_revision !== undefined ? { toRevision: body.to_revision } : {}),
          ...(body.reason !== undefined ? { reason: body.reason } : {}),
        },
        contextOf(request),
      );
      return toWireRevision(revision);
    },
  );

  app.put(
    '/api/v1/models/:model/datasets/:name',
    {
      config: developer,
      schema: {
        tags,
        summary: 'Register (or replace) a labelled dataset for validation gates',
        params: Type.Object({ model: Name, name: Type.String({ maxLength: 100 }) }),
        body: DatasetBody,
        response: { 200: Type.Unknown(), 201: Type.Unknown(), ...errors },
      },
    },
    async (request, reply) => {
      const params = request.params as { model: string; name: string };
      const model = assertModelName(params.model, 'model');
      if (!/^[a-z0-9][a-z0-9._-]{0,99}$/.test(params.name)) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          `dataset name ${echo(params.name)} is invalid: expected lowercase letters, digits, '.', '_' or '-'.`,
          {
            field: 'name',
          },
        );
      }
      const body = request.body as Static<typeof DatasetBody>;
      const { replaced } = await deployments.putDataset(
        { model, name: params.name, label: body.label, rows: body.rows },
        contextOf(request),
      );
      return reply
        .status(replaced ? 200 : 201)
        .send({ model, name: params.name, label: body.label, rows: body.rows.length, replaced });
    },
  );

  app.get(
    '/api/v1/audit',
    {
      config: viewer,
      schema: {
        tags: ['audit'],
        summary: 'The audit trail, newest first',
        querystring: Type.Object({
          target: Type.Optional(Type.String({ maxLength: 300 })),
          actor: Type.Optional(Type.String({ maxLength: 200 })),
          action: Type.Optional(
            Type.String({ maxLength: 100, description: 'An action, or a prefix ending in `.`' }),
          ),
          ...Page,
        }),
      },
    },
    async (request) => {
      const query = request.query as {
        target?: string;
        actor?: string;
        action?: string;
        limit?: string;
        page_token?: string;
      };
      const page = await deployments.store.listAudit({
        ...(query.target ? { target: query.target } : {}),
        ...(query.actor ? { actor: query.actor } : {}),
        ...(query.action ? { action: query.action } : {}),
        ...pageOf(query),
      });
      return { events: page.items.map(toWireAudit), next_page_token: page.nextPageToken };
    },
  );

  app.post(
    '/api/v1/tokens',
    {
      config: admin,
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token; its secret is in this response only',
        body: TokenBody,
        response: { 201: Type.Unknown(), ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body as Static<typeof TokenBody>;
      const { token, secret } = await tokens.create(body.name, parseRole(body.role), contextOf(request));
      return reply.status(201).send({ ...toWireToken(token), token: secret });
    },
  );
  app.get(
    '/api/v1/tokens',
    { config: admin, schema: { tags: ['tokens'], summary: 'List tokens (never their secrets)' } },
    async () => ({ tokens: (await tokens.list()).map(toWireToken) }),
  );
  app.delete(
    '/api/v1/tokens/:name',
    {
      config: admin,
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token',
        params: Type.Object({ name: Type.String({ maxLength: 64 }) }),
        response: errors,
      },
    },
    async (request) =>
      toWireToken(await tokens.revoke((request.params as { name: string }).name, contextOf(request))),
  );
}

function parseStatuses(text: string): Promotion['status'][] {
  return text.split(',').map((status) => {
    if (!(PROMOTION_STATUSES as readonly string[]).includes(status)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `status ${echo(status)} is not a promotion status; expected any of ${PROMOTION_STATUSES.join(', ')}, comma-separated.`,
        { field: 'status' },
      );
    }
    return status as Promotion['status'];
  });
}

function deploymentOf(
  params: unknown,
  deployments: HttpServices['deployments'],
): { env: string; model: string } {
  const { env, model } = params as { env: string; model: string };
  deployments.policy(env);
  return { env, model: assertModelName(model, 'model') };
}

function pageOf(query: { limit?: string; page_token?: string }) {
  return {
    ...(query.limit !== undefined ? { limit: Number(query.limit) } : {}),
    ...(query.page_token ? { pageToken: query.page_token } : {}),
  };
}

export function toWireRevision(r: Revision) {
  return {
    deployment: `${r.model}-${r.environment}`,
    model: r.model,
    environment: r.environment,
    number: r.number,
    traffic: r.traffic,
    tags: r.tags,
    shadow: r.shadow,
    kind: r.kind,
    actor: r.actor,
    reason: r.reason,
    promotion_id: r.promotionId,
    request_id: r.requestId,
    created_at: r.createdAt,
  };
}

export function toWirePromotion(p: Promotion) {
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
    gates: p.gates,
    approval: p.approval,
    rollout: p.rollout
      ? { step: p.rollout.step, step_started_at: p.rollout.stepStartedAt, note: p.rollout.note }
      : null,
    baseline: p.baseline,
    failure: p.failure,
    request_id: p.requestId,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}

function toWireAudit(e: AuditEvent) {
  return {
    seq: e.seq,
    time: e.time,
    actor: e.actor,
    action: e.action,
    target: e.target,
    before: e.before,
    after: e.after,
    result: e.result,
    request_id: e.requestId,
    details: e.details,
  };
}

export function toWireToken(t: StoredToken) {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    created_by: t.createdBy,
    created_at: t.createdAt,
    revoked_at: t.revokedAt,
  };
}

function toWireEnvironment(e: EnvironmentPolicy) {
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
          steps: e.rollout.steps,
          bake_seconds: e.rollout.bakeSeconds,
          max_error_rate: e.rollout.maxErrorRate,
          max_p99_ms: e.rollout.maxP99Ms,
          min_requests: e.rollout.minRequests,
          by_default: e.canaryByDefault,
        }
      : null,
    version_routes: e.versionRoutes,
  };
}
