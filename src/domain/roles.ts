import { echo, SlipwayError } from '../errors/index.js';

/**
 * Roles, weakest first. Each role may do everything the roles before it may:
 * - viewer: read the registry, deployments and audit trail, and call prediction routes;
 * - developer: push versions, register datasets, deploy to environments whose policy names developer (dev);
 * - deployer: promote to environments whose policy names deployer (staging, and start prod promotions);
 * - approver: approve promotions that need an approval (prod);
 * - admin: create and revoke tokens, and anything else.
 */
export const ROLES = ['viewer', 'developer', 'deployer', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function parseRole(value: string, field = 'role'): Role {
  if (!isRole(value)) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${field} ${echo(value)} is not a role: expected one of ${ROLES.join(', ')}.`,
      { field, value },
    );
  }
  return value;
}

/** Whether `held` includes the rights of `required`. */
export function roleSatisfies(held: Role, required: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(required);
}

/** Who is making a request: a token's name and role, or the local operator when authentication is off. */
export interface Actor {
  readonly name: string;
  readonly role: Role;
}

/** The actor of every request when authentication is off (local mode), and of the server's own acts. */
export const LOCAL_ACTOR: Actor = { name: 'local', role: 'admin' };
export const SYSTEM_ACTOR: Actor = { name: 'slipway', role: 'admin' };

/** Refuses an actor whose role is weaker than `required`, naming both. */
export function requireRole(actor: Actor, required: Role, action: string): void {
  if (!roleSatisfies(actor.role, required)) {
    throw new SlipwayError(
      'PERMISSION_DENIED',
      `${action} needs the ${required} role; "${actor.name}" has ${actor.role}.`,
      { required, role: actor.role, actor: actor.name },
    );
  }
}

/** Who asked, and the request id that ties audit events to log lines. */
export interface RequestContext {
  readonly actor: Actor;
  readonly requestId: string | null;
}

/** The context of the server's own acts (automatic rollbacks, rollout steps). */
export const SYSTEM_CONTEXT: RequestContext = { actor: SYSTEM_ACTOR, requestId: null };
