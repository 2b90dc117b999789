import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.js';
import { FIXTURES, localServer, startServer, type TestServer } from '../helpers/server.js';

/**
 * `slipway serve --env prod` beside the all-in-one server, sharing one registry: the production
 * server serves only prod, and follows revisions the other server writes (each has its own registry connection).
 */
describe('a server for one environment', () => {
  let control: TestServer;
  let prod: App | undefined;
  afterAll(async () => {
    await prod?.close();
    await control?.stop();
  });

  it('serves only its environment and switches when another server appends a revision', async () => {
    const yaml = 'environments:\n  - name: dev\n  - name: prod\n    approval: null\n    confirm: false\n';
    control = await startServer({}, { allInOne: true, configYaml: yaml });
    for (const file of ['echo.onnx', 'plus-one.onnx']) {
      expect((await control.push('m', join(FIXTURES, file), { sample: [{ x: 1 }] })).status).toBe(201);
    }
    const promote = (version: number) =>
      control.request('POST', '/api/v1/environments/prod/promotions', { model: 'm', version });
    expect(
      (
        await control.request('PUT', '/api/v1/environments/dev/deployments/m/traffic', {
          traffic: [{ version: 1, percent: 100 }],
        })
      ).status,
    ).toBe(200);
    expect((await promote(1)).status).toBe(201);

    prod = await createApp({
      overrides: {
        ...localServer(control.dataDir),
        SLIPWAY_INFERENCE_WORKERS: 1,
        SLIPWAY_ENV: 'prod',
        SLIPWAY_FOLLOW_INTERVAL_MS: 50,
      },
    });
    const url = await prod.listen();
    const predict = async (path = '/v1/models/m:predict') => {
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [[1]] }),
      });
      return {
        status: response.status,
        version: response.headers.get('x-slipway-model-version'),
        // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the server answered.
        body: (await response.json()) as any,
      };
    };
    expect(await predict()).toMatchObject({ status: 200, version: '1', body: { predictions: [{ y: 1 }] } });
    expect((await predict('/envs/dev/v1/models/m:predict')).body.code).toBe('ENVIRONMENT_NOT_FOUND');

    await control.request('PUT', '/api/v1/environments/dev/deployments/m/traffic', {
      traffic: [{ version: 2, percent: 100 }],
    });
    expect((await promote(2)).status).toBe(201);
    let seen: string | null = null;
    for (let i = 0; i < 100 && seen !== '2'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen = (await predict()).version;
    }
    expect(seen).toBe('2');
    expect((await predict()).body.predictions).toEqual([{ y: 2 }]);
  });
});
