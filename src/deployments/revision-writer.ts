import type { Promotion } from '../domain/promotion.js';
import { deploymentName, type Revision, type RevisionKind, versionsOf } from '../domain/revision.js';
import type { RequestContext } from '../domain/roles.js';
import { toServable } from '../domain/servable.js';
import type { Metrics } from '../observability/metrics.js';
import type { RegistryReads } from '../registry/registry-service.js';
import type { DeploymentStore } from './deployment-store.js';

/** What a revision routes: the part of a revision a change decides. */
export type Routing = Pick<Revision, 'model' | 'environment' | 'traffic' | 'tags' | 'shadow'>;

/** One change to what serves. */
export interface RevisionChange {
  readonly routing: Routing;
  /** The revision the change was built on; the append fails if another got there first. */
  readonly current: Revision | null;
  readonly kind: RevisionKind;
  readonly reason: string;
  readonly context: RequestContext;
  /** The promotion making the change, which must still be in this status when it is written. */
  readonly promotion?: Pick<Promotion, 'id' | 'status'>;
  /** More for the revision's audit event. */
  readonly details?: Record<string, unknown>;
}

export interface RevisionWriterOptions {
  readonly registry: Pick<RegistryReads, 'getVersion'>;
  readonly store: Pick<DeploymentStore, 'appendRevision'>;
  readonly dataPlane: {
    preload(model: string, version: number): Promise<void>;
    refresh(environment: string, model: string): Promise<void>;
  };
  /** Environments whose routes this process holds (it refreshes them at once after a change). */
  readonly served: readonly string[];
  readonly metrics?: Pick<Metrics, 'rollback'>;
  /** Told once a revision is written: the other HTTP processes of this server look at once. */
  readonly announce?: () => void;
}

/**
 * The only code that appends revisions. It loads and warms every version a revision names before
 * writing it (a version that cannot load stops the change with nothing written), then appends the
 * revision and its audit event in one transaction that checks the revision it was built on (and the
 * promotion's status), and switches this process's route at once.
 */
export class RevisionWriter {
  constructor(private readonly options: RevisionWriterOptions) {}

  async append(change: RevisionChange): Promise<Revision> {
    const { routing, current, kind, reason, context, promotion } = change;
    for (const version of versionsOf(routing)) {
      toServable(await this.options.registry.getVersion(routing.model, version));
      await this.options.dataPlane.preload(routing.model, version);
    }
    const promotionId = promotion?.id ?? null;
    const revision = await this.options.store.appendRevision(
      { ...routing, kind, actor: context.actor.name, reason, promotionId, requestId: context.requestId },
      {
        actor: context.actor.name,
        action: `revision.${kind}`,
        target: deploymentName(routing.model, routing.environment),
        result: kind === 'automatic-rollback' ? 'failed' : 'ok',
        requestId: context.requestId,
        details: { reason, ...(promotionId ? { promotion: promotionId } : {}), ...change.details },
      },
      current?.number ?? null,
      promotion?.status,
    );
    this.options.announce?.();
    if (kind === 'rollback' || kind === 'automatic-rollback') {
      this.options.metrics?.rollback(routing.environment, kind === 'rollback' ? 'manual' : 'automatic');
    }
    if (this.options.served.includes(routing.environment)) {
      await this.options.dataPlane.refresh(routing.environment, routing.model);
    }
    return revision;
  }
}
