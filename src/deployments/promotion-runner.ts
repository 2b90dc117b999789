import type { AuditStore } from '../audit/audit-store.js';
import type { AlertSink } from '../domain/alert.js';
import { type Clock, isoNow } from '../domain/clock.js';
import type { EnvironmentPolicy } from '../domain/environment.js';
import type { ModelVersion } from '../domain/model.js';
import type { Dataset, Promotion } from '../domain/promotion.js';
import { deploymentName, type Revision, versionInService } from '../domain/revision.js';
import type { RequestContext } from '../domain/roles.js';
import { isSlipwayError, SlipwayError } from '../errors/index.js';
import type { RegistryReads } from '../registry/registry-service.js';
import type { DataPlane } from '../serving/data-plane.js';
import type { DeploymentStore } from './deployment-store.js';
import { runGates } from './gates.js';
import type { PromotionMachine } from './promotion-machine.js';
import type { RevisionWriter } from './revision-writer.js';
import { type RolloutController, withCanary } from './rollout-controller.js';

export interface PromotionRunnerOptions {
  readonly registry: Pick<RegistryReads, 'getVersion'>;
  readonly dataPlane: Pick<DataPlane, 'preload' | 'inferVersion'>;
  readonly audit: Pick<AuditStore, 'record'>;
  readonly store: Pick<DeploymentStore, 'currentRevision'>;
  readonly machine: PromotionMachine;
  readonly writer: RevisionWriter;
  readonly rollouts: Pick<RolloutController, 'watch'>;
  readonly policy: (environment: string) => EnvironmentPolicy;
  /** The model's dataset of that name, or null (the validation gate's rows). */
  readonly dataset: (model: string, name: string) => Promise<Dataset | null>;
  readonly clock: Clock;
  /** Told of each promotion a gate stops. */
  readonly alerts?: AlertSink;
}

/**
 * A promotion's work once it is accepted: its gates, then (after any approval) the deploy step that
 * gives the candidate all traffic or the first canary step. Its caller holds the promotion's lease
 * for as long as this runs.
 */
export class PromotionRunner {
  constructor(private readonly options: PromotionRunnerOptions) {}

  /** Runs the gates of a GATING promotion, then fails it, waits for approval, or begins it. */
  async gate(
    promotion: Promotion,
    policy: EnvironmentPolicy,
    candidate: ModelVersion,
    current: Revision | null,
    context: RequestContext,
  ): Promise<Promotion> {
    const incumbent = current
      ? await this.options.registry.getVersion(candidate.model, versionInService(current))
      : null;
    const gates = await runGates(
      { policy, candidate, incumbent, allowSchemaChange: promotion.options.allowSchemaChange },
      {
        preload: (model, version) => this.options.dataPlane.preload(model, version),
        predict: (model, version, inputs) => this.options.dataPlane.inferVersion(model, version, inputs),
        dataset: (model, name) => this.options.dataset(model, name),
        clock: this.options.clock,
      },
    );
    for (const gate of gates) {
      await this.options.audit.record({
        actor: context.actor.name,
        action: `gate.${gate.gate}`,
        target: deploymentName(promotion.model, promotion.environment),
        result: gate.status === 'failed' ? 'failed' : 'ok',
        after: gate,
        requestId: context.requestId,
        details: { promotion: promotion.id },
      });
    }
    const failed = gates.find((g) => g.status === 'failed');
    if (failed) {
      const ended = await this.options.machine.transition(promotion, 'fail', {
        gates,
        failure: `${failed.gate} gate: ${failed.message}`,
      });
      this.options.alerts?.notify({
        kind: 'gate_failed',
        time: isoNow(this.options.clock),
        model: candidate.model,
        version: candidate.version,
        environment: policy.name,
        promotion: ended.id,
        gate: failed.gate,
        message: failed.message,
        measurements: failed.measurements ?? null,
      });
      throw new SlipwayError(
        'GATE_FAILED',
        `Promotion of ${candidate.model} version ${candidate.version} to ${policy.name} stopped at the ${failed.gate} gate: ${failed.message} Nothing changed in ${policy.name}.`,
        { promotion: ended.id, gate: failed.gate, gates },
      );
    }
    if (policy.approval) {
      const waiting = await this.options.machine.transition(promotion, 'await-approval', { gates });
      await this.options.machine.record(context, 'promotion.await-approval', waiting, {
        role: policy.approval.role,
      });
      return waiting;
    }
    return this.begin(await this.options.machine.transition(promotion, 'record-gates', { gates }), context);
  }

  /**
   * After gates (and approval): all traffic at once, or the first canary step. If the deployment
   * cannot change (a version no longer loads, a concurrent change won), the promotion ends FAILED
   * with the reason rather than staying in flight.
   */
  async begin(promotion: Promotion, context: RequestContext): Promise<Promotion> {
    try {
      return await this.deploy(promotion, context);
    } catch (error) {
      const reason = isSlipwayError(error) ? error.message : 'the deployment could not change';
      // Already moved on (aborted meanwhile): that move stands.
      await this.options.machine.transition(promotion, 'fail', { failure: reason }).catch(() => undefined);
      throw error;
    }
  }

  private async deploy(promotion: Promotion, context: RequestContext): Promise<Promotion> {
    const policy = this.options.policy(promotion.environment);
    const current = await this.options.store.currentRevision(promotion.model, promotion.environment);
    const plan = policy.rollout;
    if (promotion.options.canary && plan && current && (plan.steps[0] as number) < 100) {
      this.options.machine.check(promotion, 'start-rollout');
      await this.options.writer.append({
        routing: {
          model: promotion.model,
          environment: promotion.environment,
          traffic: withCanary(current.traffic, promotion.version, plan.steps[0] as number),
          tags: current.tags,
          shadow: current.shadow,
        },
        current,
        kind: 'promotion',
        reason: `canary step 1 of ${plan.steps.length}: ${plan.steps[0]}% to version ${promotion.version}`,
        context,
        promotion,
      });
      const rolling = await this.options.machine.transition(promotion, 'start-rollout', {
        baseline: current.traffic,
        rollout: { step: 0, stepStartedAt: isoNow(this.options.clock), note: null },
      });
      this.options.rollouts.watch(rolling);
      return rolling;
    }
    this.options.machine.check(promotion, 'deploy');
    await this.options.writer.append({
      routing: {
        model: promotion.model,
        environment: promotion.environment,
        traffic: [{ version: promotion.version, percent: 100 }],
        tags: current?.tags ?? {},
        shadow: null,
      },
      current,
      kind: policy.promotesFrom ? 'promotion' : 'deploy',
      reason: promotion.reason || `version ${promotion.version} promoted`,
      context,
      promotion,
    });
    const done = await this.options.machine.transition(promotion, 'deploy', {
      baseline: current?.traffic ?? null,
    });
    await this.options.machine.record(context, 'promotion.succeed', done, null);
    return done;
  }
}
