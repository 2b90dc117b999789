import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { judgeStep, RolloutScheduler, type StepVerdict } from '../../src/deployments/rollout-controller.js';
import type { RolloutPlan } from '../../src/domain/environment.js';
import type { WindowStats } from '../../src/domain/traffic.js';
import { ManualClock } from '../helpers/manual-clock.js';

const PLAN: RolloutPlan = {
  steps: [10, 50, 100],
  bakeSeconds: 60,
  maxErrorRate: 0.05,
  maxP99Ms: 200,
  minRequests: 20,
  maxPredictionDivergence: null,
  minShadowAgreement: null,
};
const figures = (
  requests: number,
  failures: number,
  p99Ms: number | null = requests ? 10 : null,
): WindowStats => ({
  requests,
  failures,
  errorRate: requests ? failures / requests : 0,
  p99Ms,
});
const BAKED = 60_000;

describe('judging a canary step', () => {
  const cases: [
    string,
    WindowStats,
    RolloutPlan,
    number,
    number,
    StepVerdict['action'],
    Partial<StepVerdict>?,
  ][] = [
    ['no traffic yet, not baked', figures(0, 0), PLAN, 0, 1_000, 'hold'],
    ['healthy, not baked', figures(100, 1), PLAN, 0, 59_999, 'hold'],
    ['one early failure is not a verdict', figures(1, 1), PLAN, 0, 1_000, 'hold'],
    ['failures below min_requests, not baked', figures(19, 19), PLAN, 0, 1_000, 'hold'],
    ['error rate over the limit once min_requests arrived', figures(20, 2), PLAN, 0, 1_000, 'roll-back'],
    ['error rate exactly at the limit', figures(100, 5), PLAN, 0, BAKED, 'promote', { step: 1, share: 50 }],
    ['p99 over the limit', figures(20, 0, 201), PLAN, 1, 1_000, 'roll-back'],
    ['p99 over the limit below min_requests', figures(19, 0, 900), PLAN, 1, 1_000, 'hold'],
    ['a breach wins over baking', figures(50, 50), PLAN, 1, BAKED * 10, 'roll-back'],
    ['baked on too few requests', figures(19, 0), PLAN, 0, BAKED, 'pause'],
    ['baked on no requests', figures(0, 0), PLAN, 1, BAKED, 'pause'],
    [
      'baked cleanly at the first step',
      figures(20, 0),
      PLAN,
      0,
      BAKED,
      'promote',
      { step: 1, share: 50, final: false },
    ],
    [
      'baked cleanly at the last step before 100',
      figures(20, 0),
      PLAN,
      1,
      BAKED,
      'promote',
      { step: 2, share: 100, final: true },
    ],
    [
      'min_requests 0: errors count from the first request',
      figures(1, 1),
      { ...PLAN, minRequests: 0 },
      0,
      1_000,
      'roll-back',
    ],
    [
      'min_requests 0, baked on nothing',
      figures(0, 0),
      { ...PLAN, minRequests: 0 },
      0,
      BAKED,
      'promote',
      { step: 1 },
    ],
  ];
  it.each(cases)('%s', (_name, stats, plan, step, elapsedMs, action, extra) => {
    const verdict = judgeStep(stats, plan, { step, elapsedMs, version: 7 });
    expect(verdict.action).toBe(action);
    if (extra) expect(verdict).toMatchObject(extra);
  });

  it('names the step, the share and the figures in its reasons', () => {
    expect(judgeStep(figures(40, 4), PLAN, { step: 1, elapsedMs: 0, version: 7 })).toEqual({
      action: 'roll-back',
      breach: 'error rate 10.0% (4 of 40 requests) exceeded the 5.0% limit at step 2 (50%)',
    });
    const paused = judgeStep(figures(3, 0), PLAN, { step: 0, elapsedMs: BAKED, version: 7 });
    expect(paused).toMatchObject({ action: 'pause' });
    expect((paused as { note: string }).note).toMatch(
      /^inconclusive: 3 requests reached version 7 at step 1 \(10%\)/,
    );
  });
});

describe('judging a canary step on model quality', () => {
  const QUALITY_PLAN: RolloutPlan = { ...PLAN, maxPredictionDivergence: 0.1, minShadowAgreement: 0.9 };
  const quality = (predictionDivergence: number | null, shadowAgreement: number | null = null) => ({
    predictionDivergence,
    canaryPredictions: 40,
    stablePredictions: 400,
    shadowAgreement,
    shadowRequests: 50,
  });
  const state = { step: 1, elapsedMs: 1_000, version: 7 };

  it('rolls back when the canary’s predictions diverge beyond the limit, naming the figures', () => {
    expect(judgeStep(figures(40, 0), QUALITY_PLAN, state, quality(0.31))).toEqual({
      action: 'roll-back',
      breach:
        'prediction divergence 0.310 (Jensen-Shannon distance of 40 canary and 400 stable predictions) exceeded the 0.1 limit at step 2 (50%)',
    });
  });

  it('rolls back when the shadow agrees on fewer requests than the floor', () => {
    const verdict = judgeStep(figures(40, 0), QUALITY_PLAN, state, quality(0.01, 0.5));
    expect(verdict).toMatchObject({ action: 'roll-back' });
    expect((verdict as { breach: string }).breach).toMatch(
      /^shadow agreement 50\.0% \(of 50 mirrored requests\)/,
    );
  });

  it('holds or promotes when quality is within limits, unknown, or not watched', () => {
    expect(judgeStep(figures(40, 0), QUALITY_PLAN, state, quality(0.1, 0.9)).action).toBe('hold');
    expect(judgeStep(figures(40, 0), QUALITY_PLAN, state, quality(null, null)).action).toBe('hold');
    expect(judgeStep(figures(40, 0), PLAN, state, quality(0.9, 0)).action).toBe('hold');
    expect(
      judgeStep(figures(40, 0), QUALITY_PLAN, { ...state, elapsedMs: BAKED }, quality(0.05, 1)).action,
    ).toBe('promote');
  });
});

describe('the rollout scheduler', () => {
  const logger = pino({ level: 'silent' });

  it('looks once per interval while the look says to go on, on the clock it is given', async () => {
    const clock = new ManualClock();
    const looks: number[] = [];
    const scheduler = new RolloutScheduler(
      clock,
      1_000,
      async () => {
        looks.push(clock.now());
        return looks.length < 3;
      },
      logger,
    );
    const start = clock.now();
    scheduler.watch('prm_1');
    await clock.advance(999);
    expect(looks).toEqual([]);
    await clock.advance(10_000);
    expect(looks.map((t) => t - start)).toEqual([1_000, 2_000, 3_000]);
    expect(scheduler.watching('prm_1')).toBe(false);
  });

  it('retries after a failed look, and stops on unwatch and stop', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const scheduler = new RolloutScheduler(
      clock,
      100,
      async () => {
        calls += 1;
        if (calls === 1) throw new Error('registry busy');
        return true;
      },
      logger,
    );
    scheduler.watch('a');
    await clock.advance(250);
    expect(calls).toBe(2);
    scheduler.unwatch('a');
    await clock.advance(1_000);
    expect(calls).toBe(2);
    scheduler.watch('a');
    scheduler.stop();
    scheduler.watch('b');
    await clock.advance(1_000);
    expect(calls).toBe(2);
    expect(clock.scheduled).toBe(0);
  });

  it('keeps one timer per promotion when watched again', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const scheduler = new RolloutScheduler(
      clock,
      100,
      async () => {
        calls += 1;
        return false;
      },
      logger,
    );
    scheduler.watch('a');
    scheduler.watch('a');
    scheduler.watch('a');
    expect(clock.scheduled).toBe(1);
    await clock.advance(500);
    expect(calls).toBe(1);
  });
});
