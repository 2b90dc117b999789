import type { AuditStore } from '../audit/audit-store.js';
import {
  type AuditEvent,
  FINAL_STATUSES,
  type Promotion,
  type PromotionStatus,
} from '../domain/promotion.js';
import { deploymentName } from '../domain/revision.js';
import type { RequestContext } from '../domain/roles.js';
import { SlipwayError } from '../errors/index.js';
import type { Metrics, PromotionResult } from '../observability/metrics.js';
import type { DeploymentStore, PromotionLease } from './deployment-store.js';

/** What can happen to a promotion. */
export const PROMOTION_EVENTS = [
  /** The gates ran and passed; their results are recorded and the promotion goes on. */
  'record-gates',
  /** A gate failed, the deploy step could not change the deployment, or its server died gating it. */
  'fail',
  'await-approval',
  'approve',
  'reject',
  /** The candidate took all traffic. */
  'deploy',
  /** The candidate took the plan's first canary step. */
  'start-rollout',
  /** Analysis (or a person resuming) moved the rollout on to its next step. */
  'advance',
  /** The last canary step gave the candidate all traffic. */
  'complete',
  'pause',
  'resume',
  /** Analysis saw a breach and restored the baseline. */
  'roll-back',
  /** A person ended the promotion. */
  'abort',
  /** Someone set the deployment's traffic by hand, ending its rollout. */
  'supersede',
] as const;
export type PromotionEvent = (typeof PROMOTION_EVENTS)[number];

export interface PromotionTransition {
  readonly from: PromotionStatus;
  readonly event: PromotionEvent;
  readonly to: PromotionStatus;
}

/**
 * Every move a promotion can make, and no other. A final status (FAILED, REJECTED, SUCCEEDED,
 * ROLLED_BACK, ABORTED) has no row leaving it.
 */
export const PROMOTION_TRANSITIONS: readonly PromotionTransition[] = [
  { from: 'GATING', event: 'record-gates', to: 'GATING' },
  { from: 'GATING', event: 'fail', to: 'FAILED' },
  { from: 'GATING', event: 'await-approval', to: 'AWAITING_APPROVAL' },
  { from: 'GATING', event: 'deploy', to: 'SUCCEEDED' },
  { from: 'GATING', event: 'start-rollout', to: 'ROLLING_OUT' },
  { from: 'GATING', event: 'abort', to: 'ABORTED' },
  { from: 'AWAITING_APPROVAL', event: 'approve', to: 'GATING' },
  { from: 'AWAITING_APPROVAL', event: 'reject', to: 'REJECTED' },
  { from: 'AWAITING_APPROVAL', event: 'abort', to: 'ABORTED' },
  { from: 'ROLLING_OUT', event: 'advance', to: 'ROLLING_OUT' },
  { from: 'ROLLING_OUT', event: 'complete', to: 'SUCCEEDED' },
  { from: 'ROLLING_OUT', event: 'pause', to: 'PAUSED' },
  { from: 'ROLLING_OUT', event: 'roll-back', to: 'ROLLED_BACK' },
  { from: 'ROLLING_OUT', event: 'abort', to: 'ABORTED' },
  { from: 'ROLLING_OUT', event: 'supersede', to: 'ABORTED' },
  { from: 'PAUSED', event: 'resume', to: 'ROLLING_OUT' },
  { from: 'PAUSED', event: 'abort', to: 'ABORTED' },
  { from: 'PAUSED', event: 'supersede', to: 'ABORTED' },
];

/** The statuses from which `event` is a move. */
export const statusesAllowing = (event: PromotionEvent): PromotionStatus[] =>
  PROMOTION_TRANSITIONS.filter((t) => t.event === event).map((t) => t.from);

/**
 * Where `event` takes a promotion in status `from`; INVALID_TRANSITION (409) when the table has no
 * such move, naming the status it is in and those the event needs.
 */
export function nextStatus(
  promotion: Pick<Promotion, 'id' | 'status'>,
  event: PromotionEvent,
): PromotionStatus {
  const row = PROMOTION_TRANSITIONS.find((t) => t.from === promotion.status && t.event === event);
  if (row) return row.to;
  const allowed = statusesAllowing(event);
  throw new SlipwayError(
    'INVALID_TRANSITION',
    `Promotion ${promotion.id} is ${promotion.status}; "${event}" needs it to be ${allowed.join(' or ')}.`,
    {
      promotion: promotion.id,
      status: promotion.status,
      event,
      allowed,
      final: FINAL_STATUSES.includes(promotion.status),
    },
  );
}

/** How each final status counts in `slipway_promotions_total{result}`. */
const RESULTS: Partial<Record<PromotionStatus, PromotionResult>> = {
  SUCCEEDED: 'promoted',
  REJECTED: 'rejected',
  FAILED: 'failed',
  ABORTED: 'aborted',
  ROLLED_BACK: 'rolled_back',
};

/**
 * The only writer of a promotion's status: each move is checked against the table, then stored
 * guarded by the status it was read in, so a concurrent move (another server, an abort) wins once
 * and the loser gets FAILED_PRECONDITION instead of overwriting it.
 */
export class PromotionMachine {
  constructor(
    private readonly store: DeploymentStore,
    private readonly audit: AuditStore,
    private readonly metrics?: Pick<Metrics, 'promotionEnded'>,
  ) {}

  /** Refuses (INVALID_TRANSITION) an event the promotion's status does not allow, before any work. */
  check(promotion: Promotion, event: PromotionEvent): void {
    nextStatus(promotion, event);
  }

  /** Applies `event` (and the field changes that come with it); `lease` hands the promotion to a holder. */
  async transition(
    promotion: Promotion,
    event: PromotionEvent,
    change: Partial<Omit<Promotion, 'id' | 'status'>> = {},
    lease?: PromotionLease,
  ): Promise<Promotion> {
    const to = nextStatus(promotion, event);
    const updated = await this.store.updatePromotion(
      { ...promotion, ...change, status: to },
      promotion.status,
      lease,
    );
    const result = RESULTS[to];
    if (result) this.metrics?.promotionEnded(promotion.environment, result);
    return updated;
  }

  /** Records an audit event about a promotion, on its deployment. */
  async record(
    context: RequestContext,
    action: string,
    promotion: Promotion,
    details: Record<string, unknown> | null,
    result: AuditEvent['result'] = 'ok',
  ): Promise<void> {
    await this.audit.record({
      actor: context.actor.name,
      action,
      target: deploymentName(promotion.model, promotion.environment),
      result,
      after: { promotion: promotion.id, status: promotion.status },
      requestId: context.requestId,
      details: { promotion: promotion.id, version: promotion.version, ...details },
    });
  }
}
