import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditStore } from '../audit/audit-store.js';
import type { TokenService } from '../auth/token-service.js';
import {
  type Actor,
  isRole,
  LOCAL_ACTOR,
  type RequestContext,
  type Role,
  requireRole,
} from '../domain/roles.js';

/**
 * Who may call a route: `public` (health, docs), or the weakest role that may. Every route declares
 * one in `config.access`; a route without one refuses to register, so none is open by oversight.
 * Finer rules (which environment a role may change) are the services' own, on top of this.
 */
export type Access = 'public' | Role;

/** A registered route and who may call it. */
export interface AccessRule {
  readonly method: string;
  readonly url: string;
  readonly access: Access;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyInstance {
    /** Every route and its access rule, in registration order (for review and tests). */
    accessRules: readonly AccessRule[];
  }
  interface FastifyRequest {
    actor: Actor | null;
  }
}

/** Where the interactive API docs live. */
export const DOCS = '/docs';

const ANONYMOUS: Actor = { name: 'anonymous', role: 'viewer' };

export interface AuthOptions {
  /** False in local mode: every request acts as the local admin. */
  readonly enabled: boolean;
  readonly tokens: TokenService;
  readonly audit: Pick<AuditStore, 'record'>;
}

/** Installs the access check on every route of `app` (call before registering routes). */
export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  const rules: AccessRule[] = [];
  const operationIds = new Map<string, string>();
  app.decorate('accessRules', rules);
  app.decorateRequest('actor', null);
  app.addHook('onRoute', (route) => {
    // The interactive API docs (a plugin's routes) are public, like the OpenAPI document they show.
    if (route.url === DOCS || route.url.startsWith(`${DOCS}/`)) {
      route.config = { ...(route.config as object), access: 'public' } as typeof route.config;
    }
    const access = (route.config as { access?: unknown } | undefined)?.access;
    if (access !== 'public' && !isRole(access)) {
      throw new Error(`Route ${route.method} ${route.url} declares no access rule (config.access).`);
    }
    for (const method of [route.method].flat()) rules.push({ method, url: route.url, access });
    assertDocumented(route, operationIds);
    // The OpenAPI document shows the rule: which routes need a token, and the role they need.
    if (route.schema && !route.schema.hide) {
      const schema = route.schema as { security?: unknown; description?: string };
      schema.security = access === 'public' ? [] : [{ token: [] }];
      const rule = access === 'public' ? 'Public.' : `Needs a token with role ${access} or above.`;
      // GET and its HEAD twin share one schema object: add the rule once.
      if (!schema.description?.endsWith(rule)) {
        schema.description = schema.description ? `${schema.description}\n\n${rule}` : rule;
      }
    }
  });
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.access;
    // Unmatched paths (404) have no route and no rule; they answer the same to everyone.
    if (access === undefined) return;
    if (!options.enabled) {
      request.actor = LOCAL_ACTOR;
      return;
    }
    if (access === 'public') return;
    request.actor = await options.tokens.authenticate(request.headers.authorization);
    requireRole(request.actor, access, `${request.method} ${request.routeOptions.url}`);
  });
  // Refused attempts to change something are part of the audit trail.
  // A callback hook: every request passes it, and only refused changes do anything.
  app.addHook('onResponse', (request, reply, done) => {
    if (
      (reply.statusCode !== 401 && reply.statusCode !== 403) ||
      request.method === 'GET' ||
      request.method === 'HEAD'
    ) {
      done();
      return;
    }
    options.audit
      .record({
        actor: request.actor?.name ?? 'anonymous',
        action: 'request.denied',
        target: `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`,
        result: 'denied',
        requestId: request.id,
        details: { status: reply.statusCode },
      })
      .catch((error: unknown) => request.log.error({ err: error }, 'could not record a denied request'))
      .finally(() => done());
  });
}

/** The actor and request id services record. */
export function contextOf(request: FastifyRequest): RequestContext {
  return { actor: request.actor ?? ANONYMOUS, requestId: request.id };
}

/**
 * A route the OpenAPI document shows must name its operation (`operationId`, unique) and describe
 * each success answer (a `2xx` response schema), so clients generated from the document have a name
 * and a type for every call. Hidden routes (MLflow's, the docs' own) are exempt.
 */
function assertDocumented(
  route: { method: string | string[]; url: string; schema?: unknown },
  operationIds: Map<string, string>,
): void {
  const schema = route.schema as { hide?: boolean; operationId?: unknown; response?: object } | undefined;
  if (schema?.hide === true || route.url === DOCS || route.url.startsWith(`${DOCS}/`)) return;
  const where = `Route ${[route.method].flat().join(',')} ${route.url}`;
  const id = schema?.operationId;
  if (typeof id !== 'string' || !/^[a-z][A-Za-z0-9]*$/.test(id)) {
    throw new Error(`${where} declares no camelCase operationId (schema.operationId).`);
  }
  if (!Object.keys(schema?.response ?? {}).some((status) => /^2(\d\d|XX)$/.test(status))) {
    throw new Error(`${where} declares no success response schema (schema.response[2xx]).`);
  }
  // A GET's HEAD twin shares its schema and its operation.
  if ([route.method].flat().every((method) => method === 'HEAD')) return;
  const key = `${[route.method].flat().join(',')} ${route.url}`;
  const owner = operationIds.get(id);
  if (owner !== undefined && owner !== key)
    throw new Error(`${where} reuses operationId "${id}" of ${owner}.`);
  operationIds.set(id, key);
}
