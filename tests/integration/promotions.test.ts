import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, startServer, type TestResponse, type TestServer, uploadForm } from '../helpers/server.js';

/**
 * The promotion story end to end, with authentication on: a version moves dev -> staging -> prod
 * through gates, a bad version is stopped at validation, production needs an approver and a typed
 * confirmation, and a canary that fails on marked inputs is rolled back automatically.
 *
 * The three versions share one signature (x FP32 [N,1] -> y): echo (y = x), plus-one (y = x + 1,
 * RMSE 1 against labels y = x) and fails-on-marked (y = x for 0 and 1; the input 99 makes
 * onnxruntime fail the call).
 */
const CONFIG = `
environments:
  - name: dev
  - name: staging
    gates:
      validation:
        dataset: validation
        required: true
        thresholds:
          - { metric: rmse, max: 0.5 }
          - { metric: mae, max_regression: 0.1 }
      latency: { p99_ms: 250, requests: 20 }
  - name: prod
    rollout: { steps: [10, 50, 100], bake_seconds: 60, max_error_rate: 0.05, min_requests: 5 }
`;
const SAMPLE = { sample: [{ x: 0 }, { x: 1 }] };
const MARKED = 99;

describe('promotions: dev -> staging -> prod with gates, approval and an automatic canary rollback', () => {
  let server: TestServer;
  const token: Record<string, string> = {};
  const as = (who: string) => ({ authorization: `Bearer ${token[who]}` });
  const call = (who: string, method: string, path: string, body?: unknown): Promise<TestResponse> =>
    server.request(method, path, body, as(who));

  beforeAll(async () => {
    server = await startServer(
      { SLIPWAY_AUTH: 'on', SLIPWAY_ANALYSIS_INTERVAL_MS: 100 },
      { allInOne: true, configYaml: CONFIG },
    );
    // The first admin token is made in-process, as `slipway tokens create --local` does.
    const { secret } = await server.app.tokens.create('root', 'admin', {
      actor: { name: 'local', role: 'admin' },
      requestId: null,
    });
    token.root = secret;
    for (const [name, role] of [
      ['dana', 'developer'],
      ['dee', 'deployer'],
      ['ava', 'approver'],
      ['vic', 'viewer'],
    ]) {
      const created = await call('root', 'POST', '/api/v1/tokens', { name, role });
      expect(created.status).toBe(201);
      token[name as string] = created.body.token;
    }
  });
  afterAll(() => server?.stop());

  const push = async (file: string) => {
    const response = await call(
      'dana',
      'POST',
      '/api/v1/models/scorer/versions',
      uploadForm(join(FIXTURES, file), SAMPLE),
    );
    expect(response.status, response.text).toBe(201);
    return response.body.version as number;
  };
  const current = async (env: string) =>
    (await call('vic', 'GET', `/api/v1/environments/${env}/deployments/scorer`)).body.revision;
  const promote = (who: string, env: string, version: number, extra: Record<string, unknown> = {}) =>
    call(who, 'POST', `/api/v1/environments/${env}/promotions`, { model: 'scorer', version, ...extra });

  it('refuses requests without a valid token, and roles below what a route needs', async () => {
    const anonymous = await server.request('GET', '/api/v1/models');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('UNAUTHENTICATED');
    const forged = await server.request('GET', '/api/v1/models', undefined, {
      authorization: 'Bearer slw_nope',
    });
    expect(forged.status).toBe(401);
    const viewer = await call('vic', 'POST', '/api/v1/models', { name: 'scorer' });
    expect(viewer.status).toBe(403);
    expect(viewer.body).toMatchObject({
      code: 'PERMISSION_DENIED',
      details: { required: 'developer', role: 'viewer' },
    });
    expect((await call('dana', 'POST', '/api/v1/tokens', { name: 'x', role: 'admin' })).status).toBe(403);
    expect((await server.request('GET', '/health')).status).toBe(200);
  });

  it('version 1 auto-deploys to dev when pushed', async () => {
    expect((await call('dana', 'POST', '/api/v1/models', { name: 'scorer' })).status).toBe(201);
    expect(await push('echo.onnx')).toBe(1);
    expect(await current('dev')).toMatchObject({
      number: 1,
      kind: 'deploy',
      traffic: [{ version: 1, percent: 100 }],
      actor: 'dana',
    });
    const predicted = await call('vic', 'POST', '/envs/dev/v1/models/scorer:predict', { instances: [[1]] });
    expect(predicted.body.predictions).toEqual([{ y: 1 }]);
    expect(predicted.headers.get('x-slipway-model-version')).toBe('1');
    // Nothing reached staging or prod.
    const staging = await call('vic', 'POST', '/envs/staging/v1/models/scorer:predict', { instances: [[1]] });
    expect(staging.status).toBe(404);
    expect(staging.body.code).toBe('NOT_DEPLOYED');
  });

  it('version 1 is promoted to staging by a deployer, every gate passing', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => ({ x: i % 2, y: i % 2 }));
    const dataset = await call('dana', 'PUT', '/api/v1/models/scorer/datasets/validation', {
      label: 'y',
      rows,
    });
    expect(dataset.status).toBe(201);

    const byDeveloper = await promote('dana', 'staging', 1);
    expect(byDeveloper.status).toBe(403);
    const promoted = await promote('dee', 'staging', 1);
    expect(promoted.status, promoted.text).toBe(201);
    expect(promoted.body.status).toBe('SUCCEEDED');
    expect(promoted.body.gates.map((g: { gate: string; status: string }) => `${g.gate}:${g.status}`)).toEqual(
      ['smoke:passed', 'schema:skipped', 'validation:passed', 'latency:passed'],
    );
    expect(promoted.body.gates[2].measurements).toMatchObject({
      task: 'regression',
      rows: 40,
      rmse: 0,
      mae: 0,
    });
    expect(await current('staging')).toMatchObject({ number: 1, traffic: [{ version: 1, percent: 100 }] });
  });

  it('version 1 reaches prod only with the typed confirmation and an approver', async () => {
    const unconfirmed = await promote('dee', 'prod', 1);
    expect(unconfirmed.status).toBe(400);
    expect(unconfirmed.body.code).toBe('CONFIRMATION_REQUIRED');
    const waiting = await promote('dee', 'prod', 1, { confirm: 'prod' });
    expect(waiting.status).toBe(202);
    expect(waiting.body.status).toBe('AWAITING_APPROVAL');
    const prodBefore = await call('vic', 'GET', '/api/v1/environments/prod/deployments/scorer');
    expect(prodBefore.body.code).toBe('NOT_DEPLOYED');
    const selfApproved = await call('dee', 'POST', `/api/v1/promotions/${waiting.body.id}/approve`, {});
    expect(selfApproved.status).toBe(403);
    const approved = await call('ava', 'POST', `/api/v1/promotions/${waiting.body.id}/approve`, {
      reason: 'looks good',
    });
    expect(approved.status, approved.text).toBe(200);
    expect(approved.body).toMatchObject({
      status: 'SUCCEEDED',
      approval: { by: 'ava', reason: 'looks good' },
    });
    expect(await current('prod')).toMatchObject({ number: 1, traffic: [{ version: 1, percent: 100 }] });
  });

  it('version 2 fails the validation gate and staging does not change', async () => {
    expect(await push('plus-one.onnx')).toBe(2);
    expect((await current('dev')).traffic).toEqual([{ version: 2, percent: 100 }]);
    const refused = await promote('dee', 'staging', 2);
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('GATE_FAILED');
    expect(refused.body.details.gate).toBe('validation');
    const validation = refused.body.details.gates.find((g: { gate: string }) => g.gate === 'validation');
    expect(validation).toMatchObject({ status: 'failed', measurements: { rmse: 1, incumbent_rmse: 0 } });
    expect(await current('staging')).toMatchObject({ number: 1, traffic: [{ version: 1, percent: 100 }] });
    const stored = await call('vic', 'GET', `/api/v1/promotions/${refused.body.details.promotion}`);
    expect(stored.body).toMatchObject({ status: 'FAILED', version: 2 });
    // Promoting to prod straight from dev is not a path: prod takes versions serving in staging.
    const skipped = await promote('dee', 'prod', 2, { confirm: 'prod' });
    expect(skipped.status).toBe(409);
  });

  it('version 3 canaries in prod, breaches the error-rate limit on marked inputs, and is rolled back automatically', async () => {
    expect(await push('fails-on-marked.onnx')).toBe(3);
    expect((await promote('dee', 'staging', 3)).status).toBe(201);
    const waiting = await promote('dee', 'prod', 3, { confirm: 'prod', canary: true, reason: 'new scorer' });
    expect(waiting.status).toBe(202);
    const started = await call('ava', 'POST', `/api/v1/promotions/${waiting.body.id}/approve`, {});
    expect(started.body).toMatchObject({ status: 'ROLLING_OUT', rollout: { step: 0 } });
    const canary = await current('prod');
    expect(canary).toMatchObject({
      number: 2,
      traffic: [
        { version: 3, percent: 10 },
        { version: 1, percent: 90 },
      ],
    });

    // Marked requests until the analysis acts; only the canary's share fails.
    const seen = new Map<string, number>();
    let status = 'ROLLING_OUT';
    for (let round = 0; round < 100 && status === 'ROLLING_OUT'; round++) {
      const responses = await Promise.all(
        Array.from({ length: 20 }, () =>
          call('vic', 'POST', '/envs/prod/v1/models/scorer:predict', { instances: [[MARKED]] }),
        ),
      );
      for (const response of responses) {
        const key = `${response.headers.get('x-slipway-model-version')}:${response.status}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      status = (await call('vic', 'GET', `/api/v1/promotions/${waiting.body.id}`)).body.status;
    }
    expect(status).toBe('ROLLED_BACK');
    expect([...seen.keys()].every((key) => key === '1:200' || key === '3:500')).toBe(true);
    expect(seen.get('3:500')).toBeGreaterThan(0);

    const rolledBack = await current('prod');
    expect(rolledBack).toMatchObject({
      number: 3,
      kind: 'automatic-rollback',
      actor: 'slipway',
      traffic: [{ version: 1, percent: 100 }],
    });
    expect(rolledBack.reason).toMatch(/error rate .* exceeded the 5\.0% limit at step 1 \(10%\)/);
    const after = await call('vic', 'POST', '/envs/prod/v1/models/scorer:predict', { instances: [[MARKED]] });
    expect(after.status).toBe(200);
    expect(after.headers.get('x-slipway-revision')).toBe('3');

    const audit = await call('vic', 'GET', '/api/v1/audit?target=scorer-prod');
    const actions = audit.body.events.map((e: { action: string }) => e.action);
    expect(actions).toContain('revision.automatic-rollback');
    expect(actions).toContain('promotion.approve');
    expect(actions).toContain('gate.smoke');
    const automatic = audit.body.events.find(
      (e: { action: string }) => e.action === 'revision.automatic-rollback',
    );
    expect(automatic).toMatchObject({
      actor: 'slipway',
      result: 'failed',
      before: {
        traffic: [
          { version: 3, percent: 10 },
          { version: 1, percent: 90 },
        ],
      },
      after: { revision: 3, traffic: [{ version: 1, percent: 100 }] },
    });
    expect(automatic.details.reason).toMatch(/automatic rollback: error rate/);
    const approval = audit.body.events.find((e: { action: string }) => e.action === 'promotion.approve');
    expect(approval).toMatchObject({ actor: 'ava', result: 'ok' });
  });

  it('records pushes, denied attempts and token creation in the audit trail', async () => {
    const pushes = await call('vic', 'GET', '/api/v1/audit?action=version.push');
    expect(pushes.body.events.map((e: { target: string }) => e.target)).toEqual([
      'scorer/3',
      'scorer/2',
      'scorer/1',
    ]);
    const denied = await call('vic', 'GET', '/api/v1/audit?action=request.denied');
    expect(denied.body.events.length).toBeGreaterThan(0);
    expect(denied.body.events[0]).toMatchObject({ result: 'denied' });
    const tokens = await call('vic', 'GET', '/api/v1/audit?action=token.create');
    expect(tokens.body.events.map((e: { target: string }) => e.target)).toContain('token:ava');
  });

  it('rolls back by hand in one call, restoring the previous traffic', async () => {
    // Setting prod traffic by hand skips the gates, so it takes an approver, not just a deployer.
    const byDeployer = await call('dee', 'PUT', '/api/v1/environments/prod/deployments/scorer/traffic', {
      traffic: [{ version: 3, percent: 100 }],
    });
    expect(byDeployer.status).toBe(403);
    const split = await call('ava', 'PUT', '/api/v1/environments/prod/deployments/scorer/traffic', {
      traffic: [
        { version: 1, percent: 50 },
        { version: 3, percent: 50 },
      ],
      tags: { candidate: 3 },
      reason: 'A/B',
    });
    expect(split.status, split.text).toBe(200);
    const tagged = await call('vic', 'POST', '/envs/prod/v2/models/scorer/versions/candidate/infer', {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }],
    });
    expect(tagged.headers.get('x-slipway-model-version')).toBe('3');
    // A sticky key keeps one version across requests during the split.
    const versions = new Set<string | null>();
    for (let i = 0; i < 20; i++) {
      const response = await server.request(
        'POST',
        '/envs/prod/v1/models/scorer:predict',
        { instances: [[1]] },
        { ...as('vic'), 'x-slipway-route-key': 'user-42' },
      );
      versions.add(response.headers.get('x-slipway-model-version'));
    }
    expect(versions.size).toBe(1);
    const rollback = await call('dee', 'POST', '/api/v1/environments/prod/deployments/scorer/rollback', {
      reason: 'undo A/B',
    });
    expect(rollback.body).toMatchObject({
      kind: 'rollback',
      traffic: [{ version: 1, percent: 100 }],
      reason: 'undo A/B',
    });
    const history = await call('vic', 'GET', '/api/v1/environments/prod/deployments/scorer/revisions');
    expect(history.body.revisions.map((r: { kind: string }) => r.kind)).toEqual([
      'rollback',
      'traffic',
      'automatic-rollback',
      'promotion',
      'promotion',
    ]);
  });
});
