import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../helpers/manual-clock.js';
import { FIXTURES, startServer, type TestServer } from '../helpers/server.js';

/**
 * Canary analysis judges the canary's answers, not only its errors and latency: a canary whose
 * predictions diverge from the stable version's on the same step's traffic, or a revision whose
 * shadow stops agreeing with the served answers, is rolled back with the figures in the audit trail;
 * a canary that answers like the stable version goes all the way.
 */
const config = (quality: string) => `
environments:
  - name: dev
  - name: prod
    gates: { schema: false, validation: null, latency: null }
    approval: null
    confirm: false
    rollout: { steps: [50, 100], bake_seconds: 0.2, min_requests: 10, max_error_rate: 0.5, ${quality} }
`;

/** echo.onnx with a doc_string appended (ModelProto field 6): the same answers under another sha256. */
const echoTwin = (folder: string) => {
  const file = join(folder, 'echo-twin.onnx');
  const echo = readFileSync(join(FIXTURES, 'echo.onnx'));
  writeFileSync(file, Buffer.concat([echo, Buffer.from([0x32, 0x04]), Buffer.from('twin')]));
  return file;
};

describe('model-quality canary analysis', () => {
  let server: TestServer;
  let clock: ManualClock;
  afterEach(() => server?.stop());

  const ok = async (method: string, path: string, body?: unknown) => {
    const response = await server.request(method, path, body);
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${response.text}`);
    return response.body;
  };
  /**
   * Version 1 (echo) serving in prod, then the `later` files pushed as versions 2, 3, …: the last one
   * is the canary (a push deploys to dev, and only the version dev serves may be promoted).
   */
  const setUp = async (quality: string, later: ((folder: string) => string)[]) => {
    clock = new ManualClock();
    server = await startServer(
      { SLIPWAY_ANALYSIS_INTERVAL_MS: 50 },
      { allInOne: true, configYaml: config(quality), clock },
    );
    expect((await server.push('m', join(FIXTURES, 'echo.onnx'), { sample: [{ x: 1 }] })).status).toBe(201);
    await ok('POST', '/api/v1/environments/prod/promotions', { model: 'm', version: 1 });
    for (const file of later) {
      expect((await server.push('m', file(server.dataDir), { sample: [{ x: 1 }] })).status).toBe(201);
    }
  };
  const plusOne = () => join(FIXTURES, 'plus-one.onnx');
  /** Requests with x alternating 0 and 1: echo answers 0 and 1, plus-one 1 and 2. */
  const serve = async (requests: number) => {
    for (let i = 0; i < requests; i++) {
      await ok('POST', '/envs/prod/v1/models/m:predict', { instances: [[i % 2]] });
    }
  };
  const finish = async (id: string) => {
    for (let look = 0; look < 20; look++) {
      const promotion = await ok('GET', `/api/v1/promotions/${id}`);
      if (promotion.status !== 'ROLLING_OUT') return promotion;
      // Enough that the two sides see the same mix of inputs: a step of ~100 each keeps chance apart
      // from a real difference (the distance of two samples of one 50/50 mix stays far below 0.2).
      await serve(200);
      await clock.advance(250);
    }
    throw new Error('the rollout did not end');
  };
  const revisions = async () =>
    (await ok('GET', '/api/v1/environments/prod/deployments/m/revisions')).revisions;

  it('rolls back a canary whose predictions diverge from the stable version', async () => {
    await setUp('max_prediction_divergence: 0.2', [plusOne]);
    const started = await ok('POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version: 2,
      canary: true,
    });
    expect(started.status).toBe('ROLLING_OUT');
    const ended = await finish(started.id);
    expect(ended.status).toBe('ROLLED_BACK');
    const [rollback] = await revisions();
    expect(rollback.kind).toBe('automatic-rollback');
    expect(rollback.reason).toMatch(
      /prediction divergence 0\.\d{3} \(Jensen-Shannon distance of \d+ canary and \d+ stable predictions\) exceeded the 0\.2 limit at step 1 \(50%\)/,
    );
    expect(rollback.traffic).toEqual([{ version: 1, percent: 100 }]);
    const audit = await ok('GET', '/api/v1/audit?action=revision.automatic-rollback');
    const { figures } = audit.events[0].details;
    expect(figures.predictionDivergence).toBeGreaterThan(0.2);
    expect(figures.canaryPredictions).toBeGreaterThanOrEqual(10);
    expect(figures.stablePredictions).toBeGreaterThanOrEqual(10);
  });

  it('promotes a canary whose predictions match the stable version', async () => {
    await setUp('max_prediction_divergence: 0.2', [echoTwin]);
    const started = await ok('POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version: 2,
      canary: true,
    });
    const ended = await finish(started.id);
    expect(ended.status).toBe('SUCCEEDED');
    const [current] = await revisions();
    expect(current.traffic).toEqual([{ version: 2, percent: 100 }]);
  });

  it('rolls back when the shadow stops agreeing with the served answers', async () => {
    // Version 2 (plus-one) shadows every request; the canary, version 3 (an echo twin), answers like 1.
    await setUp('min_shadow_agreement: 0.9', [plusOne, echoTwin]);
    await ok('PUT', '/api/v1/environments/prod/deployments/m/traffic', {
      traffic: [{ version: 1, percent: 100 }],
      shadow: { version: 2, percent: 100 },
    });
    const started = await ok('POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version: 3,
      canary: true,
    });
    const ended = await finish(started.id);
    expect(ended.status).toBe('ROLLED_BACK');
    const [rollback] = await revisions();
    expect(rollback.reason).toMatch(
      /shadow agreement 0\.0% \(of \d+ mirrored requests\) fell below the 90\.0% floor/,
    );
    expect(rollback.shadow).toMatchObject({ version: 2 });
  });
});
