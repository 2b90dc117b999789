import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { type Cancel, type Clock, isoNow, systemClock } from '../domain/clock.js';
import type { EnvironmentPolicy, RolloutPlan } from '../domain/environment.js';
import { assertServable, type ModelVersion } from '../domain/model.js';
import { assertAliasName } from '../domain/names.js';
import { type Dataset, FINAL_STATUSES, type GateResult, type Promotion } from '../domain/promotion.js';
import {
  assertTraffic,
  deploymentName,
  primaryVersion,
  type Revision,
  type RevisionKind,
  type Shadow,
  sameTraffic,
  type TrafficShare,
  versionsOf,
} from '../domain/revision.js';
import { type RequestContext, requireRole, SYSTEM_CONTEXT } from '../domain/roles.js';
import { isSlipwayError, SlipwayError } from '../errors/index.js';
import type { RegistryStore } from '../registry/registry-store.js';
import type { DataPlane } from '../serving/data-plane.js';
import type { TrafficStats } from '../serving/traffic-stats.js';
import type { DeploymentStore, PromotionLease } from './deployment-store.js';
import { runGates } from './gates.js';

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

export interface DeploymentServiceOptions {
  readonly registry: RegistryStore;
  readonly store: DeploymentStore;
  readonly dataPlane: DataPlane;
  readonly stats: TrafficStats;
  readonly environments: readonly EnvironmentPolicy[];
  /** Environments whose routes this process holds (it refreshes them at once after a change). */
  readonly served: readonly string[];
  /** How often a rollout's analysis looks at the canary's figures. */
  readonly analysisIntervalMs: number;
  /** How long this process holds a promotion it gates without renewing (see `recover`). */
  readonly promotionLeaseMs: number;
  readonly clock?: Clock;
  readonly logger: Logger;
}

/** Why recovery ends a promotion whose process died while it gated. */
export const INTERRUPTED_GATING = 'the server stopped while its gates ran; promote again';

/**
 * Environments, promotions, traffic and rollback. Every change to what serves is a new revision,
 * appended in one transaction with its audit event, after every version it names is loaded and
 * warmed; rollback appends a copy of an earlier revision's routing. Canary rollouts advance by the
 * environment's plan, watched by analysis that rolls back automatically on a breach.
 */
export class DeploymentService {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly holds = new Map<string, Cancel>();
  private cancelRecovery: Cancel | null = null;
  private stopped = false;
  private readonly clock: Clock;
  /** Names this process in the promotions it holds; unique across restarts and servers. */
  private readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  constructor(private readonly options: DeploymentServiceOptions) {
    this.clock = options.clock ?? systemClock;
  }

  get store(): DeploymentStore {
    return this.options.store;
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
   * Picks up rollouts that were in progress when the server last stopped, and ends promotions whose
   * process died while it gated them, now and then every lease.
   */
  async start(): Promise<void> {
    await this.recover();
    // Only a server that serves an environment sees its traffic, so only such a server analyses it.
    const active = await this.options.store.listPromotions({ status: ['ROLLING_OUT'], limit: 1000 });
    for (const promotion of active.items) {
      if (this.options.served.includes(promotion.environment)) this.watch(promotion);
    }
    this.scheduleRecovery();
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const release of this.holds.values()) release();
    this.holds.clear();
    this.cancelRecovery?.();
  }

  /**
   * Ends every GATING promotion whose holder stopped renewing its lease (killed, out of memory).
   * One whose deploy step had already written its revision is finished as that revision left it
   * (SUCCEEDED, or ROLLING_OUT from its first step); any other is FAILED with the reason, changing
   * nothing in service. A live holder renews well within the lease, so several servers sharing the
   * registry can all run this without ending each other's promotions.
   */
  async recover(): Promise<Promotion[]> {
    const ended: Promotion[] = [];
    for (const promotion of await this.options.store.abandonedPromotions(isoNow(this.clock))) {
      try {
        ended.push(await this.recoverOne(promotion));
      } catch (error) {
        // Another server recovered it first, or its holder came back: either way it is not stuck.
        if (!(isSlipwayError(error) && error.code === 'FAILED_PRECONDITION')) throw error;
      }
    }
    if (ended.length > 0) {
      this.options.logger.warn(
        { promotions: ended.map((p) => ({ id: p.id, status: p.status })) },
        'ended promotions interrupted by a stopped server',
      );
    }
    return ended;
  }
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
    const candidate = await this.options.registry.getVersion(request.model, request.version);
    assertServable(candidate);
    if (candidate.status !== 'READY') {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `Version ${candidate.version} of "${candidate.model}" is ${candidate.status} and cannot be deployed.`,
        { model: candidate.model, version: candidate.version, status: candidate.status },
      );
    }
    if (policy.promotesFrom) await this.assertServing(candidate, policy.promotesFrom);
    const current = await this.options.store.currentRevision(candidate.model, policy.name);
    const canary = request.canary ?? policy.canaryByDefault;
    if (canary && !policy.rollout) {
      throw new SlipwayError('INVALID_ARGUMENT', `${policy.name} has no rollout plan, so it cannot canary.`, {
        field: 'canary',
      });
    }
    const now = new Date().toISOString();
    const promotion: Promotion = await this.options.store.createPromotion(
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
      this.lease(),
    );
    const release = this.hold(promotion.id);
    try {
      return await this.gateAndBegin(promotion, policy, candidate, current, canary, context);
    } finally {
      release();
    }
  }

  private async gateAndBegin(
    created: Promotion,
    policy: EnvironmentPolicy,
    candidate: ModelVersion,
    current: Revision | null,
    canary: boolean,
    context: RequestContext,
  ): Promise<Promotion> {
    let promotion = created;
    await this.audit(context, 'promotion.request', promotion, { version: candidate.version, canary });

    const incumbent = current
      ? await this.options.registry.getVersion(candidate.model, primaryVersion(current))
      : null;
    const gates = await runGates(
      { policy, candidate, incumbent, allowSchemaChange: promotion.options.allowSchemaChange },
      {
        preload: (model, version) => this.options.dataPlane.preload(model, version),
        predict: (model, version, inputs) => this.options.dataPlane.inferVersion(model, version, inputs),
        dataset: (model, name) =>
          this.options.store.getDataset(model, name).catch((error: unknown) => {
            if (isSlipwayError(error) && error.code === 'NOT_FOUND') return null;
            throw error;
          }),
      },
    );
    for (const gate of gates) {
      await this.options.store.recordAudit({
        actor: context.actor.name,
        action: `gate.${gate.gate}`,
        target: promotionTarget(promotion),
        result: gate.status === 'failed' ? 'failed' : 'ok',
        after: gate,
        requestId: context.requestId,
        details: { promotion: promotion.id },
      });
    }
    const failed = gates.find((g) => g.status === 'failed');
    if (failed) {
      promotion = await this.transition(promotion, 'GATING', {
        status: 'FAILED',
        gates,
        failure: `${failed.gate} gate: ${failed.message}`,
      });
      throw new SlipwayError(
        'GATE_FAILED',
        `Promotion of ${candidate.model} version ${candidate.version} to ${policy.name} stopped at the ${failed.gate} gate: ${failed.message} Nothing changed in ${policy.name}.`,
        { promotion: promotion.id, gate: failed.gate, gates },
      );
    }
    if (policy.approval) {
      promotion = await this.transition(promotion, 'GATING', { status: 'AWAITING_APPROVAL', gates });
      await this.audit(context, 'promotion.await-approval', promotion, { role: policy.approval.role });
      return promotion;
    }
    promotion = await this.transition(promotion, 'GATING', { status: 'GATING', gates });
    return this.begin(promotion, 'GATING', context);
  }

  /** Approves a promotion that waits for one; it then deploys as planned. */
  async approve(id: string, reason: string, context: RequestContext): Promise<Promotion> {
    const promotion = await this.awaiting(id);
    const policy = this.policy(promotion.environment);
    const approval = policy.approval!;
    requireRole(context.actor, approval.role, `Approving a promotion to ${policy.name}`);
    if (
      !approval.allowSelf &&
      context.actor.name === promotion.requestedBy &&
      context.actor.role !== 'admin'
    ) {
      throw new SlipwayError(
        'PERMISSION_DENIED',
        `"${context.actor.name}" requested this promotion and cannot also approve it; another ${approval.role} must.`,
        { required: approval.role, reason: 'SELF_APPROVAL' },
      );
    }
    const gate: GateResult = {
      gate: 'approval',
      status: 'passed',
      message: `Approved by ${context.actor.name}${reason ? `: ${reason}` : ''}.`,
      at: new Date().toISOString(),
    };
    const approved = await this.transition(
      promotion,
      'AWAITING_APPROVAL',
      {
        status: 'GATING',
        gates: [...promotion.gates, gate],
        approval: { by: context.actor.name, at: gate.at, reason },
      },
      this.lease(),
    );
    const release = this.hold(approved.id);
    try {
      await this.audit(context, 'promotion.approve', approved, { reason });
      return await this.begin(approved, 'GATING', context);
    } finally {
      release();
    }
  }

  async reject(id: string, reason: string, context: RequestContext): Promise<Promotion> {
    const promotion = await this.awaiting(id);
    const policy = this.policy(promotion.environment);
    requireRole(context.actor, policy.approval!.role, `Rejecting a promotion to ${policy.name}`);
    const rejected = await this.transition(promotion, 'AWAITING_APPROVAL', {
      status: 'REJECTED',
      failure: `Rejected by ${context.actor.name}${reason ? `: ${reason}` : ''}.`,
    });
    await this.audit(context, 'promotion.reject', rejected, { reason }, 'failed');
    return rejected;
  }

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
    const revision = await this.append(
      { model, environment, traffic: request.traffic, tags, shadow },
      current,
      'traffic',
      request.reason ?? 'traffic changed',
      context,
      null,
    );
    await this.supersedeRollouts(
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
    const revision = await this.append(
      { model, environment, traffic: target.traffic, tags: target.tags, shadow: target.shadow },
      current,
      kind,
      options.reason ?? `rolled back to revision ${target.number}`,
      context,
      null,
    );
    await this.supersedeRollouts(
      model,
      environment,
      `rolled back by ${context.actor.name} in revision ${revision.number}`,
    );
    return revision;
  }

  async pause(id: string, reason: string, context: RequestContext): Promise<Promotion> {
    const promotion = await this.options.store.getPromotion(id);
    requireRole(context.actor, this.policy(promotion.environment).role, 'Pausing a rollout');
    this.assertStatus(promotion, ['ROLLING_OUT']);
    this.unwatch(id);
    const paused = await this.transition(promotion, 'ROLLING_OUT', {
      status: 'PAUSED',
      rollout: {
        ...promotion.rollout!,
        note: `paused by ${context.actor.name}${reason ? `: ${reason}` : ''}`,
      },
    });
    await this.audit(context, 'rollout.pause', paused, { reason });
    return paused;
  }

  async resume(id: string, reason: string, context: RequestContext): Promise<Promotion> {
    const promotion = await this.options.store.getPromotion(id);
    requireRole(context.actor, this.policy(promotion.environment).role, 'Resuming a rollout');
    this.assertStatus(promotion, ['PAUSED']);
    // The step bakes again from now: what happened while paused is not evidence for it.
    const resumed = await this.transition(promotion, 'PAUSED', {
      status: 'ROLLING_OUT',
      rollout: { ...promotion.rollout!, stepStartedAt: new Date().toISOString(), note: null },
    });
    await this.audit(context, 'rollout.resume', resumed, { reason });
    this.watch(resumed);
    return resumed;
  }

  /**
   * Ends any promotion that has not ended. One that changed traffic (a rollout, or a deploy step
   * whose revision is in force) gets the traffic from before it back; one that changed nothing (its
   * gates still running, or waiting for approval) just ends ABORTED, and its gates' process finds
   * that when it next moves it.
   */
  async abort(id: string, reason: string, context: RequestContext): Promise<Promotion> {
    const promotion = await this.options.store.getPromotion(id);
    requireRole(context.actor, this.policy(promotion.environment).role, 'Aborting a promotion');
    this.assertStatus(promotion, ['GATING', 'AWAITING_APPROVAL', 'ROLLING_OUT', 'PAUSED']);
    this.unwatch(id);
    const why = `aborted by ${context.actor.name}${reason ? `: ${reason}` : ''}`;
    const current = await this.options.store.currentRevision(promotion.model, promotion.environment);
    const changedTraffic =
      promotion.status === 'ROLLING_OUT' || promotion.status === 'PAUSED' || current?.promotionId === id;
    if (changedTraffic) return this.restoreBaseline(promotion, 'ABORTED', 'rollback', why, context);
    const ended = await this.transition(promotion, promotion.status, { status: 'ABORTED', failure: why });
    await this.audit(context, 'promotion.abort', ended, { reason }, 'failed');
    return ended;
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
      createdAt: new Date().toISOString(),
    });
    await this.options.store.recordAudit({
      actor: context.actor.name,
      action: 'dataset.put',
      target: `${dataset.model}/datasets/${dataset.name}`,
      after: { rows: dataset.rows.length, label: dataset.label, replaced: result.replaced },
      result: 'ok',
      requestId: context.requestId,
    });
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

  private async recoverOne(promotion: Promotion): Promise<Promotion> {
    const current = await this.options.store.currentRevision(promotion.model, promotion.environment);
    if (current?.promotionId === promotion.id) {
      const plan = this.policy(promotion.environment).rollout;
      const rolling =
        promotion.options.canary && plan && !current.traffic.every((s) => s.version === promotion.version);
      const finished = await this.transition(
        promotion,
        'GATING',
        rolling
          ? { status: 'ROLLING_OUT', rollout: { step: 0, stepStartedAt: isoNow(this.clock), note: null } }
          : { status: 'SUCCEEDED' },
      );
      await this.audit(SYSTEM_CONTEXT, rolling ? 'promotion.recover' : 'promotion.succeed', finished, {
        revision: current.number,
      });
      if (rolling && this.options.served.includes(finished.environment)) this.watch(finished);
      return finished;
    }
    const failed = await this.transition(promotion, 'GATING', {
      status: 'FAILED',
      failure: INTERRUPTED_GATING,
    });
    await this.audit(SYSTEM_CONTEXT, 'promotion.fail', failed, { reason: INTERRUPTED_GATING }, 'failed');
    return failed;
  }

  private scheduleRecovery(): void {
    if (this.stopped) return;
    this.cancelRecovery = this.clock.schedule(this.options.promotionLeaseMs, async () => {
      await this.recover().catch((error: unknown) =>
        this.options.logger.error({ err: error }, 'could not recover interrupted promotions; retrying'),
      );
      this.scheduleRecovery();
    });
  }

  private lease(): PromotionLease {
    return {
      holder: this.holder,
      until: new Date(this.clock.now() + this.options.promotionLeaseMs).toISOString(),
    };
  }

  /** Renews this process's hold on a promotion every third of the lease, until `release`. */
  private hold(id: string): () => void {
    const renew = () => {
      this.holds.set(
        id,
        this.clock.schedule(Math.floor(this.options.promotionLeaseMs / 3), async () => {
          const held = await this.options.store
            .renewPromotionLease(id, this.lease())
            .catch((error: unknown) => {
              this.options.logger.warn({ promotion: id, err: error }, 'could not renew a promotion lease');
              return true;
            });
          if (held && this.holds.has(id)) renew();
        }),
      );
    };
    renew();
    return () => {
      this.holds.get(id)?.();
      this.holds.delete(id);
    };
  }

  /**
   * After gates (and approval): all traffic at once, or the first canary step. If the deployment
   * cannot change (a version no longer loads, a concurrent change won), the promotion ends FAILED
   * with the reason rather than staying in flight.
   */
  private async begin(
    promotion: Promotion,
    from: Promotion['status'],
    context: RequestContext,
  ): Promise<Promotion> {
    try {
      return await this.deploy(promotion, from, context);
    } catch (error) {
      const reason = isSlipwayError(error) ? error.message : 'the deployment could not change';
      await this.transition(promotion, from, { status: 'FAILED', failure: reason }).catch(() => undefined);
      throw error;
    }
  }

  private async deploy(
    promotion: Promotion,
    from: Promotion['status'],
    context: RequestContext,
  ): Promise<Promotion> {
    const policy = this.policy(promotion.environment);
    const current = await this.options.store.currentRevision(promotion.model, promotion.environment);
    const plan = policy.rollout;
    if (promotion.options.canary && plan && current && (plan.steps[0] as number) < 100) {
      const step = 0;
      await this.append(
        {
          model: promotion.model,
          environment: promotion.environment,
          traffic: withCanary(current.traffic, promotion.version, plan.steps[step] as number),
          tags: current.tags,
          shadow: current.shadow,
        },
        current,
        'promotion',
        `canary step 1 of ${plan.steps.length}: ${plan.steps[step]}% to version ${promotion.version}`,
        context,
        { id: promotion.id, status: from },
      );
      const rolling = await this.transition(promotion, from, {
        status: 'ROLLING_OUT',
        baseline: current.traffic,
        rollout: { step, stepStartedAt: new Date().toISOString(), note: null },
      });
      this.watch(rolling);
      return rolling;
    }
    await this.append(
      {
        model: promotion.model,
        environment: promotion.environment,
        traffic: [{ version: promotion.version, percent: 100 }],
        tags: current?.tags ?? {},
        shadow: null,
      },
      current,
      policy.promotesFrom ? 'promotion' : 'deploy',
      promotion.reason || `version ${promotion.version} promoted`,
      context,
      { id: promotion.id, status: from },
    );
    const done = await this.transition(promotion, from, {
      status: 'SUCCEEDED',
      baseline: current?.traffic ?? null,
    });
    await this.audit(context, 'promotion.succeed', done, null);
    return done;
  }

  /** Schedules the next analysis of a rollout. */
  private watch(promotion: Promotion): void {
    if (this.stopped) return;
    this.unwatch(promotion.id);
    const timer = setTimeout(() => {
      this.timers.delete(promotion.id);
      this.analyse(promotion.id).catch((error: unknown) => {
        this.options.logger.error(
          { promotion: promotion.id, err: error },
          'rollout analysis failed; retrying',
        );
        void this.options.store.getPromotion(promotion.id).then((p) => {
          if (p.status === 'ROLLING_OUT') this.watch(p);
        });
      });
    }, this.options.analysisIntervalMs);
    timer.unref();
    this.timers.set(promotion.id, timer);
  }

  private unwatch(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  /**
   * One look at a canary: a breach of the error-rate or p99 limit rolls back at once; when the step
   * has baked, too few requests pause the rollout (inconclusive), otherwise it takes the next step.
   */
  private async analyse(id: string): Promise<void> {
    const promotion = await this.options.store.getPromotion(id);
    if (promotion.status !== 'ROLLING_OUT' || !promotion.rollout) return;
    const plan = this.policy(promotion.environment).rollout as RolloutPlan;
    const { step, stepStartedAt } = promotion.rollout;
    const share = plan.steps[step] as number;
    const figures = this.options.stats.since(
      promotion.environment,
      promotion.model,
      promotion.version,
      Date.parse(stepStartedAt),
    );
    const where = `at step ${step + 1} (${share}%)`;
    let breach: string | null = null;
    // Both limits wait for min_requests, so one early failure is not a verdict on the version.
    if (figures.requests >= Math.max(1, plan.minRequests) && figures.errorRate > plan.maxErrorRate) {
      breach = `error rate ${pct(figures.errorRate)} (${figures.failures} of ${figures.requests} requests) exceeded the ${pct(plan.maxErrorRate)} limit ${where}`;
    } else if (
      figures.p99Ms !== null &&
      figures.requests >= plan.minRequests &&
      figures.p99Ms > plan.maxP99Ms
    ) {
      breach = `p99 latency ${figures.p99Ms.toFixed(1)} ms exceeded the ${plan.maxP99Ms} ms limit ${where}`;
    }
    if (breach) {
      this.options.logger.warn(
        { promotion: id, reason: breach, figures },
        'canary breached its limits; rolling back',
      );
      await this.restoreBaseline(
        promotion,
        'ROLLED_BACK',
        'automatic-rollback',
        `automatic rollback: ${breach}`,
        SYSTEM_CONTEXT,
        figures,
      );
      return;
    }
    const baked = Date.now() - Date.parse(stepStartedAt) >= plan.bakeSeconds * 1000;
    if (!baked) return this.watch(promotion);
    if (figures.requests < plan.minRequests) {
      const note = `inconclusive: ${figures.requests} requests reached version ${promotion.version} ${where}, fewer than the ${plan.minRequests} analysis needs; resume to bake the step again`;
      const paused = await this.transition(promotion, 'ROLLING_OUT', {
        status: 'PAUSED',
        rollout: { ...promotion.rollout, note },
      });
      await this.audit(SYSTEM_CONTEXT, 'rollout.pause', paused, { reason: note, figures });
      return;
    }
    const next = step + 1;
    const current = await this.options.store.currentRevision(promotion.model, promotion.environment);
    if (!current) return;
    const nextShare = plan.steps[next] as number;
    const traffic =
      nextShare >= 100
        ? [{ version: promotion.version, percent: 100 }]
        : withCanary(current.traffic, promotion.version, nextShare);
    await this.append(
      {
        model: promotion.model,
        environment: promotion.environment,
        traffic,
        tags: current.tags,
        shadow: current.shadow,
      },
      current,
      'rollout-step',
      `canary step ${next + 1} of ${plan.steps.length}: ${nextShare}% to version ${promotion.version} (previous step: ${figures.requests} requests, error rate ${pct(figures.errorRate)}, p99 ${figures.p99Ms?.toFixed(1) ?? '-'} ms)`,
      SYSTEM_CONTEXT,
      { id: promotion.id, status: 'ROLLING_OUT' },
    );
    if (nextShare >= 100) {
      const done = await this.transition(promotion, 'ROLLING_OUT', {
        status: 'SUCCEEDED',
        rollout: { step: next, stepStartedAt: new Date().toISOString(), note: null },
      });
      await this.audit(SYSTEM_CONTEXT, 'promotion.succeed', done, { figures });
      return;
    }
    const advanced = await this.transition(promotion, 'ROLLING_OUT', {
      rollout: { step: next, stepStartedAt: new Date().toISOString(), note: null },
    });
    this.watch(advanced);
  }

  private async restoreBaseline(
    promotion: Promotion,
    status: 'ABORTED' | 'ROLLED_BACK',
    kind: RevisionKind,
    reason: string,
    context: RequestContext,
    figures?: unknown,
  ): Promise<Promotion> {
    const current = await this.options.store.currentRevision(promotion.model, promotion.environment);
    if (current && promotion.baseline && !sameTraffic(current.traffic, promotion.baseline)) {
      await this.append(
        {
          model: promotion.model,
          environment: promotion.environment,
          traffic: promotion.baseline,
          tags: current.tags,
          shadow: current.shadow,
        },
        current,
        kind,
        reason,
        context,
        { id: promotion.id, status: promotion.status },
        figures ? { figures } : undefined,
      );
    }
    const ended = await this.transition(promotion, promotion.status, { status, failure: reason });
    await this.audit(
      context,
      status === 'ROLLED_BACK' ? 'rollout.rollback' : 'rollout.abort',
      ended,
      { reason, figures },
      'failed',
    );
    return ended;
  }

  /** Ends rollouts of a deployment whose traffic someone else has just set. */
  private async supersedeRollouts(model: string, environment: string, why: string): Promise<void> {
    const active = await this.options.store.listPromotions({
      model,
      environment,
      status: ['ROLLING_OUT', 'PAUSED'],
    });
    for (const promotion of active.items) {
      this.unwatch(promotion.id);
      await this.transition(promotion, promotion.status, {
        status: 'ABORTED',
        failure: `superseded: ${why}`,
      });
    }
  }

  /**
   * Loads every version a revision will name, then appends it (with its audit event) and switches
   * this process's route. A version that cannot load stops the change before anything is written.
   */
  private async append(
    routing: Pick<Revision, 'model' | 'environment' | 'traffic' | 'tags' | 'shadow'>,
    current: Revision | null,
    kind: RevisionKind,
    reason: string,
    context: RequestContext,
    promotion: { readonly id: string; readonly status: Promotion['status'] } | null,
    details?: Record<string, unknown>,
  ): Promise<Revision> {
    const promotionId = promotion?.id ?? null;
    for (const version of versionsOf(routing)) {
      const found = await this.options.registry.getVersion(routing.model, version);
      assertServable(found);
      if (found.status !== 'READY') {
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `Version ${version} of "${routing.model}" is ${found.status} and cannot serve.`,
          {
            model: routing.model,
            version,
          },
        );
      }
      await this.options.dataPlane.preload(routing.model, version);
    }
    const revision = await this.options.store.appendRevision(
      { ...routing, kind, actor: context.actor.name, reason, promotionId, requestId: context.requestId },
      {
        actor: context.actor.name,
        action: `revision.${kind}`,
        target: deploymentName(routing.model, routing.environment),
        result: kind === 'automatic-rollback' ? 'failed' : 'ok',
        requestId: context.requestId,
        details: { reason, ...(promotionId ? { promotion: promotionId } : {}), ...details },
      },
      current?.number ?? null,
      promotion?.status,
    );
    if (this.options.served.includes(routing.environment)) {
      await this.options.dataPlane.refresh(routing.environment, routing.model);
    }
    return revision;
  }

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

  private async awaiting(id: string): Promise<Promotion> {
    const promotion = await this.options.store.getPromotion(id);
    this.assertStatus(promotion, ['AWAITING_APPROVAL']);
    return promotion;
  }

  private assertStatus(promotion: Promotion, allowed: Promotion['status'][]): void {
    if (!allowed.includes(promotion.status)) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `Promotion ${promotion.id} is ${promotion.status}; this needs it to be ${allowed.join(' or ')}.`,
        {
          promotion: promotion.id,
          status: promotion.status,
          final: FINAL_STATUSES.includes(promotion.status),
        },
      );
    }
  }

  private transition(
    promotion: Promotion,
    from: Promotion['status'],
    change: Partial<Promotion>,
    lease?: PromotionLease,
  ): Promise<Promotion> {
    return this.options.store.updatePromotion({ ...promotion, ...change }, from, lease);
  }

  private async audit(
    context: RequestContext,
    action: string,
    promotion: Promotion,
    details: Record<string, unknown> | null,
    result: 'ok' | 'failed' = 'ok',
  ): Promise<void> {
    await this.options.store.recordAudit({
      actor: context.actor.name,
      action,
      target: promotionTarget(promotion),
      result,
      after: { promotion: promotion.id, status: promotion.status },
      requestId: context.requestId,
      details: { promotion: promotion.id, version: promotion.version, ...details },
    });
  }
}

const promotionTarget = (promotion: Promotion) => deploymentName(promotion.model, promotion.environment);
const pct = (rate: number) => `${(rate * 100).toFixed(1)}%`;

/**
 * The baseline split with `percent` for a canary version listed first (so its buckets are the
 * lowest and sticky keys that reached it stay on it as it grows), the rest scaled to fill 100 by
 * largest remainder.
 */
export function withCanary(
  baseline: readonly TrafficShare[],
  version: number,
  percent: number,
): TrafficShare[] {
  const others = baseline.filter((s) => s.version !== version && s.percent > 0);
  if (others.length === 0) return [{ version, percent: 100 }];
  const total = others.reduce((sum, s) => sum + s.percent, 0);
  const room = 100 - percent;
  const scaled = others.map((s) => ({ version: s.version, exact: (s.percent / total) * room }));
  const shares = scaled.map((s) => ({ version: s.version, percent: Math.floor(s.exact) }));
  let left = room - shares.reduce((sum, s) => sum + s.percent, 0);
  const order = scaled
    .map((s, i) => ({ i, rest: s.exact - Math.floor(s.exact) }))
    .sort((a, b) => b.rest - a.rest);
  for (const { i } of order) {
    if (left === 0) break;
    (shares[i] as TrafficShare & { percent: number }).percent += 1;
    left -= 1;
  }
  return [{ version, percent }, ...shares.filter((s) => s.percent > 0)];
}
