import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { assertModelName } from '../../domain/names.js';
import { PROMOTION_STATUSES, type Promotion } from '../../domain/promotion.js';
import { LOCAL_ACTOR, parseRole } from '../../domain/roles.js';
import { echo, SlipwayError } from '../../errors/index.js';
import { contextOf } from '../auth.js';
import type { HttpServices } from '../services.js';
import type { TypeBoxTypeProvider } from '../type-provider.js';
import { AuditPage, AuditQuery, toWireAudit } from '../wire/audit.js';
import { errorResponses } from '../wire/common.js';
import { DatasetBody, DatasetParams, DatasetResult } from '../wire/datasets.js';
import {
  DeploymentList,
  DeploymentParams,
  DeploymentQuery,
  DeploymentSchema,
  EnvironmentList,
  EnvParams,
  PromoteBody,
  PromotionPage,
  PromotionParams,
  PromotionQuery,
  PromotionSchema,
  ReasonBody,
  RevisionPage,
  RevisionQuery,
  RevisionSchema,
  RollbackBody,
  TrafficBody,
  toWireEnvironment,
  toWirePromotion,
  toWireRevision,
} from '../wire/deployments.js';
import {
  CreatedTokenSchema,
  TokenBody,
  TokenList,
  TokenParams,
  TokenSchema,
  toWireToken,
  WhoAmISchema,
  type WireWhoAmI,
} from '../wire/tokens.js';

const errors = errorResponses(400, 401, 403, 404, 409);
const PromotionRef = Type.Ref(PromotionSchema);
const RevisionRef = Type.Ref(RevisionSchema);
const TokenRef = Type.Ref(TokenSchema);

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
export async function controlDeploymentRoutes(scope: FastifyInstance, services: HttpServices): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { deployments, dataPlane, tokens } = services;
  const tags = ['deployments'];

  app.get(
    '/api/v1/environments',
    {
      config: viewer,
      schema: {
        tags,
        operationId: 'listEnvironments',
        summary: 'Environments and their policies, in promotion order',
        response: { 200: EnvironmentList },
      },
    },
    async () => ({ environments: deployments.environments().map(toWireEnvironment) }),
  );

  app.get(
    '/api/v1/deployments',
    {
      config: viewer,
      schema: {
        tags,
        operationId: 'listDeployments',
        summary: 'Every deployment: its revision in force, versions, shares and health',
        querystring: DeploymentQuery,
        response: { 200: DeploymentList, ...errorResponses(400, 404) },
      },
    },
    async (request) => {
      const { environment } = request.query as { environment?: string };
      const revisions = await deployments.currentRevisions(environment);
      const active = await deployments.listPromotions({
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
        operationId: 'getDeployment',
        summary: 'One deployment: revision in force, shadow comparison',
        params: DeploymentParams,
        response: { 200: DeploymentSchema, ...errors },
      },
    },
    async (request) => {
      const { env, model } = deploymentOf(request.params, deployments);
      const revision = await deployments.deployment(env, model);
      const shadow = await deployments.shadow(env, model, revision.number);
      return {
        name: `${model}-${env}`,
        model,
        environment: env,
        revision: toWireRevision(revision),
        shadow: shadow
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
        operationId: 'listRevisions',
        summary: 'Revision history, newest first',
        params: DeploymentParams,
        querystring: RevisionQuery,
        response: { 200: RevisionPage, ...errors },
      },
    },
    async (request) => {
      const { env, model } = deploymentOf(request.params, deployments);
      const page = await deployments.history(env, model, pageOf(request.query as { limit?: string }));
      return { revisions: page.items.map(toWireRevision), next_page_token: page.nextPageToken };
    },
  );

  app.post(
    '/api/v1/environments/:env/promotions',
    {
      config: developer,
      schema: {
        tags,
        operationId: 'promote',
        summary: 'Promote (or deploy) a version into an environment through its gates',
        description:
          '201 when the version took traffic (or began its canary); 202 when it waits for approval; 422 GATE_FAILED when a gate failed (nothing changed in service; `details.gates` has every result).',
        params: EnvParams,
        body: PromoteBody,
        response: { 201: PromotionRef, 202: PromotionRef, ...errors, ...errorResponses(422) },
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
        operationId: 'listPromotions',
        summary: 'Promotions, newest first',
        querystring: PromotionQuery,
        response: { 200: PromotionPage, ...errorResponses(400) },
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
      const page = await deployments.listPromotions({
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
        operationId: 'getPromotion',
        summary: 'A promotion with its gate results',
        params: PromotionParams,
        response: { 200: PromotionRef, ...errors },
      },
    },
    async (request) => toWirePromotion(await deployments.getPromotion((request.params as { id: string }).id)),
  );

  const promotionAction = (action: 'approve' | 'reject' | 'pause' | 'resume' | 'abort', summary: string) =>
    app.post(
      `/api/v1/promotions/:id/${action}`,
      {
        config: developer,
        preValidation: emptyBodyIsEmptyObject,
        schema: {
          tags,
          operationId: `${action}Promotion`,
          summary,
          params: PromotionParams,
          body: ReasonBody,
          response: { 200: PromotionRef, ...errors },
        },
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
  promotionAction('abort', 'Abort a promotion that has not ended; a rollout gets its baseline traffic back');

  app.put(
    '/api/v1/environments/:env/deployments/:model/traffic',
    {
      config: developer,
      schema: {
        tags,
        operationId: 'setTraffic',
        summary: 'Set the traffic split (and tags, shadow) as a new revision',
        params: DeploymentParams,
        body: TrafficBody,
        response: { 200: RevisionRef, ...errors },
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
        operationId: 'rollback',
        summary: 'Roll back: a new revision restoring the previous (or a named) revision, skipping analysis',
        params: DeploymentParams,
        body: RollbackBody,
        response: { 200: RevisionRef, ...errors },
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
        operationId: 'putDataset',
        summary: 'Register (or replace) a labelled dataset for validation gates',
        params: DatasetParams,
        body: DatasetBody,
        response: { 200: DatasetResult, 201: DatasetResult, ...errors },
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
        operationId: 'listAudit',
        summary: 'The audit trail, newest first',
        querystring: AuditQuery,
        response: { 200: AuditPage, ...errorResponses(400) },
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
      const page = await deployments.listAudit({
        ...(query.target ? { target: query.target } : {}),
        ...(query.actor ? { actor: query.actor } : {}),
        ...(query.action ? { action: query.action } : {}),
        ...pageOf(query),
      });
      return { events: page.items.map(toWireAudit), next_page_token: page.nextPageToken };
    },
  );

  app.get(
    '/api/v1/whoami',
    {
      // Public so that a page can learn, without a refusal, whether it must ask for a token; a token
      // that is sent is checked as on every other route.
      config: { access: 'public' },
      schema: {
        tags: ['tokens'],
        operationId: 'whoAmI',
        summary: "The caller's name and role, and whether the server needs a token",
        response: { 200: WhoAmISchema, ...errors },
      },
    },
    async (request): Promise<WireWhoAmI> => {
      if (!services.config.auth) return { name: LOCAL_ACTOR.name, role: LOCAL_ACTOR.role, auth: false };
      if (request.headers.authorization === undefined) return { name: null, role: null, auth: true };
      const { name, role } = await tokens.authenticate(request.headers.authorization);
      return { name, role, auth: true };
    },
  );
  app.post(
    '/api/v1/tokens',
    {
      config: admin,
      schema: {
        tags: ['tokens'],
        operationId: 'createToken',
        summary: 'Create an API token; its secret is in this response only',
        body: TokenBody,
        response: { 201: CreatedTokenSchema, ...errors },
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
    {
      config: admin,
      schema: {
        tags: ['tokens'],
        operationId: 'listTokens',
        summary: 'List tokens (never their secrets)',
        response: { 200: TokenList },
      },
    },
    async () => ({ tokens: (await tokens.list()).map(toWireToken) }),
  );
  app.delete(
    '/api/v1/tokens/:name',
    {
      config: admin,
      schema: {
        tags: ['tokens'],
        operationId: 'revokeToken',
        summary: 'Revoke a token',
        params: TokenParams,
        response: { 200: TokenRef, ...errors },
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
