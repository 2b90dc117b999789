import pino from 'pino';
import { expect, it } from 'vitest';
import { RolloutController } from '../../src/deployments/rollout-controller.js';
import { systemClock } from '../../src/domain/clock.js';
import type { RolloutPlan } from '../../src/domain/environment.js';

const PLAN: RolloutPlan = {
  steps: [10, 50, 100],
  bakeSeconds: 60,
  maxErrorRate: 0.05,
  maxP99Ms: 200,
  minRequests: 20,
  maxPredictionDivergence: null,
  minShadowAgreement: null,
};

it('never analyses one rollout twice at once on the lead', async () => {
  const promotion = {
    id: 'p1',
    model: 'm',
    environment: 'prod',
    version: 2,
    status: 'ROLLING_OUT',
    rollout: { step: 0, stepStartedAt: new Date().toISOString(), note: null },
    baseline: [],
  };
  let inFlight = 0;
  let maxInFlight = 0;
  const controller = new RolloutController({
    store: {
      getPromotion: async () => promotion,
      currentRevision: async () => null,
      listPromotions: async () => ({ items: [promotion], next: null }),
    } as never,
    machine: {} as never,
    writer: {} as never,
    figures: {
      // A look that takes longer than the interval: a slow registry, or a long step's windows to read.
      since: async () => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 160));
        inFlight -= 1;
        return { requests: 0, failures: 0, errorRate: 0, p99Ms: null };
      },
      predictions: async () => [],
      shadow: async () => null,
    },
    plan: () => PLAN,
    clock: systemClock,
    intervalMs: 50,
    logger: pino({ level: 'silent' }),
  });
  await controller.lead();
  await new Promise((r) => setTimeout(r, 1500));
  controller.stop();
  console.log(`most looks at one promotion at once: ${maxInFlight}`);
  expect(maxInFlight).toBe(1);
});

it('takes each canary step once', async () => {
  let promotion = {
    id: 'p1',
    model: 'm',
    environment: 'prod',
    version: 2,
    status: 'ROLLING_OUT',
    rollout: { step: 0, stepStartedAt: new Date(0).toISOString(), note: null },
    baseline: [{ version: 1, percent: 100 }],
  };
  const revisions: string[] = [];
  let current = {
    number: 1,
    traffic: [
      { version: 1, percent: 90 },
      { version: 2, percent: 10 },
    ],
    tags: {},
    shadow: null,
  };
  const controller = new RolloutController({
    store: {
      getPromotion: async () => promotion,
      currentRevision: async () => current,
      listPromotions: async () => ({
        items: promotion.status === 'ROLLING_OUT' ? [promotion] : [],
        next: null,
      }),
    } as never,
    machine: {
      check: () => {},
      record: async () => {},
      // As the SQL store does: guarded on the status only.
      transition: async (p: typeof promotion, event: string, change: object) => {
        if (promotion.status !== p.status) throw new Error('changed meanwhile');
        promotion = { ...promotion, ...change, status: event === 'complete' ? 'SUCCEEDED' : 'ROLLING_OUT' };
        return promotion;
      },
    } as never,
    writer: {
      append: async ({
        routing,
        current: expected,
      }: {
        routing: { traffic: unknown };
        current: { number: number };
      }) => {
        if (expected.number !== current.number) throw new Error('expectedCurrent');
        current = { ...current, number: current.number + 1, traffic: routing.traffic as never };
        revisions.push(JSON.stringify(routing.traffic));
      },
    } as never,
    figures: {
      since: async () => {
        await new Promise((r) => setTimeout(r, 160));
        return { requests: 100, failures: 0, errorRate: 0, p99Ms: 5 };
      },
      predictions: async () => [],
      shadow: async () => null,
    },
    plan: () => ({ ...PLAN, bakeSeconds: 0 }),
    clock: systemClock,
    intervalMs: 50,
    logger: pino({ level: 'silent' }),
  });
  await controller.lead();
  await new Promise((r) => setTimeout(r, 2000));
  controller.stop();
  console.log(`rollout-step revisions written:\n  ${revisions.join('\n  ')}`);
  expect(revisions).toHaveLength(2);
});
