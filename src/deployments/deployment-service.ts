import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditQuery, AuditStore } from '../audit/audit-store.js';
import type { AlertSink } from '../domain/alert.js';
import { type Clock, isoNow, systemClock } from '../domain/clock.js';
import type { EnvironmentPolicy } from '../domain/environment.js';
import type { ModelVersion } from '../domain/model.js';
import { assertAliasName } from '../domain/names.js';
import type { Page, PageRequest } from '../domain/page.js';
import type { AuditEvent, Dataset, GateResult, Promotion } from '../domain/promotion.js';
import {
  assertTraffic,
  deploymentName,
  type Revision,
  type RevisionKind,
  type Shadow,
  sameTraffic,
  type TrafficShare,
} from '../domain/revision.js';
import { type RequestContext, requireRole } from '../domain/roles.js';
import { toServable } from '../domain/servable.js';
import type { ShadowStats } from '../domain/traffic.js';
import { isSlipwayError, SlipwayError } from '../errors/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { RegistryReads } from '../registry/registry-service.js';
import type { DataPlane } from '../serving/data-plane.js';
import type { DeploymentStore } from './deployment-store.js';
import { PromotionLeases } from './promotion-leases.js';
import { PromotionMachine } from './promotion-machine.js';
import { PromotionRecovery } from './promotion-recovery.js';
import { PromotionRunner } from './promotion-runner.js';
import { RevisionWriter } from './revision-writer.js';
import { RolloutController } from './rollout-controller.js';
import type { TrafficFigures } from './traffic-figures.js';

export interface PromoteRequest {
  readonly model: string;
  readonly version: number;
  readonly environment: string;
  readonly reason?: string;
  /** Roll out as a canary with the environment's plan; default: the plan's `by_default`. */
  readonly canary?: boolean;
  readonly allowSchemaChange?: boolean;
  readonly confirm?: string;
}

export interface TrafficRequest {
  readonly traffic: readonly TrafficShare[];
  /** Replaces the revision's tags when given; otherwise they carry over. */
  readonly tags?: Readonly<Record<string, number>>;
  /** Replaces the shadow when given (null removes it); otherwise it carries over. */
  readonly shadow?: Shadow | null;
  readonly reason?: string;
}

export type PromotionQuery = PageRequest & {
  readonly model?: string;
  readonly environment?: string;
  readonly status?: Promotion['status'][];
};

export interface DeploymentServiceOptions {
  readonly registry: RegistryReads;
  readonly store: DeploymentStore;
  readonly audit: AuditStore;
  readonly dataPlane: DataPlane;
  /** Every replica's traffic figures: canary analysis and the shadow comparison read them. */
  readonly figures: TrafficFigures;
  readonly environments: readonly EnvironmentPolicy[];
  /** Environments whose routes this process holds (it refreshes them at once after a change). */
  readonly served: readonly string[];
  /** How often a rollout's analysis looks at the canary's figures. */
  readonly analysisIntervalMs: number;
  /** How long this process holds a promotion it gates without renewing (see `recover`). */
  readonly promotionLeaseMs: number;
  /** Time and timers; the system clock unless a test moves time by hand. */
  readonly clock?: Clock;
  readonly metrics?: Pick<Metrics, 'promotionEnded' | 'rollback'>;
  /** Told of promotions stopped at a gate and of automatic rollbacks. */
  readonly alerts?: AlertSink;
  /** Told when a model's dataset was stored (drift rebuilds the profiles built on reference data). */
  readonly datasetChanged?: (model: string, name: string) => Promise<void>;
  /** Told once this process writes a revision (the HTTP processes of one server tell each other). */
  readonly announceRevision?: () => void;
  readonly logger: Logger;
}

/**
 * Environments, promotions, traffic and rollback: what the routes call. It checks roles, policies
 * and requests, and hands the work to its parts: the promotion runner (gates, deploy step), the
 * state machine (every status change), the revision writer (every change to what serves), the
 * rollout controller (canary analysis), and the leases and recovery that end promotions whose
 * server died.
 */
export class DeploymentService {
  private readonly clock: Clock;
  private readonly machine: PromotionMachine;
  private readonly writer: RevisionWriter;
  private readonly rollouts: RolloutController;
  private readonly leases: PromotionLeases;
  private readonly recovery: PromotionRecovery;
  private readonly runner: PromotionRunner;

  constructor(private readonly options: DeploymentServiceOptions) {
    this.clock = options.clock ?? systemClock;
    this.machine = new PromotionMachine(options.store, options.audit, options.metrics);
    this.writer = new RevisionWriter({
      registry: options.registry,
      store: options.store,
      dataPlane: options.dataPlane,
      served: options.served,
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(options.announceRevision ? { announce: options.announceRevision } : {}),
    });
    this.rollouts = new RolloutController({
      store: options.store,
      machine: this.machine,
      writer: this.writer,
      figures: options.figures,
      plan: (environment) => this.policy(environment).rollout,
      clock: this.clock,
      intervalMs: options.analysisIntervalMs,
      alerts: options.alerts,
      logger: options.logger,
    });
    this.leases = new PromotionLeases(options.store, this.clock, options.promotionLeaseMs, options.logger);
    this.runner = new PromotionRunner({
      registry: options.registry,
      dataPlane: options.dataPlane,
      audit: options.audit,
      store: options.store,
      machine: this.machine,
      writer: this.writer,
      rollouts: this.rollouts,
      policy: (environment) => this.policy(environment),
      dataset: (model, name) => this.findDataset(model, name),
      clock: this.clock,
      alerts: options.alerts,
    });
    this.recovery = new PromotionRecovery({
      store: options.store,
      machine: this.machine,
      rollouts: this.rollouts,
      clock: this.clock,
      intervalMs: options.promotionLeaseMs,
      logger: options.logger,
    });
  }

  environments(): readonly EnvironmentPolicy[] {
    return this.options.environments;
  }

  policy(environment: string): EnvironmentPolicy {
    const policy = this.options.environments.find((e) => e.name === environment);
    if (!policy) {
      const known = this.options.environments.map((e) => e.name).join(', ');
      throw new SlipwayError(
        'ENVIRONMENT_NOT_FOUND',
        `No environment is named "${environment}"; the environments are ${known}.`,
        { environment },
      );
    }
    return policy;
  }

  /**
   * Takes up the lead's deployment work (see Leadership): ends promotions whose process died while
   * it gated them, analyses every rollout in progress (whichever server started it, whatever
   * environments this one serves: every replica's figures are in the registry), and keeps looking
   * for orphaned promotions every lease and new rollouts every analysis interval.
   */
  async lead(): Promise<void> {
    await this.recovery.recover();
    await this.rollouts.lead();
    this.recovery.start();
  }

  /** Puts the lead's deployment work down; promotions this process is gating go on. */
  unlead(): void {
    this.rollouts.stop();
    this.recovery.stop();
  }

  stop(): void {
    this.rollouts.stop();
    this.leases.stop();
    this.recovery.stop();
  }

  // --- reads ---------------------------------------------------------------------------------------

  /** The shadow comparison of a deployment's revision, every replica's mirrored requests counted. */
  shadow(environment: string, model: string, revision: number): Promise<ShadowStats | null> {
    return this.options.figures.shadow(environment, model, revision);
  }

  /** The revision in force of every deployment, optionally of one environment. */
  currentRevisions(environment?: string): Promise<Revision[]> {
    if (environment !== undefined) this.policy(environment);
    return this.options.store.currentRevisions(environment);
  }

  /** The revision in force of one deployment; NOT_DEPLOYED (or MODEL_NOT_FOUND) when there is none. */
  async deployment(environment: string, model: string): Promise<Revision> {
    this.policy(environment);
    const revision = await this.options.store.currentRevision(model, environment);
    if (revision) return revision;
    await this.options.registry.getModel(model);
    throw new SlipwayError('NOT_DEPLOYED', `Model "${model}" is not deployed in ${environment}.`, {
      model,
      environment,
    });
  }

  /** A deployment's revisions, newest first. */
  async history(environment: string, model: string, page: PageRequest = {}): Promise<Page<Revision>> {
    this.policy(environment);
    await this.options.registry.getModel(model);
    return this.options.store.listRevisions(model, environment, page);
  }

  listPromotions(query: PromotionQuery): Promise<Page<Promotion>> {
    return this.options.store.listPromotions(query);
  }

  getPromotion(id: string): Promise<Promotion> {
    return this.options.store.getPromotion(id);
  }

  /** The model's dataset of that name, or null. */
  findDataset(model: string, name: string): Promise<Dataset | null> {
    return this.options.store.getDataset(model, name).catch((error: unknown) => {
      if (isSlipwayError(error) && error.code === 'NOT_FOUND') return null;
      throw error;
    });
  }

  /** The audit trail, newest first. */
  listAudit(query: AuditQuery): Promise<Page<AuditEvent>> {
    return this.options.audit.list(query);
  }

  // --- promotions ----------------------------------------------------------------------------------

  /**
   * Moves a version into an environment: checks role, confirmation and source environment, runs the
   * gates, then waits for approval or deploys (all at once, or as a canary). A failed gate ends the
   * promotion with nothing changed in service and throws GATE_FAILED.
   */
  async promote(request: PromoteRequest, context: RequestContext): Promise<Promotion> {
    const policy = this.policy(request.environment);
    requireRole(context.actor, policy.role, `Promoting to ${policy.name}`);
    if (policy.confirm && request.confirm !== policy.name) {
      throw new SlipwayError(
        'CONFIRMATION_REQUIRED',
        `Promoting to ${policy.name} needs confirmation: send confirm "${policy.name}" (CLI: --confirm ${policy.name}).`,
        { environment: policy.name },
      );
    }
    const candidate = toServable(await this.options.registry.getVersion(request.model, request.version));
    if (policy.promotesFrom) await this.assertServing(candidate, policy.promotesFrom);
    const current = await this.options.store.currentRevision(candidate.model, policy.name);
    const canary = request.canary ?? policy.canaryByDefault;
    if (canary && !policy.rollout) {
      throw new SlipwayError('INVALID_ARGUMENT', `${policy.name} has no rollout plan, so it cannot canary.`, {
        field: 'canary',
      });
    }
    const now = isoNow(this.clock);
    const promotion = await this.options.store.createPromotion(
      {
        id: `prm_${randomBytes(6).toString('hex')}`,
        model: candidate.model,
        environment: policy.name,
        version: candidate.version,
        status: 'GATING',
        requestedBy: context.actor.name,
        // A first deployment has nothing to compare a canary with, so it takes all traffic at once.
        reason: [
          request.reason ?? '',
          canary && !current ? 'canary skipped: nothing is deployed here yet' : '',
        ]
          .filter(Boolean)
          .join('; '),
        options: {
          canary: canary && current !== null,
          allowSchemaChange: request.allowSchemaChange ?? false,
          confirm: request.confirm ?? null,
        },
        gates: [],
        approval: null,
        rollout: null,
        baseline: current?.traffic ?? null,
        failure: null,
        requestId: context.requestId,
        createdAt: now,
        updatedAt: now,
      },
      this.leases.lease(),
    );
    const release = this.leases.hold(promotion.id);
    try {
      await this.machine.record(context, 'promotion.request', promotion, {
        version: candidate.version,
        canary,
      });
      return await this.runner.gate(promotion, policy, candidate, current, context);
    } finally {
      release();
    }
  }

  /** Approves a promotion that waits for one; it then deploys as planned. */
  async approve(id: string, reason: string, context: RequestContext): Promise<Promotion> {
    const promotion = await this.options.store.getPromotion(id);
    const policy = this.policy(promotion.environment);
    this.machine.check(promotion, 'approve');
    const approval = policy.approval;
    requireRole(context.actor, approval?.role ?? policy.role, `Approving a promotion to ${policy.name}`);
    if (
      !approval?.allowSelf &&
      context.actor.name === promotion.requestedBy &&
      context.actor.role !== 'admin'
    ) {
      throw new SlipwayError(
        'PERMISSION_DENIED',
        `"${context.actor.name}" requested this promotion and cannot also approve it; another ${approval?.role ?? policy.role} must.`,
        { required: approval?.role ?? policy.role, reason: 'SELF_APPROVAL' },
      );
    }
    const gate: GateResult = {
      gate: 'approval',
      status: 'passed',
      message: `Approved by ${context.actor.name}${reason ? `: ${reason}` : ''}.`,
      at: isoNow(this.clock),
    };
    const approved = await this.machine.transition(
      promotion,
      'approve',
      { gates: [...promotion.gates, gate], approval: { by: context.actor.name, at: gate.at, reason } },
      this.leases.lease(),
    );
    const release = this.leases.hold(approved.id);
    try {
      await this.machine.record(context, 'promotion.approve', approved, { reason });
      return await this.runner.begin(approved, context);
    } finally {
      release();
    }
  }

  async reject(id: string, reason: string, context: RequestContext): Promise<Promotion> {
    const promotion = await this.options.store.getPromotion(id);
    const policy = this.policy(promotion.environment);
    this.machine.check(promotion, 'reject');
    requireRole(
      context.actor,
      policy.approval?.role ?? policy.role,
      `Rejecting a promotion to ${policy.name}`,
    );
    const rejected = await this.machine.transition(promotion, 'reject', {
      failure: `Rejected by ${context.actor.name}${reason ? `: ${reason}` : ''}.`,
    });
    await this.machine.record(context, 'promotion.reject', rejected, { reason }, 'failed');
    return rejected;
  }

  async pause(id: string, reason: string, context: RequestContext): Promise<Promotion> {
    const promotion = await this.options.store.getPromotion(id);
    requireRole(context.actor, this.policy(promotion.environment).role, 'Pausing a rollout');
    this.machine.check(promotion, 'pause');
    this.rollouts.unwatch(id);
    const paused = await this.machine.transition(promotion, 'pause', {
      rollout: {
        ...promotion.rollout!,
        note: `paused by ${context.actor.name}${reason ? `: ${reason}` : ''}`,
      },
    });
    await this.machine.record(context, 'rollout.pause', paused, { reason });
    return paused;
  }

  async resume(id: string, reason: string, context: RequestContext): Promise<Promotion> {
    const promotion = await this.options.store.getPromotion(id);
    requireRole(context.actor, this.policy(promotion.environment).role, 'Resuming a rollout');
    // The step bakes again from now: what happened while paused is not evidence for it.
    const resumed = await this.machine.transition(promotion, 'resume', {
      rollout: { ...promotion.rollout!, stepStartedAt: isoNow(this.clock), note: null },
    });
    await this.machine.record(context, 'rollout.resume', resumed, { reason });
    this.rollouts.watch(resumed);
    return resumed;
  }

  /**
   * Ends any promotion that has not ended. One that changed traffic (a rollout, or a deploy step
   * whose revision is in force) gets the traffic from before it back; one that changed nothing (its
   * gates still running, or waiting for approval) just ends ABORTED, and the process running its
   * gates finds that at its next move.
   */
  async abort(id: string, reason: string, context: RequestContext): Promise<Promotion> {
    const promotion = await this.options.store.getPromotion(id);
    requireRole(context.actor, this.policy(promotion.environment).role, 'Aborting a promotion');
    this.machine.check(promotion, 'abort');
    const why = `aborted by ${context.actor.name}${reason ? `: ${reason}` : ''}`;
    const current = await this.options.store.currentRevision(promotion.model, promotion.environment);
    const changedTraffic =
      promotion.status === 'ROLLING_OUT' || promotion.status === 'PAUSED' || current?.promotionId === id;
    if (changedTraffic) return this.rollouts.restoreBaseline(promotion, 'abort', 'rollback', why, context);
    const ended = await this.machine.transition(promotion, 'abort', { failure: why });
    await this.machine.record(context, 'promotion.abort', ended, { reason }, 'failed');
    return ended;
  }

  /** Ends the promotions whose server died while gating them (see `PromotionRecovery`). */
  recover(): Promise<Promotion[]> {
    return this.recovery.recover();
  }

  // --- traffic -------------------------------------------------------------------------------------

  /** Sets a deployment's traffic split (and optionally its tags and shadow) as a new revision. */
  async setTraffic(
    environment: string,
    model: string,
    request: TrafficRequest,
    context: RequestContext,
  ): Promise<Revision> {
    const policy = this.policy(environment);
    requireRole(context.actor, policy.role, `Changing traffic in ${policy.name}`);
    // Setting traffic by hand bypasses gates, so where promotions need an approval it needs the
    // approver's role too. (Rollback needs only the environment's role: it restores what was approved.)
    if (policy.approval)
      requireRole(context.actor, policy.approval.role, `Changing traffic in ${policy.name} by hand`);
    assertTraffic(request.traffic);
    const current = await this.options.store.currentRevision(model, environment);
    const tags = request.tags ?? current?.tags ?? {};
    for (const tag of Object.keys(tags)) {
      assertAliasName(tag, `tags.${tag}`);
    }
    const shadow = request.shadow === undefined ? (current?.shadow ?? null) : request.shadow;
    if (shadow && (!Number.isInteger(shadow.percent) || shadow.percent < 1 || shadow.percent > 100)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `shadow.percent: ${shadow.percent} is not a whole percent from 1 to 100.`,
        {
          field: 'shadow.percent',
        },
      );
    }
    const revision = await this.writer.append({
      routing: { model, environment, traffic: request.traffic, tags, shadow },
      current,
      kind: 'traffic',
      reason: request.reason ?? 'traffic changed',
      context,
    });
    await this.rollouts.supersede(
      model,
      environment,
      `traffic set by ${context.actor.name} in revision ${revision.number}`,
    );
    return revision;
  }

  /**
   * Appends a revision restoring an earlier one's routing: `toRevision`, or by default the newest
   * earlier revision whose traffic differs from the one in force. It skips analysis and aborts any
   * rollout in progress.
   */
  async rollback(
    environment: string,
    model: string,
    options: { toRevision?: number; reason?: string },
    context: RequestContext,
    kind: RevisionKind = 'rollback',
  ): Promise<Revision> {
    const policy = this.policy(environment);
    requireRole(context.actor, policy.role, `Rolling back in ${policy.name}`);
    const current = await this.options.store.currentRevision(model, environment);
    if (!current) {
      await this.options.registry.getModel(model);
      throw new SlipwayError(
        'NOT_DEPLOYED',
        `Model "${model}" is not deployed in ${environment}; there is nothing to roll back.`,
        {
          model,
          environment,
        },
      );
    }
    const target = options.toRevision
      ? await this.options.store.getRevision(model, environment, options.toRevision)
      : await this.previousDifferent(current);
    const revision = await this.writer.append({
      routing: { model, environment, traffic: target.traffic, tags: target.tags, shadow: target.shadow },
      current,
      kind,
      reason: options.reason ?? `rolled back to revision ${target.number}`,
      context,
    });
    await this.rollouts.supersede(
      model,
      environment,
      `rolled back by ${context.actor.name} in revision ${revision.number}`,
    );
    return revision;
  }

  /** Registers (or replaces) a labelled dataset that validation gates score candidates on. */
  async putDataset(
    dataset: Omit<Dataset, 'createdBy' | 'createdAt'>,
    context: RequestContext,
  ): Promise<{ replaced: boolean }> {
    const missing = dataset.rows.findIndex((row) => !(dataset.label in row));
    if (missing >= 0) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `rows[${missing}] has no "${dataset.label}" column (the label).`,
        {
          field: `rows[${missing}]`,
        },
      );
    }
    const result = await this.options.store.putDataset({
      ...dataset,
      createdBy: context.actor.name,
      createdAt: isoNow(this.clock),
    });
    await this.options.audit.record({
      actor: context.actor.name,
      action: 'dataset.put',
      target: `${dataset.model}/datasets/${dataset.name}`,
      after: { rows: dataset.rows.length, label: dataset.label, replaced: result.replaced },
      result: 'ok',
      requestId: context.requestId,
    });
    await this.options.datasetChanged?.(dataset.model, dataset.name);
    return result;
  }

  /** Deploys every new version to environments that auto-deploy (dev), by the usual path. */
  async autoDeploy(version: ModelVersion, context: RequestContext): Promise<void> {
    for (const policy of this.options.environments.filter((e) => e.autoDeploy)) {
      try {
        await this.promote(
          {
            model: version.model,
            version: version.version,
            environment: policy.name,
            reason: 'auto-deploy on push',
          },
          { ...context, actor: { ...context.actor, role: 'admin' } },
        );
      } catch (error) {
        this.options.logger.warn(
          { model: version.model, version: version.version, environment: policy.name, err: error },
          'auto-deploy did not complete',
        );
      }
    }
  }

  // --- internals ----------------------------------------------------------------------------------

  private async previousDifferent(current: Revision): Promise<Revision> {
    let pageToken: string | undefined;
    do {
      const page = await this.options.store.listRevisions(current.model, current.environment, {
        limit: 100,
        ...(pageToken ? { pageToken } : {}),
      });
      const found = page.items.find(
        (r) => r.number < current.number && !sameTraffic(r.traffic, current.traffic),
      );
      if (found) return found;
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken);
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `${deploymentName(current.model, current.environment)} has no earlier revision with different traffic to roll back to.`,
      { model: current.model, environment: current.environment },
    );
  }

  private async assertServing(candidate: ModelVersion, source: string): Promise<void> {
    const revision = await this.options.store.currentRevision(candidate.model, source);
    const serving = revision?.traffic.some((s) => s.version === candidate.version && s.percent > 0) ?? false;
    if (!serving) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `Version ${candidate.version} of "${candidate.model}" is not serving in ${source}; promote it there first (${source} serves ${revision ? revision.traffic.map((s) => `v${s.version} ${s.percent}%`).join(', ') : 'nothing'}).`,
        { model: candidate.model, version: candidate.version, environment: source },
      );
    }
  }
}
