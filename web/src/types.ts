/**
 * The shapes of the API's answers: the server's own wire types (src/http/wire/, the schemas the OpenAPI
 * document is made of), imported as types only, so the console builds against what the server sends and
 * bundles none of its code.
 */
import type { WireAuditEvent } from '../../src/http/wire/audit.js';
import type {
  WireDeploymentSummary,
  WireEnvironment,
  WireGate,
  WirePromotion,
  WireRevision,
  WireShare,
} from '../../src/http/wire/deployments.js';
import type { WireModel, WireVersion } from '../../src/http/wire/models.js';
import type { WireWhoAmI } from '../../src/http/wire/tokens.js';
import type { WireJob, WireLogLine, WireRun } from '../../src/jobs/wire.js';

export type Role = NonNullable<WireWhoAmI['role']>;
export const ROLES: readonly Role[] = ['viewer', 'developer', 'deployer', 'approver', 'admin'];

/** Who is signed in: a token's name and role, or the local admin. */
export type WhoAmI = { name: string; role: Role; auth: boolean };
/** `GET /api/v1/whoami` as it answers: nobody (`name` null) when a token is needed and none was sent. */
export type Caller = WireWhoAmI;

export type Model = WireModel;
export type ModelVersion = WireVersion;
export type TensorSpec = NonNullable<WireVersion['signature']>['inputs'][number];
export type Split = WireShare;
export type Revision = WireRevision;
export type Environment = WireEnvironment;
export type RolloutPlan = NonNullable<WireEnvironment['rollout']>;
export type GateResult = WireGate;
export type Promotion = WirePromotion;
export type PromotionStatus = WirePromotion['status'];
export type Deployment = WireDeploymentSummary;
export type AuditEvent = WireAuditEvent;
export type Job = WireJob;
export type JobRun = WireRun;
export type RunLogLine = WireLogLine;
