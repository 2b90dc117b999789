import type { Logger } from 'pino';
import type { AlertSink } from '../domain/alert.js';
import { type Cancel, type Clock, isoNow } from '../domain/clock.js';
import type { RolloutPlan } from '../domain/environment.js';
import type { Promotion } from '../domain/promotion.js';
import { type RevisionKind, sameTraffic, type TrafficShare } from '../domain/revision.js';
import { type RequestContext, SYSTEM_CONTEXT } from '../domain/roles.js';
import type { ShadowStats, WindowStats } from '../domain/traffic.js';
import { featureDrift } from '../drift/statistics.js';
import type { DeploymentStore } from './deployment-store.js';
import type { PromotionMachine } from './promotion-machine.js';
import type { RevisionWriter } from './revision-writer.js';

/** Where a canary step stands when analysis looks at it. */
export interface StepState {
  /** Index into the plan's steps of the step in force. */
  readonly step: number;
  /** How long the step has been in force. */
  readonly elapsedMs: number;
  /** The candidate version, for the notes. */
  readonly version: number;
}

/**
 * Model-quality figures of a step, beside its error rate and latency: how far the canary's
 * predictions are from the stable version's on the same step's traffic, and how often the shadow
 * agreed with the served answer.
 */
export interface QualityFigures {
  /** Jensen-Shannon distance of the two prediction distributions; null when either side has too few. */
  readonly predictionDivergence: number | null;
  readonly canaryPredictions: number;
  readonly stablePredictions: number;
  /** Share of mirrored requests the shadow agreed on; null without a shadow or with too few requests. */
  readonly shadowAgreement: number | null;
  readonly shadowRequests: number;
}

const NO_QUALITY: QualityFigures = {
  predictionDivergence: null,
  canaryPredictions: 0,
  stablePredictions: 0,
  shadowAgreement: null,
  shadowRequests: 0,
};

/** What to do with a rollout after one look at its figures. */
export type StepVerdict =
  /** A limit was breached: restore the baseline now. */
  | { readonly action: 'roll-back'; readonly breach: string }
  /** Nothing is wrong, but the step has not baked yet: look again later. */
  | { readonly action: 'hold' }
  /** The step baked on too few requests to judge: pause until a person resumes it. */
  | { readonly action: 'pause'; readonly note: string }
  /** The step baked cleanly: take the next one (`final`: the candidate then takes all traffic). */
  | { readonly action: 'promote'; readonly step: number; readonly share: number; readonly final: boolean };

/**
 * Judges one canary step by its figures, purely. A breach of the error-rate or p99 limit rolls back
 * at once; both wait for `min_requests` (at least one), so one early failure is not a verdict on the
 * version. A step that has baked with too few requests is inconclusive (pause); one that has baked
 * with enough moves on.
 */
export function judgeStep(
  figures: WindowStats,
  plan: RolloutPlan,
  state: StepState,
  quality: QualityFigures = NO_QUALITY,
): StepVerdict {
  const share = plan.steps[state.step] as number;
  const where = `at step ${state.step + 1} (${share}%)`;
  if (figures.requests >= Math.max(1, plan.minRequests) && figures.errorRate > plan.maxErrorRate) {
    return {
      action: 'roll-back',
      breach: `error rate ${pct(figures.errorRate)} (${figures.failures} of ${figures.requests} requests) exceeded the ${pct(plan.maxErrorRate)} limit ${where}`,
    };
  }
  if (figures.p99Ms !== null && figures.requests >= plan.minRequests && figures.p99Ms > plan.maxP99Ms) {
    return {
      action: 'roll-back',
      breach: `p99 latency ${figures.p99Ms.toFixed(1)} ms exceeded the ${plan.maxP99Ms} ms limit ${where}`,
    };
  }
  if (
    plan.maxPredictionDivergence !== null &&
    quality.predictionDivergence !== null &&
    quality.predictionDivergence > plan.maxPredictionDivergence
  ) {
    return {
      action: 'roll-back',
      breach: `prediction divergence ${quality.predictionDivergence.toFixed(3)} (Jensen-Shannon distance of ${quality.canaryPredictions} canary and ${quality.stablePredictions} stable predictions) exceeded the ${plan.maxPredictionDivergence} limit ${where}`,
    };
  }
  if (
    plan.minShadowAgreement !== null &&
    quality.shadowAgreement !== null &&
    quality.shadowAgreement < plan.minShadowAgreement
  ) {
    return {
      action: 'roll-back',
      breach: `shadow agreement ${pct(quality.shadowAgreement)} (of ${quality.shadowRequests} mirrored requests) fell below the ${pct(plan.minShadowAgreement)} floor ${where}`,
    };
  }
  if (state.elapsedMs < plan.bakeSeconds * 1000) return { action: 'hold' };
  if (figures.requests < plan.minRequests) {
    return {
      action: 'pause',
      note: `inconclusive: ${figures.requests} requests reached version ${state.version} ${where}, fewer than the ${plan.minRequests} analysis needs; resume to bake the step again`,
    };
  }
  const next = state.step + 1;
  const nextShare = plan.steps[next] as number;
  return { action: 'promote', step: next, share: nextShare, final: nextShare >= 100 };
}

/**
 * Repeated looks, one timer per key, on the injected clock: a look that returns true is followed by
 * another one interval later; one that throws is logged and retried.
 */
export class RolloutScheduler {
  private readonly timers = new Map<string, Cancel>();

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly look: (id: string) => Promise<boolean>,
    private readonly logger: Logger,
    /** Stopped schedulers ignore `watch` until `resume`. */
    private stopped = false,
  ) {}

  /** Schedules the next look at `id`, replacing any already scheduled. */
  watch(id: string): void {
    if (this.stopped) return;
    this.unwatch(id);
    const cancel = this.clock.schedule(this.intervalMs, async () => {
      if (this.timers.get(id) !== cancel) return;
      this.timers.delete(id);
      let again = true;
      try {
        again = await this.look(id);
      } catch (error) {
        this.logger.error({ promotion: id, err: error }, 'rollout analysis failed; retrying');
      }
      if (again && !this.timers.has(id)) this.watch(id);
    });
    this.timers.set(id, cancel);
  }

  unwatch(id: string): void {
    this.timers.get(id)?.();
    this.timers.delete(id);
  }

  /** Whether a look at `id` is scheduled. */
  watching(id: string): boolean {
    return this.timers.has(id);
  }

  stop(): void {
    this.stopped = true;
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
  }

  /** Lets `watch` schedule looks again after `stop`. */
  resume(): void {
    this.stopped = false;
  }
}

export interface RolloutControllerOptions {
  readonly store: Pick<DeploymentStore, 'getPromotion' | 'currentRevision' | 'listPromotions'>;
  readonly machine: PromotionMachine;
  readonly writer: RevisionWriter;
  /** Every replica's traffic figures (TrafficFigures). */
  readonly figures: {
    since(environment: string, model: string, version: number, sinceMs: number): Promise<WindowStats>;
    predictions(
      environment: string,
      model: string,
      version: number,
      sinceMs: number,
    ): Promise<(number | string)[]>;
    /** The shadow comparison of a deployment's revision (requests mirrored, and agreed). */
    shadow(environment: string, model: string, revision: number): Promise<ShadowStats | null>;
  };
  /** The rollout plan of an environment. */
  readonly plan: (environment: string) => RolloutPlan | null;
  readonly clock: Clock;
  /** How often a rollout's analysis looks at the canary's figures. */
  readonly intervalMs: number;
  /** Told of each automatic rollback. */
  readonly alerts?: AlertSink;
  readonly logger: Logger;
}

/**
 * Canary rollouts after their first step: the analysis loop (a look every interval, judged by
 * `judgeStep`), and the ways a rollout ends early (automatic rollback, abort, superseded).
 */
export class RolloutController {
  private readonly scheduler: RolloutScheduler;
  private cancelScan: Cancel | null = null;

  constructor(private readonly options: RolloutControllerOptions) {
    // Only the lead analyses (`lead`): until then, and after `stop`, `watch` does nothing.
    this.scheduler = new RolloutScheduler(
      options.clock,
      options.intervalMs,
      (id) => this.analyse(id),
      options.logger,
      true,
    );
  }

  /**
   * Analyses every rollout in progress, wherever it was started, from now until `stop`: those
   * found now, and those another server starts or resumes, found by a look every interval.
   */
  async lead(): Promise<void> {
    this.scheduler.resume();
    await this.watchAll();
    const scan = () => {
      this.cancelScan = this.options.clock.schedule(this.options.intervalMs, async () => {
        await this.watchAll().catch((error: unknown) =>
          this.options.logger.warn({ err: error }, 'could not list rollouts in progress; retrying'),
        );
        if (this.cancelScan) scan();
      });
    };
    scan();
  }

  /** Watches each ROLLING_OUT promotion not watched yet. */
  private async watchAll(): Promise<void> {
    const rolling = await this.options.store.listPromotions({ status: ['ROLLING_OUT'], limit: 1000 });
    for (const promotion of rolling.items) {
      if (!this.scheduler.watching(promotion.id)) this.scheduler.watch(promotion.id);
    }
  }

  watch(promotion: Pick<Promotion, 'id'>): void {
    this.scheduler.watch(promotion.id);
  }

  unwatch(id: string): void {
    this.scheduler.unwatch(id);
  }

  /** Stops analysing: the lead was lost, or the server stops. */
  stop(): void {
    this.cancelScan?.();
    this.cancelScan = null;
    this.scheduler.stop();
  }

  /** One look at a rollout, acting on `judgeStep`'s verdict; false once it is no longer rolling out. */
  async analyse(id: string): Promise<boolean> {
    const { store, machine, writer, clock } = this.options;
    const promotion = await store.getPromotion(id);
    const plan = this.options.plan(promotion.environment);
    if (promotion.status !== 'ROLLING_OUT' || !promotion.rollout || !plan) return false;
    const { step, stepStartedAt } = promotion.rollout;
    const figures = await this.options.figures.since(
      promotion.environment,
      promotion.model,
      promotion.version,
      Date.parse(stepStartedAt),
    );
    const quality = await this.quality(promotion, plan, Date.parse(stepStartedAt));
    const verdict = judgeStep(
      figures,
      plan,
      { step, elapsedMs: clock.now() - Date.parse(stepStartedAt), version: promotion.version },
      quality,
    );
    switch (verdict.action) {
      case 'hold':
        return true;
      case 'roll-back':
        this.options.logger.warn(
          { promotion: id, reason: verdict.breach, figures, quality },
          'canary breached its limits; rolling back',
        );
        await this.restoreBaseline(
          promotion,
          'roll-back',
          'automatic-rollback',
          `automatic rollback: ${verdict.breach}`,
          SYSTEM_CONTEXT,
          { ...figures, ...quality },
        );
        await this.alertRollback(promotion, verdict.breach, figures);
        return false;
      case 'pause': {
        const paused = await machine.transition(promotion, 'pause', {
          rollout: { ...promotion.rollout, note: verdict.note },
        });
        await machine.record(SYSTEM_CONTEXT, 'rollout.pause', paused, { reason: verdict.note, figures });
        return false;
      }
      case 'promote': {
        const current = await store.currentRevision(promotion.model, promotion.environment);
        if (!current) return false;
        // Checked before the revision is written, so a move the table refuses changes nothing.
        machine.check(promotion, verdict.final ? 'complete' : 'advance');
        await writer.append({
          routing: {
            model: promotion.model,
            environment: promotion.environment,
            traffic: verdict.final
              ? [{ version: promotion.version, percent: 100 }]
              : withCanary(current.traffic, promotion.version, verdict.share),
            tags: current.tags,
            shadow: current.shadow,
          },
          current,
          kind: 'rollout-step',
          reason: `canary step ${verdict.step + 1} of ${plan.steps.length}: ${verdict.share}% to version ${promotion.version} (previous step: ${figures.requests} requests, error rate ${pct(figures.errorRate)}, p99 ${figures.p99Ms?.toFixed(1) ?? '-'} ms)`,
          context: SYSTEM_CONTEXT,
          promotion,
        });
        const rollout = { step: verdict.step, stepStartedAt: isoNow(clock), note: null };
        if (verdict.final) {
          const done = await machine.transition(promotion, 'complete', { rollout });
          await machine.record(SYSTEM_CONTEXT, 'promotion.succeed', done, { figures });
          return false;
        }
        await machine.transition(promotion, 'advance', { rollout });
        return true;
      }
    }
  }

  /**
   * The step's model-quality figures, computed only for the checks the plan turns on: the canary's
   * predictions against the stable versions' (the baseline's) on the step's traffic, and the shadow's
   * agreement. Each needs `min_requests` on both sides to be a figure at all.
   */
  private async quality(promotion: Promotion, plan: RolloutPlan, sinceMs: number): Promise<QualityFigures> {
    const { environment, model, version } = promotion;
    let divergence: Pick<QualityFigures, 'predictionDivergence' | 'canaryPredictions' | 'stablePredictions'> =
      {
        predictionDivergence: null,
        canaryPredictions: 0,
        stablePredictions: 0,
      };
    if (plan.maxPredictionDivergence !== null) {
      const canary = await this.options.figures.predictions(environment, model, version, sinceMs);
      const stable: (number | string)[] = [];
      for (const share of promotion.baseline ?? []) {
        if (share.version === version || share.percent === 0) continue;
        stable.push(...(await this.options.figures.predictions(environment, model, share.version, sinceMs)));
      }
      const enough = Math.max(1, plan.minRequests);
      divergence = {
        predictionDivergence:
          canary.length >= enough && stable.length >= enough ? predictionDivergence(stable, canary) : null,
        canaryPredictions: canary.length,
        stablePredictions: stable.length,
      };
    }
    let agreement: Pick<QualityFigures, 'shadowAgreement' | 'shadowRequests'> = {
      shadowAgreement: null,
      shadowRequests: 0,
    };
    if (plan.minShadowAgreement !== null) {
      const current = await this.options.store.currentRevision(model, environment);
      const shadow = current ? await this.options.figures.shadow(environment, model, current.number) : null;
      if (shadow) {
        agreement = {
          shadowAgreement:
            shadow.requests >= Math.max(1, plan.minRequests) ? shadow.agreed / shadow.requests : null,
          shadowRequests: shadow.requests,
        };
      }
    }
    return { ...divergence, ...agreement };
  }

  /**
   * Ends a promotion that changed traffic, restoring its baseline split (tags and shadow as they are)
   * when the split in force differs from it.
   */
  async restoreBaseline(
    promotion: Promotion,
    event: 'abort' | 'roll-back',
    kind: RevisionKind,
    reason: string,
    context: RequestContext,
    figures?: WindowStats & Partial<QualityFigures>,
  ): Promise<Promotion> {
    const { store, machine, writer } = this.options;
    machine.check(promotion, event);
    this.unwatch(promotion.id);
    const current = await store.currentRevision(promotion.model, promotion.environment);
    if (current && promotion.baseline && !sameTraffic(current.traffic, promotion.baseline)) {
      await writer.append({
        routing: {
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
        promotion,
        ...(figures ? { details: { figures } } : {}),
      });
    }
    const ended = await machine.transition(promotion, event, { failure: reason });
    await machine.record(
      context,
      event === 'roll-back' ? 'rollout.rollback' : 'rollout.abort',
      ended,
      { reason, figures },
      'failed',
    );
    return ended;
  }

  /** Tells the alert sink of an automatic rollback, with the revision now in force. */
  private async alertRollback(promotion: Promotion, breach: string, figures: WindowStats): Promise<void> {
    const { alerts, store, clock, logger } = this.options;
    if (!alerts) return;
    // The rollback is done: failing to read the revision costs the alert that fact, not the alert.
    const inForce = await store
      .currentRevision(promotion.model, promotion.environment)
      .catch((error: unknown) => {
        logger.warn(
          { promotion: promotion.id, err: error },
          'could not read the revision in force for an alert',
        );
        return null;
      });
    alerts.notify({
      kind: 'automatic_rollback',
      time: isoNow(clock),
      model: promotion.model,
      environment: promotion.environment,
      promotion: promotion.id,
      version: promotion.version,
      breach,
      figures: {
        requests: figures.requests,
        failures: figures.failures,
        errorRate: figures.errorRate,
        p99Ms: figures.p99Ms,
      },
      revision: inForce ? { number: inForce.number, traffic: inForce.traffic } : null,
    });
  }

  /** Ends the rollouts of a deployment whose traffic someone has just set by hand. */
  async supersede(model: string, environment: string, why: string): Promise<void> {
    const { store, machine } = this.options;
    const active = await store.listPromotions({ model, environment, status: ['ROLLING_OUT', 'PAUSED'] });
    for (const promotion of active.items) {
      this.unwatch(promotion.id);
      await machine.transition(promotion, 'supersede', { failure: `superseded: ${why}` });
    }
  }
}

const pct = (rate: number) => `${(rate * 100).toFixed(1)}%`;

/**
 * How far two prediction distributions are apart: the Jensen-Shannon distance of their category
 * frequencies (labels), or of their histograms on shared bins (numbers), from 0 (the same) to 1.
 */
export function predictionDivergence(
  stable: readonly (number | string)[],
  canary: readonly (number | string)[],
): number {
  const numeric = stable.every((v) => typeof v === 'number') && canary.every((v) => typeof v === 'number');
  return featureDrift(numeric ? 'numerical' : 'categorical', stable, canary, {
    method: 'jensenshannon',
  }).statistic;
}

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
