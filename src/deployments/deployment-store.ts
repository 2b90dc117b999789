import type { Page, PageRequest } from '../domain/page.js';
import type { Dataset, NewAuditEvent, Promotion } from '../domain/promotion.js';
import type { Revision } from '../domain/revision.js';

export type NewRevision = Omit<Revision, 'number' | 'createdAt'>;

/**
 * A process's hold on a promotion it is working on (gates, then the deploy step). The holder renews
 * it while it works; a hold that lapsed means the process died, and recovery may end the promotion.
 */
export interface PromotionLease {
  readonly holder: string;
  /** ISO 8601 time after which the hold has lapsed. */
  readonly until: string;
}

/**
 * Durable deployment state beside the registry: revision histories, promotions and validation
 * datasets. Revisions are append-only; each is written with its audit event (`AuditStore`'s trail)
 * in one transaction.
 *
 * Errors: NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, MODEL_NOT_FOUND.
 */
export interface DeploymentStore {
  /**
   * Appends the next revision of a deployment, and its audit event, in one transaction. With
   * `expectedCurrent`, refuses (FAILED_PRECONDITION) when another change got there first, so two
   * concurrent changes cannot both be built on the same revision. With `promotionStatus`, the
   * revision's promotion must still be in that status (FAILED_PRECONDITION otherwise), so a
   * promotion aborted meanwhile changes nothing.
   */
  appendRevision(
    revision: NewRevision,
    audit: NewAuditEvent,
    expectedCurrent?: number | null,
    promotionStatus?: Promotion['status'],
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
  /**
   * Calls `onChange` soon after any process commits a revision, where the database can push such
   * news (PostgreSQL); resolves to a function that stops. Null where it cannot: followers then rely
   * on polling `changedSince` alone.
   */
  watchRevisions(onChange: () => void): Promise<() => Promise<void>> | null;
  /** Deployments changed since a cursor, and the new cursor. */
  changedSince(
    cursor: number,
  ): Promise<{ cursor: number; deployments: { model: string; environment: string }[] }>;

  /** Records a new promotion, held by `lease` when given. */
  createPromotion(promotion: Promotion, lease?: PromotionLease): Promise<Promotion>;
  /**
   * Replaces a promotion's mutable fields; `from` guards against a concurrent transition. With
   * `lease`, the promotion is held by it from now on.
   */
  updatePromotion(
    promotion: Promotion,
    from: Promotion['status'],
    lease?: PromotionLease,
  ): Promise<Promotion>;
  /** Extends a hold; false when the promotion is no longer GATING under this holder. */
  renewPromotionLease(id: string, lease: PromotionLease): Promise<boolean>;
  /** GATING promotions whose hold lapsed before `now` (or that have none): their process died. */
  abandonedPromotions(now: string): Promise<Promotion[]>;
  getPromotion(id: string): Promise<Promotion>;
  listPromotions(
    query: PageRequest & { model?: string; environment?: string; status?: Promotion['status'][] },
  ): Promise<Page<Promotion>>;

  putDataset(dataset: Dataset): Promise<{ replaced: boolean }>;
  getDataset(model: string, name: string): Promise<Dataset>;
}
