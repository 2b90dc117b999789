import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../helpers/manual-clock.js';
import { FIXTURES, startServer, type TestServer } from '../helpers/server.js';

/**
 * Canary mechanics beyond the promotion story: advancing, pausing, aborting, and shadow traffic.
 * Rollout time runs on a manual clock: a test moves it past a step's bake time, and each analysis
 * look that falls due runs (and finishes) before `advance` returns.
 */
const config = (bakeSeconds: number, minRequests: number) => `
environments:
  - name: dev
  - name: prod
    gates: { schema: false, validation: null, latency: null }
    approval: null
    confirm: false
    rollout: { steps: [20, 60, 100], bake_seconds: ${bakeSeconds}, min_requests: ${minRequests}, max_error_rate: 0.5 }
`;

describe('canary rollouts and shadows', () => {
  let server: TestServer;
  let clock: ManualClock;
  afterEach(() => server?.stop());

  const ok = async (method: string, path: string, body?: unknown) => {
    const response = await server.request(method, path, body);
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${response.text}`);
    return response.body;
  };
  /** Versions 1 (echo) and 2 (plus-one) of model `m`, version 1 serving in prod. */
  const setUp = async (yaml: string) => {
    clock = new ManualClock();
    server = await startServer(
      { SLIPWAY_ANALYSIS_INTERVAL_MS: 50 },
      { allInOne: true, configYaml: yaml, clock },
    );
    for (const file of ['echo.onnx', 'plus-one.onnx']) {
      expect((await server.push('m', join(FIXTURES, file), { sample: [{ x: 1 }] })).status).toBe(201);
      if (file !== 'echo.onnx') continue;
      const first = await ok('POST', '/api/v1/environments/prod/promotions', { model: 'm', version: 1 });
      if (first.status === 'AWAITING_APPROVAL')
        await ok('POST', `/api/v1/promotions/${first.id}/approve`, {});
    }
  };
  const promotion = (id: string) => ok('GET', `/api/v1/promotions/${id}`);
  const serve = async (requests: number) => {
    for (let i = 0; i < requests; i++)
      await ok('POST', '/envs/prod/v1/models/m:predict', { instances: [[1]] });
  };

  it('advances through every step after each bakes, then serves the candidate alone', async () => {
    await setUp(config(0.2, 0));
    const started = await ok('POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version: 2,
      canary: true,
    });
    expect(started.status).toBe('ROLLING_OUT');
    // Gate verdicts and the step's start are stamped by the server's clock, not the wall clock.
    const now = new Date(clock.now()).toISOString();
    expect([...started.gates.map((g: { at: string }) => g.at), started.rollout.step_started_at]).toEqual([
      now,
      now,
    ]);
    // Each step moves on at the first look after its 200 ms bake, and not one look before.
    const seen = [];
    for (let i = 0; i < 2; i++) {
      await serve(5);
      await clock.advance(199);
      const baking = await promotion(started.id);
      await clock.advance(1);
      const baked = await promotion(started.id);
      seen.push([baking.status, baking.rollout.step], [baked.status, baked.rollout.step]);
    }
    expect(seen).toEqual([
      ['ROLLING_OUT', 0],
      ['ROLLING_OUT', 1],
      ['ROLLING_OUT', 1],
      ['SUCCEEDED', 2],
    ]);
    const history = await ok('GET', '/api/v1/environments/prod/deployments/m/revisions');
    expect(history.revisions.map((r: { kind: string; traffic: unknown }) => [r.kind, r.traffic])).toEqual([
      ['rollout-step', [{ version: 2, percent: 100 }]],
      [
        'rollout-step',
        [
          { version: 2, percent: 60 },
          { version: 1, percent: 40 },
        ],
      ],
      [
        'promotion',
        [
          { version: 2, percent: 20 },
          { version: 1, percent: 80 },
        ],
      ],
      ['promotion', [{ version: 1, percent: 100 }]],
    ]);
  });

  it('pauses when a step saw too few requests, resumes, and aborts back to the baseline', async () => {
    await setUp(config(0.2, 1000));
    const started = await ok('POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version: 2,
      canary: true,
    });
    await serve(5);
    await clock.advance(200);
    const paused = await promotion(started.id);
    expect(paused.status).toBe('PAUSED');
    expect(paused.rollout.note).toMatch(
      /^inconclusive: \d+ requests reached version 2 at step 1 \(20%\), fewer than the 1000/,
    );
    const resumed = await ok('POST', `/api/v1/promotions/${started.id}/resume`, {});
    expect(resumed.status).toBe('ROLLING_OUT');
    // A POST whose fields are all optional may come with no body at all (from a client that names
    // itself: a bare POST is what any web page can send).
    const pausedAgain = await server.request('POST', `/api/v1/promotions/${started.id}/pause`, undefined, {
      'x-slipway-client': 'slipway-tests',
    });
    expect(pausedAgain.status, pausedAgain.text).toBe(200);
    expect((pausedAgain.body as { status: string }).status).toBe('PAUSED');
    const aborted = await ok('POST', `/api/v1/promotions/${started.id}/abort`, { reason: 'not today' });
    expect(aborted).toMatchObject({ status: 'ABORTED', failure: 'aborted by local: not today' });
    const current = await ok('GET', '/api/v1/environments/prod/deployments/m');
    expect(current.revision).toMatchObject({ kind: 'rollback', traffic: [{ version: 1, percent: 100 }] });
    const again = await server.request('POST', `/api/v1/promotions/${started.id}/resume`, {});
    expect(again.status).toBe(409);
    expect(again.body.details).toMatchObject({ status: 'ABORTED', final: true });
  });

  it('aborts a promotion waiting for approval without touching traffic, and a rolling one back to its baseline', async () => {
    await setUp(config(60, 0).replace('approval: null', 'approval: { role: approver, allow_self: true }'));
    const before = await ok('GET', '/api/v1/environments/prod/deployments/m');
    const waiting = await ok('POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version: 2,
      canary: true,
    });
    expect(waiting.status).toBe('AWAITING_APPROVAL');
    const aborted = await ok('POST', `/api/v1/promotions/${waiting.id}/abort`, {});
    expect(aborted.status).toBe('ABORTED');
    expect((await ok('GET', '/api/v1/environments/prod/deployments/m')).revision).toEqual(before.revision);
    const late = await server.request('POST', `/api/v1/promotions/${waiting.id}/approve`, {});
    expect(late.status).toBe(409);

    const again = await ok('POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version: 2,
      canary: true,
    });
    const rolling = await ok('POST', `/api/v1/promotions/${again.id}/approve`, {});
    expect(rolling.status).toBe('ROLLING_OUT');
    expect((await ok('POST', `/api/v1/promotions/${rolling.id}/abort`, {})).status).toBe('ABORTED');
    expect((await ok('GET', '/api/v1/environments/prod/deployments/m')).revision).toMatchObject({
      kind: 'rollback',
      traffic: [{ version: 1, percent: 100 }],
    });
  });

  it('mirrors requests to a shadow, compares its answers, and never returns them', async () => {
    await setUp(config(60, 0));
    await ok('PUT', '/api/v1/environments/prod/deployments/m/traffic', {
      traffic: [{ version: 1, percent: 100 }],
      shadow: { version: 2, percent: 100 },
    });
    for (let i = 0; i < 20; i++) {
      const response = await server.request('POST', '/envs/prod/v1/models/m:predict', { instances: [[i]] });
      expect(response.headers.get('x-slipway-model-version')).toBe('1');
      expect(response.body.predictions).toEqual([{ y: i }]);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const deployment = await ok('GET', '/api/v1/environments/prod/deployments/m');
    expect(deployment.shadow).toMatchObject({
      version: 2,
      requests: 20,
      failures: 0,
      agreed: 0,
      max_abs_diff: 1,
    });
  });
});
