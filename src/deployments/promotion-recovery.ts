import type { Logger } from 'pino';
import { type Cancel, type Clock, isoNow } from '../domain/clock.js';
import type { Promotion } from '../domain/promotion.js';
import { sameTraffic } from '../domain/revision.js';
import { SYSTEM_CONTEXT } from '../domain/roles.js';
import { isSlipwayError } from '../errors/index.js';
import type { DeploymentStore } from './deployment-store.js';
import type { PromotionMachine } from './promotion-machine.js';
import type { RolloutController } from './rollout-controller.js';

/** Why recovery ends a promotion whose process died while it gated. */
export const INTERRUPTED_GATING = 'the server stopped while its gates ran; promote again';

export interface PromotionRecoveryOptions {
  readonly store: Pick<DeploymentStore, 'abandonedPromotions' | 'currentRevision'>;
  readonly machine: PromotionMachine;
  readonly rollouts: Pick<RolloutController, 'watch'>;
  readonly clock: Clock;
  /** How often to look for orphaned promotions: the lease length. */
  readonly intervalMs: number;
  readonly logger: Logger;
}

/**
 * Ends promotions whose process died while it held them (see `PromotionLeases`): at start, then
 * every lease. A live holder renews well within its lease, so several servers sharing the registry
 * can all run this without ending each other's promotions, and each move is guarded by the status
 * GATING, so two servers recovering at once move a promotion once.
 */
export class PromotionRecovery {
  private cancel: Cancel | null = null;
  private stopped = false;

  constructor(private readonly options: PromotionRecoveryOptions) {}

  /** Looks again every interval until `stop`. */
  start(): void {
    this.stopped = false;
    this.cancel?.();
    this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = null;
  }

  private loop(): void {
    if (this.stopped) return;
    this.cancel = this.options.clock.schedule(this.options.intervalMs, async () => {
      await this.recover().catch((error: unknown) =>
        this.options.logger.error({ err: error }, 'could not recover interrupted promotions; retrying'),
      );
      this.loop();
    });
  }

  /**
   * Ends every GATING promotion whose lease lapsed. One whose deploy step had already written its
   * revision is finished as that revision left it (SUCCEEDED, or ROLLING_OUT from its first step);
   * any other is FAILED with the reason, nothing having changed in service.
   */
  async recover(): Promise<Promotion[]> {
    const ended: Promotion[] = [];
    const { store, clock, logger } = this.options;
    for (const promotion of await store.abandonedPromotions(isoNow(clock))) {
      try {
        ended.push(await this.recoverOne(promotion));
      } catch (error) {
        // Another server recovered it first, or its holder came back: either way it is not stuck.
        if (!(isSlipwayError(error) && error.code === 'FAILED_PRECONDITION')) throw error;
      }
    }
    if (ended.length > 0) {
      logger.warn(
        { promotions: ended.map((p) => ({ id: p.id, status: p.status })) },
        'ended promotions interrupted by a stopped server',
      );
    }
    return ended;
  }

  private async recoverOne(promotion: Promotion): Promise<Promotion> {
    const { store, machine, clock } = this.options;
    const current = await store.currentRevision(promotion.model, promotion.environment);
    if (current?.promotionId === promotion.id) {
      // The deploy step wrote its revision, and the server died before it marked the promotion.
      const rolling =
        promotion.options.canary &&
        !sameTraffic(current.traffic, [{ version: promotion.version, percent: 100 }]);
      const finished = rolling
        ? await machine.transition(promotion, 'start-rollout', {
            rollout: { step: 0, stepStartedAt: isoNow(clock), note: null },
          })
        : await machine.transition(promotion, 'deploy');
      await machine.record(SYSTEM_CONTEXT, rolling ? 'promotion.recover' : 'promotion.succeed', finished, {
        revision: current.number,
      });
      if (rolling) this.options.rollouts.watch(finished);
      return finished;
    }
    const failed = await machine.transition(promotion, 'fail', { failure: INTERRUPTED_GATING });
    await machine.record(SYSTEM_CONTEXT, 'promotion.fail', failed, { reason: INTERRUPTED_GATING }, 'failed');
    return failed;
  }
}
