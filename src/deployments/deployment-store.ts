import type { Page, PageRequest } from '../domain/page.js';
import type { AuditEvent, Dataset, NewAuditEvent, Promotion } from '../domain/promotion.js';
import type { Revision } from '../domain/revision.js';
import type { Role } from '../domain/roles.js';

export type NewRevision = Omit<Revision, 'number' | 'createdAt'>;

export interface AuditQuery extends PageRequest {
  readonly target?: string;
  readonly actor?: string;
  /** Action, or a prefix ending in `.` (`promotion.`). */
  readonly action?: string;
}

export interface StoredToken {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

/**
 * Durable deployment state beside the registry: revision histories, promotions, validation datasets,
 * the audit trail and API tokens. Revisions and audit events are append-only.
 *
 * Errors: NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, MODEL_NOT_FOUND.
 */
export interface DeploymentStore {
  /**
   * Appends the next revision of a deployment, and its audit event, in one transaction. With
   * `expectedCurrent`, refuses (FAILED_PRECONDITION) when another change got there first, so two
   * concurrent changes cannot both be built on the same revision.
   */
  appendRevision(
    revision: NewRevision,
    audit: NewAuditEvent,
    expectedCurrent?: number | null,
  ): Promise<Revision>;
  /** The revision in force, or null when the model was never deployed there. */
  currentRevision(model: string, environment: string): Promise<Revision | null>;
  getRevision(model: string, environment: string, number: number): Promise<Revision>;
  /** Newest first. */
  listRevisions(model: string, environment: string, page?: PageRequest): Promise<Page<Revision>>;
  /** The revision in force of every deployment, optionally in one environment. */
  currentRevisions(environment?: string): Promise<Revision[]>;
  /** Position of the newest revision anywhere; followers poll it to learn of changes. */
  revisionCursor(): Promise<number>;
  /** Deployments changed since a cursor, and the new cursor. */
  changedSince(
    cursor: number,
  ): Promise<{ cursor: number; deployments: { model: string; environment: string }[] }>;

  createPromotion(promotion: Promotion): Promise<Promotion>;
  /** Replaces a promotion's mutable fields; `from` guards against a concurrent transition. */
  updatePromotion(promotion: Promotion, from: Promotion['status']): Promise<Promotion>;
  getPromotion(id: string): Promise<Promotion>;
  listPromotions(
    query: PageRequest & { model?: string; environment?: string; status?: Promotion['status'][] },
  ): Promise<Page<Promotion>>;

  putDataset(dataset: Dataset): Promise<{ replaced: boolean }>;
  getDataset(model: string, name: string): Promise<Dataset>;

  recordAudit(event: NewAuditEvent): Promise<AuditEvent>;
  listAudit(query: AuditQuery): Promise<Page<AuditEvent>>;

  createToken(token: StoredToken, hash: string): Promise<StoredToken>;
  /** The live (not revoked) token with this hash. */
  findToken(hash: string): Promise<StoredToken | null>;
  listTokens(): Promise<StoredToken[]>;
  revokeToken(name: string): Promise<StoredToken>;
  countTokens(): Promise<number>;
}
